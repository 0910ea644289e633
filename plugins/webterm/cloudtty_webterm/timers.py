"""Activity tracking for the idle timeout, and the TTL deadline."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable


class ActivityClock:
    """Remembers when the terminal last saw input or output."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.last = clock()

    def touch(self) -> None:
        """Record activity now."""
        self.last = self._clock()

    def idle_for(self) -> float:
        """Seconds since the last activity."""
        return self._clock() - self.last


async def watch_idle(activity: ActivityClock, timeout: float, on_idle: Callable[[], None]) -> None:
    """Call ``on_idle`` once ``timeout`` seconds pass without activity, then return."""
    while True:
        remaining = timeout - activity.idle_for()
        if remaining <= 0:
            on_idle()
            return
        await asyncio.sleep(min(remaining, max(timeout / 4, 0.05)) + 0.01)


async def watch_deadline(expires_at: dt.datetime, on_expired: Callable[[], None]) -> None:
    """Call ``on_expired`` when the wall clock reaches ``expires_at``, then return."""
    while True:
        remaining = (expires_at - dt.datetime.now(dt.UTC)).total_seconds()
        if remaining <= 0:
            on_expired()
            return
        # Re-check at least every minute: the wall clock may jump (NTP, suspended VM).
        await asyncio.sleep(min(remaining, 60.0))
