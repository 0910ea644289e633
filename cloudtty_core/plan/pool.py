"""The warm pool: idle workers kept ready per pool key, and the view shells claim from.

Workers are single-use: a claimed worker belongs to its shell and is deleted with it, so the
pool only ever creates idle workers (up to ``minIdle``), trims surplus ones, and removes idle
workers that failed.
"""

from __future__ import annotations

from collections.abc import Sequence

from cloudtty_core.backends import (
    ClusterView,
    ObjectRef,
    OperatorSettings,
    PoolKey,
    WorkerRequest,
    dns_label,
)
from cloudtty_core.model import Manifest
from cloudtty_core.registry import BackendNotInstalled, BackendRegistry

from .names import (
    LABEL_MANAGED_BY,
    LABEL_POOL,
    LABEL_ROLE,
    LABEL_STATE,
    MANAGED_BY,
    ROLE_WORKER,
    STATE_IDLE,
)
from .types import Plan
from .worker import is_ready

__all__ = ["ClusterPoolView", "idle_pods", "plan_pool", "pool_labels"]


def pool_labels(key: PoolKey) -> dict[str, str]:
    """Labels of an idle worker of ``key``."""
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_ROLE: ROLE_WORKER,
        LABEL_POOL: key.hash,
        LABEL_STATE: STATE_IDLE,
    }


def _alive(pod: Manifest) -> bool:
    meta = pod.get("metadata") or {}
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    return not meta.get("deletionTimestamp") and phase in ("Pending", "Running")


def idle_pods(key: PoolKey, cluster: ClusterView) -> list[Manifest]:
    """Every idle worker of ``key`` (starting, ready or broken), sorted by name."""
    pods = cluster.list("v1", "Pod", key.namespace, pool_labels(key))
    return sorted(pods, key=lambda p: str(p["metadata"]["name"]))


class ClusterPoolView:
    """The :class:`~cloudtty_core.PoolView` read straight from a cluster view."""

    def __init__(self, cluster: ClusterView) -> None:
        self.cluster = cluster

    def idle_workers(self, key: PoolKey) -> Sequence[Manifest]:
        """Ready idle workers of ``key``, oldest name first."""
        return [p for p in idle_pods(key, self.cluster) if _alive(p) and is_ready(p)]


def plan_pool(
    key: PoolKey,
    cluster: ClusterView,
    settings: OperatorSettings,
    registry: BackendRegistry,
) -> Plan:
    """Keep ``settings.min_idle_for(namespace)`` idle workers of ``key``.

    Starting workers count (they will be Ready soon); failed or finished idle workers are
    deleted and replaced; surplus idle workers (the setting went down) are deleted, starting
    ones first. An image backend that is not installed or cannot start warm has no pool.
    """
    try:
        image = registry.image(key.image_backend)
    except BackendNotInstalled:
        return Plan()
    pods = idle_pods(key, cluster)
    deletes = [ObjectRef.of(p) for p in pods if not _alive(p) and not _deleting(p)]
    alive = [p for p in pods if _alive(p)]
    target = settings.min_idle_for(key.namespace) if image.supports_warm_pool else 0
    creates: list[Manifest] = []
    if len(alive) < target:
        for _ in range(target - len(alive)):
            creates.append(_idle_worker(image.worker_pod(WorkerRequest(key, settings)), key))
    else:
        surplus = sorted(alive, key=lambda p: (is_ready(p), str(p["metadata"]["name"])))
        deletes += [ObjectRef.of(p) for p in surplus[: len(alive) - target]]
    return Plan(creates=tuple(creates), deletes=tuple(deletes))


def _deleting(pod: Manifest) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _idle_worker(pod: Manifest, key: PoolKey) -> Manifest:
    meta = dict(pod.get("metadata") or {})
    meta.pop("name", None)
    meta["generateName"] = dns_label(f"cloudtty-{key.image_backend}")[:50] + "-"
    meta["namespace"] = key.namespace
    meta["labels"] = {**(meta.get("labels") or {}), **pool_labels(key)}
    return {**pod, "metadata": meta}
