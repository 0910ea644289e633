"""Label indexes: objects by their labels, and selectors by the labels they need.

Both answer "which objects of this namespace match?" without scanning the namespace, so a
controller reacting to one change does work proportional to the objects involved, not to
everything stored. ``Store`` keeps them current synchronously on every write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

Pair = tuple[str, str]
Key = tuple[str, str]  # (namespace, name)


def _labels(obj: Mapping[str, Any] | None) -> Mapping[str, str]:
    if obj is None:
        return {}
    labels = obj["metadata"].get("labels")
    return labels if isinstance(labels, dict) else {}


def matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` carry every pair of an equality ``selector``."""
    return all(labels.get(k) == v for k, v in selector.items())


class LabelIndex:
    """Names of one resource's objects by namespace and label pair."""

    def __init__(self) -> None:
        self._by_pair: dict[str, dict[Pair, set[str]]] = {}
        self._pairs: dict[Key, frozenset[Pair]] = {}

    def update(self, namespace: str, name: str, obj: Mapping[str, Any] | None) -> None:
        """Index ``obj`` as the current state of ``namespace/name`` (None: it is gone)."""
        key = (namespace, name)
        new = frozenset((k, v) for k, v in _labels(obj).items() if isinstance(v, str))
        old = self._pairs.get(key, frozenset())
        if new == old:
            return
        space = self._by_pair.setdefault(namespace, {})
        for pair in old - new:
            names = space.get(pair)
            if names is not None:
                names.discard(name)
                if not names:
                    del space[pair]
        for pair in new - old:
            space.setdefault(pair, set()).add(name)
        if new:
            self._pairs[key] = new
        else:
            self._pairs.pop(key, None)
        if not space:
            del self._by_pair[namespace]

    def candidates(self, namespace: str, selector: Mapping[str, str]) -> set[str] | None:
        """Names that may match ``selector``: the smallest bucket among its pairs (a superset
        of the matches); None for an empty selector, which the index cannot narrow."""
        if not selector:
            return None
        space = self._by_pair.get(namespace)
        if not space:
            return set()
        best: set[str] | None = None
        for pair in selector.items():
            names = space.get(pair)
            if not names:
                return set()
            if best is None or len(names) < len(best):
                best = names
        return set(best) if best is not None else set()

    def matching(self, namespace: str, selector: Mapping[str, str]) -> list[str] | None:
        """Names of the objects whose labels carry every pair of ``selector``, sorted; None
        for an empty selector."""
        found = self.candidates(namespace, selector)
        if found is None:
            return None
        return sorted(name for name in found if selector.items() <= self._pairs[(namespace, name)])


class SelectorIndex:
    """Objects carrying an equality selector (Services), to find those selecting a label set.

    Each selector is filed under one of its pairs -- the one whose bucket is smallest when it
    is filed -- so a label set's lookup reads only the buckets of its own pairs, and selectors
    sharing a common pair (``role=worker``) still spread over their distinguishing ones.
    """

    def __init__(
        self, selector_of: Callable[[Mapping[str, Any]], Mapping[str, str] | None]
    ) -> None:
        self._selector_of = selector_of
        self._buckets: dict[str, dict[Pair, dict[str, Mapping[str, str]]]] = {}
        self._filed: dict[Key, tuple[Pair, Mapping[str, str]]] = {}

    def update(self, namespace: str, name: str, obj: Mapping[str, Any] | None) -> None:
        """Index ``obj`` as the current state of ``namespace/name`` (None: it is gone)."""
        key = (namespace, name)
        raw = self._selector_of(obj) if obj is not None else None
        selector = dict(raw) if isinstance(raw, Mapping) and raw else None
        filed = self._filed.get(key)
        if filed is not None and filed[1] == selector:
            return
        space = self._buckets.setdefault(namespace, {})
        if filed is not None:
            bucket = space.get(filed[0])
            if bucket is not None:
                bucket.pop(name, None)
                if not bucket:
                    del space[filed[0]]
            del self._filed[key]
        if selector:
            pair = min(sorted(selector.items()), key=lambda p: len(space.get(p, ())))
            space.setdefault(pair, {})[name] = selector
            self._filed[key] = (pair, selector)
        if not space:
            del self._buckets[namespace]

    def selecting(self, namespace: str, labels: Mapping[str, str]) -> list[str]:
        """Names of the objects whose selector ``labels`` satisfy."""
        space = self._buckets.get(namespace)
        if not space or not labels:
            return []
        out = []
        for pair in labels.items():
            bucket = space.get(pair)
            if bucket:
                out.extend(name for name, sel in bucket.items() if matches(sel, labels))
        return out

    def selecting_any(self, namespace: str, label_sets: Iterable[Mapping[str, str]]) -> set[str]:
        """Names of the objects selecting at least one of ``label_sets``."""
        out: set[str] = set()
        for labels in label_sets:
            out.update(self.selecting(namespace, labels))
        return out
