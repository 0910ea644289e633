"""Request counters per verb and resource, read through the admin endpoint."""

from __future__ import annotations

from collections import Counter
from typing import Any

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


class RequestCounters:
    """Counts API requests as (verb, resource) pairs, e.g. ("create", "pods")."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, verb: str, resource: str) -> None:
        self._counts[(verb, resource)] += 1

    def reset(self) -> None:
        self._counts.clear()

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
            "byVerb": dict(by_verb),
            "byResource": by_resource,
        }
