"""Failed-attempt limiting per client address (a sliding window, bounded memory)."""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable


class FailureLimiter:
    """Blocks an address after ``max_failures`` failures within ``window`` seconds."""

    def __init__(
        self,
        max_failures: int,
        window: float,
        *,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_addresses = max_addresses
        self._clock = clock
        self._failures: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )

    def _recent(self, address: str) -> collections.deque[float]:
        now = self._clock()
        entries = self._failures.get(address)
        if entries is None:
            return collections.deque()
        while entries and entries[0] <= now - self.window:
            entries.popleft()
        if not entries:
            del self._failures[address]
        return entries

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None when it is not blocked."""
        if self.max_failures <= 0:
            return None
        entries = self._recent(address)
        if len(entries) < self.max_failures:
            return None
        return max(1, math.ceil(entries[0] + self.window - self._clock()))

    def failed(self, address: str) -> None:
        """Count one failed attempt from ``address``."""
        entries = self._failures.setdefault(address, collections.deque())
        entries.append(self._clock())
        self._failures.move_to_end(address)
        while len(entries) > max(self.max_failures, 1):
            entries.popleft()
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        """Forget the failures of ``address``."""
        self._failures.pop(address, None)
