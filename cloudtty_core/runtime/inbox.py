"""Calls handed from threads to an asyncio event loop, run there in batches.

Every ``loop.call_soon_threadsafe`` writes to the loop's wake-up pipe, and the loop reads it
back: two system calls and a pass of the selector for each answer of a request thread and for
each watch event. In a burst the event loop is busy when most of those answers arrive, so
one wake-up can serve all the calls posted meanwhile: a thread posts into a deque and wakes
the loop only when no wake-up is pending yet.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["LoopInbox", "inbox_of"]

log = logging.getLogger(__name__)


class LoopInbox:
    """Calls for one event loop, posted from any thread, run on the loop in posting order.

    :param loop: the event loop that runs the calls.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._calls: collections.deque[tuple[Callable[..., Any], tuple[Any, ...]]] = (
            collections.deque()
        )
        self._wake_pending = False

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop soon (from any thread); dropped if the loop closed."""
        self._calls.append((fn, args))
        if self._wake_pending:
            return
        self._wake_pending = True
        try:
            self._loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop closed: nobody is left to run the call
            self._calls.clear()

    def _drain(self) -> None:
        calls = self._calls
        while calls:
            fn, args = calls.popleft()
            try:
                fn(*args)
            except Exception:  # one failing call must not strand the ones behind it
                log.exception("call %r from a thread failed", fn)
        self._wake_pending = False
        # A call posted between the emptiness check and the line above saw a wake-up still
        # pending and did not ask for one: look once more.
        if calls:
            self._wake_pending = True
            self._loop.call_soon(self._drain)


_inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopInbox] = (
    weakref.WeakKeyDictionary()
)


def inbox_of(loop: asyncio.AbstractEventLoop) -> LoopInbox:
    """The inbox of ``loop`` (made on first use; call it on the loop's own thread)."""
    inbox = _inboxes.get(loop)
    if inbox is None:
        inbox = _inboxes[loop] = LoopInbox(loop)
    return inbox
