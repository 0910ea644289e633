"""Worker threads for blocking API requests, handed work through a C-level queue.

The event loop hands every request to a thread and gets the answer back as a future's result.
anyio's ``to_thread.run_sync`` does the same through a ``queue.Queue`` whose Python-level
locks and condition variables cost the event loop about 100 µs of CPU per call while it holds
the interpreter lock; with a ``queue.SimpleQueue`` (implemented in C) and
the loop's :class:`~cloudtty_core.runtime.inbox.LoopInbox` for the answer (answers that arrive
while the loop is busy share one wake-up), a call costs about a third of that. In a burst the
operator makes thousands of such calls, and the event loop's time is what every shell waits
for.

Threads are started on demand, up to ``size``, and end after ``idle_seconds`` without work,
so an operator stopped and started again (tests, the embedding API) leaves no threads behind.
Each call runs in a copy of the caller's context (the log context of the shell it is for).
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .answer import Answer
from .inbox import LoopInbox, inbox_of

__all__ = ["RequestThreads"]

T = TypeVar("T")


_Work = tuple[LoopInbox, Answer[Any], contextvars.Context, Callable[[], Any]]


class RequestThreads:
    """Up to ``size`` threads running blocking calls for an asyncio event loop.

    :param size: threads at most (calls beyond wait in the queue).
    :param idle_seconds: a thread without work for this long ends.
    :param name: prefix of the threads' names.
    """

    def __init__(
        self, size: int, *, idle_seconds: float = 10.0, name: str = "cloudtty-api"
    ) -> None:
        self.size = max(size, 1)
        self.idle_seconds = idle_seconds
        self.name = name
        self._queue: queue.SimpleQueue[_Work] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle: collections.deque[None] = collections.deque()

    @property
    def threads(self) -> int:
        """Threads alive now."""
        return self._threads

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` in a thread; its result or its exception.

        A caller cancelled meanwhile still waits for the call to finish (and is cancelled
        after): a request is never abandoned half-sent.
        """
        loop = asyncio.get_running_loop()
        answer: Answer[T] = Answer(loop)
        self._queue.put((inbox_of(loop), answer, contextvars.copy_context(), fn))
        if self._threads < self.size and self._queue.qsize() > len(self._idle):
            self._start_thread()
        return await answer.wait()

    def _start_thread(self) -> None:
        with self._lock:
            if self._threads >= self.size:
                return
            self._threads += 1
            self._idle.append(None)  # idle from the start: the next call does not start another
            threading.Thread(
                target=self._run, name=f"{self.name}-{self._threads}", daemon=True
            ).start()

    def _run(self) -> None:
        # Idle threads are counted in a deque, whose appends and pops need no lock: a lock
        # taken around every call, by the loop and by the threads, made them queue for it.
        idle = self._idle
        while True:
            try:
                inbox, answer, context, fn = self._queue.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        idle.pop()
                        self._threads -= 1
                        return
                continue
            idle.pop()
            try:
                result = context.run(fn)
            except BaseException as error:  # handed to the caller, whatever it is
                inbox.post(answer.give, None, error)
            else:
                inbox.post(answer.give, result)
            finally:
                idle.append(None)
            del inbox, answer, context, fn  # nothing of a finished call stays referenced
