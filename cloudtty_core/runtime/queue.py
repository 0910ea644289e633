"""The work queue: which keys need reconciling, each handed to one worker at a time.

Semantics of client-go's rate-limited delaying queue, on anyio:

* **dedup** -- a key added many times before a worker takes it is processed once;
* **never two workers on one key** -- a key added while it is being processed waits until
  :meth:`WorkQueue.done`, then is queued again (so the change is not lost);
* **timers** -- :meth:`WorkQueue.add_after` queues a key after a delay (the earliest pending
  delay wins); one task sleeps until the next due timer, nothing polls;
* **backoff** -- :meth:`WorkQueue.retry` queues a failed key after ``base * 2**failures``
  (capped), :meth:`WorkQueue.forget` resets the count once it succeeds.

Bounded concurrency is the number of workers taking keys (see :func:`run_workers`).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import anyio

__all__ = ["Backoff", "QueueShutDown", "WorkQueue", "run_workers"]

K = TypeVar("K", bound=Hashable)


class QueueShutDown(Exception):
    """The queue was shut down: workers stop."""


class Backoff:
    """Per-key exponential backoff: ``base * 2**(failures-1)``, at most ``cap``, with jitter.

    :param base: the first delay (seconds).
    :param cap: the longest delay.
    :param jitter: each delay is multiplied by a random factor in ``[1 - jitter, 1]``.
    """

    def __init__(self, base: float = 0.005, cap: float = 60.0, jitter: float = 0.1) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"backoff needs 0 < base <= cap, got base={base}, cap={cap}")
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self._failures: dict[Hashable, int] = {}

    def next_delay(self, key: Hashable) -> float:
        """Count a failure of ``key``; the delay before its next attempt."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = min(self.base * 2.0 ** min(failures - 1, 60), self.cap)
        return float(delay * (1 - self.jitter * random.random()))

    def failures(self, key: Hashable) -> int:
        """Failures of ``key`` since it last succeeded."""
        return self._failures.get(key, 0)

    def forget(self, key: Hashable) -> None:
        """``key`` succeeded: its next failure starts from ``base`` again."""
        self._failures.pop(key, None)


class WorkQueue(Generic[K]):
    """Keys waiting to be reconciled. Add from anywhere on the event loop (``add`` does not
    block); take with ``await get()`` and always call ``done(key)`` afterwards.

    Create it inside the event loop.
    """

    def __init__(self, backoff: Backoff | None = None) -> None:
        self.backoff = backoff or Backoff()
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._timers: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._seq = itertools.count()
        # One event per waiting worker, woken one at a time: a key wakes one worker, not all.
        self._waiters: deque[anyio.Event] = deque()
        self._timer_changed = anyio.Event()
        self._shut_down = False
        self.added = 0
        self.processed = 0

    # Adding ------------------------------------------------------------------------------

    def add(self, key: K) -> None:
        """Queue ``key`` now (a no-op when it is queued already)."""
        if self._shut_down or key in self._dirty:
            return
        self._dirty.add(key)
        self.added += 1
        if key not in self._processing:
            self._queue.append(key)
            self._wake_one()

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds (an earlier pending timer wins)."""
        if self._shut_down:
            return
        if delay <= 0:
            self.add(key)
            return
        due = anyio.current_time() + delay
        current = self._due.get(key)
        if current is not None and current <= due:
            return
        self._due[key] = due
        heapq.heappush(self._timers, (due, next(self._seq), key))
        if self._timers[0][2] == key:
            self._timer_changed.set()

    def retry(self, key: K, at_least: float = 0.0) -> float:
        """Queue a failed ``key`` after its backoff (or ``at_least``); the delay chosen."""
        delay = max(self.backoff.next_delay(key), at_least)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """``key`` succeeded: reset its backoff."""
        self.backoff.forget(key)

    def cancel_timer(self, key: K) -> None:
        """Drop a pending timer of ``key`` (the key went away)."""
        self._due.pop(key, None)

    # Taking ------------------------------------------------------------------------------

    async def get(self) -> K:
        """The next key to process; it is marked as being processed until ``done``."""
        while True:
            if self._shut_down:
                raise QueueShutDown
            if self._queue:
                key = self._queue.popleft()
                self._dirty.discard(key)
                self._processing.add(key)
                return key
            waiter = anyio.Event()
            self._waiters.append(waiter)
            try:
                await waiter.wait()
            except BaseException:
                if waiter.is_set():
                    self._wake_one()  # woken for a key it will not take: pass it on
                else:
                    self._waiters.remove(waiter)
                raise

    def _wake_one(self) -> None:
        if self._waiters:
            self._waiters.popleft().set()

    def done(self, key: K) -> None:
        """A worker finished ``key``; queue it again when it was added meanwhile."""
        self._processing.discard(key)
        self.processed += 1
        if key in self._dirty and not self._shut_down:
            self._queue.append(key)
            self._wake_one()

    # State -------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Keys waiting to be taken (the queue depth)."""
        return len(self._queue)

    @property
    def processing(self) -> int:
        """Keys being processed now."""
        return len(self._processing)

    @property
    def waiting(self) -> int:
        """Keys with a pending timer."""
        return len(self._due)

    def is_busy(self, key: K) -> bool:
        """Whether ``key`` is queued or being processed."""
        return key in self._dirty or key in self._processing

    def shut_down(self) -> None:
        """Stop handing out keys; waiting ``get`` calls raise :class:`QueueShutDown`."""
        self._shut_down = True
        while self._waiters:
            self._waiters.popleft().set()
        self._timer_changed.set()

    # Timers ------------------------------------------------------------------------------

    async def run_timers(self) -> None:
        """Move due timers into the queue, until cancelled or shut down."""
        while not self._shut_down:
            now = anyio.current_time()
            while self._timers and self._timers[0][0] <= now:
                due, _, key = heapq.heappop(self._timers)
                if self._due.get(key) == due:
                    del self._due[key]
                    self.add(key)
            changed = self._timer_changed = anyio.Event()
            wait = self._timers[0][0] - now if self._timers else None
            if wait is None:
                await changed.wait()
            else:
                with anyio.move_on_after(wait):
                    await changed.wait()


async def run_workers(
    queue: WorkQueue[K],
    process: Callable[[K], Awaitable[None]],
    workers: int,
    *,
    name: str = "worker",
) -> None:
    """Run ``workers`` tasks taking keys from ``queue`` and calling ``process`` (which must
    handle its own errors); returns when the queue is shut down."""

    async def work() -> None:
        while True:
            try:
                key = await queue.get()
            except QueueShutDown:
                return
            try:
                await process(key)
            finally:
                queue.done(key)

    async with anyio.create_task_group() as group:
        for n in range(max(workers, 1)):
            group.start_soon(work, name=f"{name}-{n}")
