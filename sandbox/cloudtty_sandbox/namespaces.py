"""Namespaces: defaults, the ``default`` ServiceAccount, and the lifecycle controller that empties
a terminating namespace before it goes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from .errors import ApiError
from .strategy import Strategy

if TYPE_CHECKING:
    from .cluster import Cluster, DeleteOptions
    from .resources import ResourceType
    from .watchcache import Event

log = logging.getLogger(__name__)


class NamespaceStrategy(Strategy):
    """Namespaces start Active with the ``kubernetes`` finalizer and a default ServiceAccount."""

    def prepare_create(self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any]) -> None:
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
        name = obj["metadata"].get("name")
        if isinstance(name, str):
            labels = obj["metadata"].get("labels")
            if not isinstance(labels, dict):
                labels = obj["metadata"]["labels"] = {}
            labels["kubernetes.io/metadata.name"] = name

    def prepare_update(
        self, cluster: Cluster, rtype: ResourceType, new: dict[str, Any], old: dict[str, Any]
    ) -> None:
        labels = new["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = new["metadata"]["name"]
        if "spec" not in new and "spec" in old:
            new["spec"] = old["spec"]

    def after_create(self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any]) -> None:
        sa_type = cluster.registry.lookup("", "v1", "serviceaccounts")
        if sa_type is not None:
            with contextlib.suppress(ApiError):
                cluster.create(sa_type, obj["metadata"]["name"], {"metadata": {"name": "default"}})
        cm_type = cluster.registry.lookup("", "v1", "configmaps")
        if cluster.ca_pem and cm_type is not None:
            with contextlib.suppress(ApiError):
                cluster.create(
                    cm_type,
                    obj["metadata"]["name"],
                    {"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": cluster.ca_pem}},
                )

    def begin_delete(
        self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any], options: DeleteOptions
    ) -> dict[str, Any] | None:
        return {**obj, "status": {**(obj.get("status") or {}), "phase": "Terminating"}}


class NamespaceController:
    """Empties terminating namespaces, then releases their ``kubernetes`` finalizer."""

    def __init__(self, cluster: Cluster, interval: float = 0.1) -> None:
        self.cluster = cluster
        self.interval = interval
        self._terminating: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        cluster.store.listen("namespaces", self._on_event)

    def _on_event(self, storage: str, event: Event) -> None:
        meta = event.obj["metadata"]
        if event.type != "DELETED" and meta.get("deletionTimestamp"):
            self._terminating.add(meta["name"])
            self._wake.set()
        elif event.type == "DELETED":
            self._terminating.discard(meta["name"])

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sandbox-namespace-controller")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            if not self._terminating:
                self._wake.clear()
                await self._wake.wait()
            for name in list(self._terminating):
                try:
                    self._sweep(name)
                except Exception:  # a controller keeps going whatever one namespace does
                    log.exception("namespace controller failed on %s", name)
            await asyncio.sleep(self.interval)

    def _sweep(self, name: str) -> None:
        from .cluster import DeleteOptions

        cluster = self.cluster
        remaining = 0
        for rtype in list(cluster.registry.all()):
            if not rtype.namespaced or cluster.registry.any_version(rtype.storage) is not rtype:
                continue
            for obj in cluster.store.items(rtype.storage, name):
                remaining += 1
                if not obj["metadata"].get("deletionTimestamp"):
                    with contextlib.suppress(ApiError):
                        cluster.delete(
                            rtype,
                            name,
                            obj["metadata"]["name"],
                            DeleteOptions(propagation_policy="Background"),
                        )
        if remaining == 0:

            def release(ns: dict[str, Any]) -> None:
                ns["spec"] = {**(ns.get("spec") or {}), "finalizers": []}

            cluster.mutate("namespaces", "", name, release)
            self._terminating.discard(name)
