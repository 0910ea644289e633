"""In-memory objects, one monotonic resourceVersion counter and per-resource watch caches.

Stored objects are never mutated after they are stored: every write stores a new dict, so
readers, watch events and encoders can share them without copying.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from .labelindex import LabelIndex
from .watchcache import ADDED, DELETED, MODIFIED, Event, WatchCache

Listener = Callable[[str, Event], None]
Where = tuple[str, str, str]  # (storage, namespace, name)


def _owner_uids(obj: dict[str, Any] | None) -> frozenset[str]:
    if obj is None:
        return frozenset()
    refs = obj["metadata"].get("ownerReferences")
    if not isinstance(refs, list) or not refs:
        return frozenset()
    return frozenset(
        r["uid"] for r in refs if isinstance(r, dict) and isinstance(r.get("uid"), str)
    )


_NO_DEPENDENTS: frozenset[Where] = frozenset()


class Store:
    """Objects by storage name, namespace and name, plus a uid index, an ownerReferences
    index, label indexes (per resource, built when first asked for) and watch caches."""

    def __init__(self, watch_window: int = 10_000) -> None:
        self.rv = 1
        self.compacted = 0
        self.watch_window = watch_window
        self._data: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        self._counts: dict[str, int] = {}
        self._by_uid: dict[str, tuple[str, str, str]] = {}
        self._caches: dict[str, WatchCache] = {}
        self._listeners: dict[str, list[Listener]] = {}
        self._global_listeners: list[Listener] = []
        self._label_indexes: dict[str, LabelIndex] = {}
        # ownerReferences, both ways: owner uid -> dependents, dependent -> its owners' uids.
        self._dependents: dict[str, set[Where]] = {}
        self._owners_of: dict[Where, frozenset[str]] = {}

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def cache(self, storage: str) -> WatchCache:
        cache = self._caches.get(storage)
        if cache is None:
            cache = self._caches[storage] = WatchCache(self.watch_window)
            cache.floor = self.compacted
        return cache

    def caches(self) -> Iterator[WatchCache]:
        return iter(list(self._caches.values()))

    def listen(self, storage: str | None, listener: Listener) -> None:
        """Call ``listener(storage, event)`` synchronously after each committed change."""
        if storage is None:
            self._global_listeners.append(listener)
        else:
            self._listeners.setdefault(storage, []).append(listener)

    def label_index(self, storage: str) -> LabelIndex:
        """The label index of a resource, built on first use and kept current on every write."""
        index = self._label_indexes.get(storage)
        if index is None:
            index = self._label_indexes[storage] = LabelIndex()
            for ns, bucket in self._data.get(storage, {}).items():
                for name, obj in bucket.items():
                    index.update(ns, name, obj)
        return index

    def dependents(self, uid: str) -> AbstractSet[Where]:
        """Where the objects naming ``uid`` in their ownerReferences are (a live view: copy it
        before changing the store while iterating)."""
        return self._dependents.get(uid, _NO_DEPENDENTS)

    def owned(self, uid: str, storage: str, namespace: str) -> list[dict[str, Any]]:
        """The objects of one resource and namespace owned by ``uid``, in list order."""
        bucket = self._data.get(storage, {}).get(namespace) or {}
        names = sorted(n for s, ns, n in self.dependents(uid) if s == storage and ns == namespace)
        return [bucket[n] for n in names if n in bucket]

    def owner_index(self) -> dict[str, set[Where]]:
        """Owner uid -> dependents, for every owner named by some stored object."""
        return self._dependents

    def _index_owners(self, where: Where, obj: dict[str, Any] | None) -> None:
        new = _owner_uids(obj)
        old = self._owners_of.get(where, frozenset())
        if new == old:
            return
        for uid in old - new:
            deps = self._dependents.get(uid)
            if deps is not None:
                deps.discard(where)
                if not deps:
                    del self._dependents[uid]
        for uid in new - old:
            self._dependents.setdefault(uid, set()).add(where)
        if new:
            self._owners_of[where] = new
        else:
            self._owners_of.pop(where, None)

    def get(self, storage: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self._data.get(storage, {}).get(namespace, {}).get(name)

    def by_uid(self, uid: str) -> tuple[str, dict[str, Any]] | None:
        where = self._by_uid.get(uid)
        if where is None:
            return None
        obj = self.get(*where)
        return (where[0], obj) if obj is not None else None

    def count(self, storage: str) -> int:
        return self._counts.get(storage, 0)

    def namespaces_with_objects(self, storage: str) -> list[str]:
        return [ns for ns, items in self._data.get(storage, {}).items() if items]

    def items(self, storage: str, namespace: str | None) -> list[dict[str, Any]]:
        """Objects ordered by namespace, then name (the API server's list order)."""
        spaces = self._data.get(storage)
        if not spaces:
            return []
        if namespace is not None:
            bucket = spaces.get(namespace)
            return [bucket[k] for k in sorted(bucket)] if bucket else []
        out: list[dict[str, Any]] = []
        for ns in sorted(spaces):
            bucket = spaces[ns]
            out.extend(bucket[k] for k in sorted(bucket))
        return out

    def labelled(
        self, storage: str, namespace: str | None, selector: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """Objects whose labels carry every pair of an equality ``selector``, in list
        order, found through the label index instead of a scan."""
        if not selector:
            return self.items(storage, namespace)
        index = self.label_index(storage)
        spaces = self._data.get(storage)
        if not spaces:
            return []
        out: list[dict[str, Any]] = []
        for ns in [namespace] if namespace is not None else sorted(spaces):
            bucket = spaces.get(ns)
            if bucket:
                out.extend(bucket[name] for name in index.matching(ns, selector) or ())
        return out

    def storages(self) -> list[str]:
        return list(self._data)

    def _emit(self, storage: str, event: Event) -> None:
        self.cache(storage).append(event)
        for listener in self._listeners.get(storage, ()):
            listener(storage, event)
        for listener in self._global_listeners:
            listener(storage, event)

    def put(self, storage: str, obj: dict[str, Any], prev: dict[str, Any] | None) -> Event:
        """Store ``obj`` (its resourceVersion already set) and emit ADDED or MODIFIED."""
        meta = obj["metadata"]
        ns = meta.get("namespace") or ""
        bucket = self._data.setdefault(storage, {}).setdefault(ns, {})
        if prev is None:
            self._counts[storage] = self._counts.get(storage, 0) + 1
            self._by_uid[meta["uid"]] = (storage, ns, meta["name"])
        bucket[meta["name"]] = obj
        index = self._label_indexes.get(storage)
        if index is not None:
            index.update(ns, meta["name"], obj)
        self._index_owners((storage, ns, meta["name"]), obj)
        event = Event(
            MODIFIED if prev is not None else ADDED, int(meta["resourceVersion"]), obj, prev
        )
        self._emit(storage, event)
        return event

    def remove(self, storage: str, obj: dict[str, Any], prev: dict[str, Any]) -> Event:
        """Forget the object and emit DELETED carrying ``obj`` (its final state, new rv)."""
        meta = obj["metadata"]
        ns = meta.get("namespace") or ""
        bucket = self._data.get(storage, {}).get(ns, {})
        if bucket.pop(meta["name"], None) is not None:
            self._counts[storage] = self._counts.get(storage, 1) - 1
            index = self._label_indexes.get(storage)
            if index is not None:
                index.update(ns, meta["name"], None)
            self._index_owners((storage, ns, meta["name"]), None)
        self._by_uid.pop(meta.get("uid", ""), None)
        event = Event(DELETED, int(meta["resourceVersion"]), obj, prev)
        self._emit(storage, event)
        return event

    def drop_storage(self, storage: str) -> None:
        """Forget every object of a resource without events (the caller closes its watches)."""
        for ns, bucket in self._data.pop(storage, {}).items():
            for name, obj in bucket.items():
                self._by_uid.pop(obj["metadata"].get("uid", ""), None)
                self._index_owners((storage, ns, name), None)
        self._counts.pop(storage, None)
        self._label_indexes.pop(storage, None)

    def compact(self) -> None:
        """Forced compaction: every resume from a resourceVersion seen so far answers 410."""
        self.compacted = self.next_rv()
        for cache in self._caches.values():
            cache.compact(self.rv)
