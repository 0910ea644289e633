"""Garbage collection by ownerReferences: background, foreground and orphan propagation, and
collection of dependents whose owners never existed or are gone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from .cluster import FOREGROUND, ORPHAN, Cluster, DeleteOptions
from .errors import ApiError
from .watchcache import Event

log = logging.getLogger(__name__)


class GarbageCollector:
    """Acts on owner deletions asynchronously, finding dependents through the store's
    owner index (no scan of the objects stored)."""

    def __init__(self, cluster: Cluster, delay: float = 0.0) -> None:
        self.cluster = cluster
        self.delay = delay
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        cluster.store.listen(None, self._on_event)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sandbox-garbage-collector")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def dependents(self) -> dict[str, set[tuple[str, str, str]]]:
        """Owner uid -> (storage, namespace, name) of each object naming it as an owner."""
        return self.cluster.store.owner_index()

    # events --------------------------------------------------------------
    def _on_event(self, storage: str, event: Event) -> None:
        meta = event.obj["metadata"]
        if event.type == "DELETED":
            self._queue.put_nowait(("removed", meta["uid"]))
            return
        refs = meta.get("ownerReferences") or ()
        old_refs = (event.prev or {}).get("metadata", {}).get("ownerReferences") or ()
        if refs and refs != old_refs:
            self._queue.put_nowait(("check", (storage, meta.get("namespace") or "", meta["name"])))
        finalizers = meta.get("finalizers") or ()
        if meta.get("deletionTimestamp") and (FOREGROUND in finalizers or ORPHAN in finalizers):
            key = (storage, meta.get("namespace") or "", meta["name"])
            self._queue.put_nowait(("owner-deleting", (storage, key, meta["uid"])))

    # work ----------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            kind, item = await self._queue.get()
            if self.delay:
                await asyncio.sleep(self.delay)
            try:
                if kind == "removed":
                    self._owner_removed(item)
                elif kind == "check":
                    self._check_dependent(item)
                elif kind == "owner-deleting":
                    self._owner_deleting(*item)
            except Exception:  # one bad object must not stop collection
                log.exception("garbage collector failed on %s %s", kind, item)

    def _owner_removed(self, uid: str) -> None:
        for key in list(self.dependents.get(uid, ())):
            self._check_dependent(key)

    def _check_dependent(self, key: tuple[str, str, str]) -> None:
        """Delete a dependent once none of its owners exists any more."""
        storage, ns, name = key
        obj = self.cluster.find(storage, ns, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        refs = obj["metadata"].get("ownerReferences") or ()
        if not refs:
            return
        for ref in refs:
            found = self.cluster.store.by_uid(ref.get("uid", ""))
            if found is not None:
                owner = found[1]
                finalizers = owner["metadata"].get("finalizers") or ()
                if FOREGROUND in finalizers and owner["metadata"].get("deletionTimestamp"):
                    continue  # an owner being deleted in the foreground no longer holds it
                return
        with contextlib.suppress(ApiError):
            rtype = self.cluster.rtype(storage)
            self.cluster.delete(
                rtype, ns or None, name, DeleteOptions(propagation_policy="Background")
            )

    def _owner_deleting(self, storage: str, key: tuple[str, str, str], uid: str) -> None:
        owner = self.cluster.find(*key)
        if owner is None or owner["metadata"]["uid"] != uid:
            return
        finalizers = owner["metadata"].get("finalizers") or ()
        deps = [d for d in self.dependents.get(uid, ()) if self.cluster.find(*d) is not None]
        if ORPHAN in finalizers:
            for dep in deps:
                self._drop_owner_ref(dep, uid)
            self._drop_finalizer(key, ORPHAN)
        elif FOREGROUND in finalizers:
            if not deps:
                self._drop_finalizer(key, FOREGROUND)
                return
            for dep in deps:
                obj = self.cluster.find(*dep)
                if obj is not None and not obj["metadata"].get("deletionTimestamp"):
                    with contextlib.suppress(ApiError):
                        self.cluster.delete(
                            self.cluster.rtype(dep[0]),
                            dep[1] or None,
                            dep[2],
                            DeleteOptions(propagation_policy="Foreground"),
                        )
            asyncio.get_running_loop().call_later(
                0.05, self._queue.put_nowait, ("owner-deleting", (storage, key, uid))
            )

    def _drop_owner_ref(self, key: tuple[str, str, str], uid: str) -> None:
        def change(obj: dict[str, Any]) -> None:
            refs = [r for r in obj["metadata"].get("ownerReferences") or () if r.get("uid") != uid]
            if refs:
                obj["metadata"]["ownerReferences"] = refs
            else:
                obj["metadata"].pop("ownerReferences", None)

        self.cluster.mutate(key[0], key[1], key[2], change)

    def _drop_finalizer(self, key: tuple[str, str, str], finalizer: str) -> None:
        def change(obj: dict[str, Any]) -> None:
            obj["metadata"]["finalizers"] = [
                f for f in obj["metadata"].get("finalizers") or () if f != finalizer
            ]

        self.cluster.mutate(key[0], key[1], key[2], change)

    def orphans(self) -> list[tuple[str, str, str]]:
        """Objects whose every owner is gone (should be empty once the collector has caught up)."""
        out = []
        for uid, deps in self.dependents.items():
            if self.cluster.store.by_uid(uid) is None:
                out.extend(deps)
        return out
