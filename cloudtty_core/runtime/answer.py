"""The answer to a request, given on the event loop, for a caller that may be cancelled meanwhile.

A request that has been sent is never abandoned half-way: a caller cancelled while it waits
still waits for the answer (through further cancellations) and is cancelled after. Requests
in worker threads (:mod:`cloudtty_core.runtime.threads`) and requests on the event loop's own
connections (:mod:`cloudtty_core.runtime.loophttp`) are answered this way.
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar

__all__ = ["Answer"]

T = TypeVar("T")


class Answer(Generic[T]):
    """Where one request's answer goes, and whether it has been given.

    Make it, and call :meth:`give`, on the event loop of the caller, which awaits :meth:`wait`.
    """

    __slots__ = ("future", "given")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.future: asyncio.Future[T] = loop.create_future()
        self.given = False

    def give(self, result: Any = None, error: BaseException | None = None) -> None:
        """(Event loop) The answer: ``result``, or ``error`` when there is one."""
        self.given = True
        future = self.future
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    async def wait(self) -> T:
        """The answer's result, or its error; a caller cancelled meanwhile waits for the answer
        first, then is cancelled."""
        try:
            # Awaited directly, not through asyncio.shield: a shield's second future costs
            # every answer one more pass of the event loop, which in a burst is milliseconds.
            return await self.future
        except asyncio.CancelledError:
            if not self.given:
                # Cancelling the caller cancelled its future: the answer goes to a new one,
                # which the caller waits for before it gives up.
                waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
                self.future = waiter
                while not waiter.done():
                    try:
                        await asyncio.wait((waiter,))
                    except asyncio.CancelledError:
                        continue
                if not waiter.cancelled():
                    waiter.exception()  # retrieved: a failure nobody awaits is not an error
            raise
