"""Request counters per verb and resource, read through the admin endpoint."""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


class RequestCounters:
    """Counts API requests as (verb, resource) pairs, e.g. ("create", "pods")."""

    def __init__(self, keep_timings: int = 100_000) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._timings: deque[float] = deque(maxlen=keep_timings)

    def add(self, verb: str, resource: str) -> None:
        self._counts[(verb, resource)] += 1

    def timing(self, seconds: float) -> None:
        """Record the server-side time of one non-watch request."""
        self._timings.append(seconds)

    def reset(self) -> None:
        self._counts.clear()
        self._timings.clear()

    def server_time_ms(self) -> dict[str, float]:
        """p50/p99/max of recent server-side request times, in milliseconds."""
        if not self._timings:
            return {"count": 0, "p50": 0.0, "p99": 0.0, "max": 0.0}
        ordered = sorted(self._timings)
        n = len(ordered)
        return {
            "count": n,
            "p50": round(ordered[n // 2] * 1000, 3),
            "p99": round(ordered[min(n - 1, int(n * 0.99))] * 1000, 3),
            "max": round(ordered[-1] * 1000, 3),
        }

    def count(self, verb: str | None = None, resource: str | None = None) -> int:
        return sum(
            n
            for (v, r), n in self._counts.items()
            if (verb is None or v == verb) and (resource is None or r == resource)
        )

    def writes(self) -> int:
        return sum(n for (v, _), n in self._counts.items() if v in WRITE_VERBS)

    def snapshot(self) -> dict[str, Any]:
        by_verb: Counter[str] = Counter()
        by_resource: dict[str, dict[str, int]] = {}
        for (verb, resource), n in self._counts.items():
            by_verb[verb] += n
            by_resource.setdefault(resource, {})[verb] = n
        return {
            "total": sum(by_verb.values()),
            "writes": self.writes(),
            "serverTimeMs": self.server_time_ms(),
            "byVerb": dict(by_verb),
            "byResource": by_resource,
        }
