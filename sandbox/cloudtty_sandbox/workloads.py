"""The Deployment and ReplicaSet controllers.

A ReplicaSet keeps ``spec.replicas`` live pods from its template (owned by it, labelled as the
template says) and reports replicas/ready/available in its status. A Deployment owns one
ReplicaSet per pod template (named ``<deployment>-<pod-template-hash>``, the hash also in its
selector and pod labels) and rolls from the old ones to the new one: RollingUpdate scales the
new ReplicaSet to the desired count at once and the old ones down as new pods become available
(so availability never drops); Recreate scales the old ones to zero first. Its status carries
replicas, updatedReplicas, readyReplicas, availableReplicas, observedGeneration and the
Available and Progressing conditions, which is what ``kubectl rollout status`` and
``kubectl wait --for=condition=Available`` read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from . import meta
from .apps import (
    DESIRED_REPLICAS,
    HASH_LABEL,
    MAX_REPLICAS,
    REVISION,
    max_unavailable,
    replicas_of,
    resolve_percent,
    template_hash,
    without_hash,
)
from .cluster import Cluster, DeleteOptions, clone
from .endpoints import pod_ready
from .errors import ApiError
from .watchcache import Event

log = logging.getLogger(__name__)

DEPLOYMENTS = "deployments.apps"
REPLICASETS = "replicasets.apps"
RETRY_SECONDS = 1.0
Key = tuple[str, str]


def controller_uid(obj: dict[str, Any], kind: str) -> str | None:
    """The uid of the controlling owner of ``obj`` when that owner is a ``kind``."""
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == kind:
            return str(ref.get("uid"))
    return None


def _controller_name(obj: dict[str, Any], kind: str) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == kind:
            return str(ref.get("name"))
    return None


def _owner_ref(owner: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _revision(rs: dict[str, Any]) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _available(pod: dict[str, Any], min_ready: int, now: float) -> tuple[bool, float | None]:
    """Whether a pod counts as available, and when it will if it is ready but too recently."""
    if not pod_ready(pod):
        return False, None
    if min_ready <= 0:
        return True, None
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            since = meta.parse_time(cond.get("lastTransitionTime") or "")
            if since is None:
                return True, None
            at = since.timestamp() + min_ready
            return (at <= now), (None if at <= now else at - now)
    return True, None


def _set_condition(
    status: dict[str, Any], type_: str, value: str, reason: str, message: str
) -> None:
    now = meta.rfc3339()
    conditions = [c for c in status.get("conditions") or () if c.get("type") != type_]
    old = next((c for c in status.get("conditions") or () if c.get("type") == type_), None)
    if old is not None and (old.get("status"), old.get("reason"), old.get("message")) == (
        value,
        reason,
        message,
    ):
        conditions.append(old)
    else:
        transition = (
            old.get("lastTransitionTime") if old is not None and old.get("status") == value else now
        )
        conditions.append(
            {
                "type": type_,
                "status": value,
                "lastUpdateTime": now,
                "lastTransitionTime": transition,
                "reason": reason,
                "message": message,
            }
        )
    order = {"Available": 0, "Progressing": 1, "ReplicaFailure": 2}
    status["conditions"] = sorted(conditions, key=lambda c: order.get(c.get("type", ""), 9))


def _compact(status: dict[str, Any]) -> dict[str, Any]:
    """Drop zero counts, as the API's JSON encoding (omitempty) does."""
    return {k: v for k, v in status.items() if v not in (0, None, [])}


class WorkloadController:
    """Reconciles Deployments into ReplicaSets and ReplicaSets into pods."""

    def __init__(self, cluster: Cluster, *, emit_events: bool = True) -> None:
        self.cluster = cluster
        self.emit_events = emit_events
        self._deployments: set[Key] = set()
        self._replicasets: set[Key] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        cluster.store.listen(DEPLOYMENTS, self._on_deployment)
        cluster.store.listen(REPLICASETS, self._on_replicaset)
        cluster.store.listen("pods", self._on_pod)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sandbox-workload-controller")

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # ------------------------------------------------------------------ queue
    def _mark(self, queue: set[Key], namespace: str, name: str) -> None:
        queue.add((namespace, name))
        self._wake.set()

    def _later(self, delay: float, queue: set[Key], namespace: str, name: str) -> None:
        loop = asyncio.get_running_loop()
        holder: list[asyncio.TimerHandle] = []

        def fire() -> None:
            self._timers.discard(holder[0])
            self._mark(queue, namespace, name)

        holder.append(loop.call_later(delay, fire))
        self._timers.add(holder[0])

    def _on_deployment(self, storage: str, event: Event) -> None:
        m = event.obj["metadata"]
        self._mark(self._deployments, m.get("namespace", ""), m["name"])

    def _on_replicaset(self, storage: str, event: Event) -> None:
        m = event.obj["metadata"]
        ns = m.get("namespace", "")
        self._mark(self._replicasets, ns, m["name"])
        for obj in (event.obj, event.prev):
            owner = _controller_name(obj, "Deployment") if obj is not None else None
            if owner:
                self._mark(self._deployments, ns, owner)

    def _on_pod(self, storage: str, event: Event) -> None:
        ns = event.obj["metadata"].get("namespace", "")
        for obj in (event.obj, event.prev):
            owner = _controller_name(obj, "ReplicaSet") if obj is not None else None
            if owner:
                self._mark(self._replicasets, ns, owner)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            deployments, self._deployments = self._deployments, set()
            for ns, name in sorted(deployments):
                try:
                    self.sync_deployment(ns, name)
                except Exception:  # keep the controller alive
                    log.exception("deployment controller failed on %s/%s", ns, name)
            replicasets, self._replicasets = self._replicasets, set()
            for ns, name in sorted(replicasets):
                try:
                    self.sync_replicaset(ns, name)
                except Exception:
                    log.exception("replicaset controller failed on %s/%s", ns, name)
            await asyncio.sleep(0)

    # ------------------------------------------------------------------ events
    def _event(
        self, obj: dict[str, Any], component: str, type_: str, reason: str, msg: str
    ) -> None:
        if not self.emit_events:
            return
        rtype = self.cluster.registry.lookup("", "v1", "events")
        m = obj["metadata"]
        if rtype is None:
            return
        now = meta.rfc3339()
        body = {
            "metadata": {"name": f"{m['name']}.{secrets.token_hex(8)}"},
            "involvedObject": {
                "kind": obj.get("kind", ""),
                "namespace": m["namespace"],
                "name": m["name"],
                "uid": m["uid"],
                "apiVersion": obj.get("apiVersion", "apps/v1"),
                "resourceVersion": m.get("resourceVersion", ""),
            },
            "reason": reason,
            "message": msg,
            "type": type_,
            "source": {"component": component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": component,
        }
        with contextlib.suppress(ApiError):
            self.cluster.create(rtype, m["namespace"], body)

    # ------------------------------------------------------------------ ReplicaSets
    def sync_replicaset(self, namespace: str, name: str) -> None:
        """Create or delete pods until the ReplicaSet has ``spec.replicas``; update its status."""
        cluster = self.cluster
        rs = cluster.find(REPLICASETS, namespace, name)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        uid = rs["metadata"]["uid"]
        pods = [
            p
            for p in cluster.store.owned(uid, "pods", namespace)
            if controller_uid(p, "ReplicaSet") == uid
        ]
        active = [
            p
            for p in pods
            if not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]
        want = replicas_of(rs)
        failure: str | None = None
        pod_type = cluster.registry.lookup("", "v1", "pods")
        assert pod_type is not None
        if len(active) < want:
            template = (rs.get("spec") or {}).get("template") or {}
            for _ in range(want - len(active)):
                t_meta = template.get("metadata") or {}
                body = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "generateName": f"{name}-",
                        "labels": dict(t_meta.get("labels") or {}),
                        "ownerReferences": [_owner_ref(rs, "ReplicaSet")],
                    },
                    "spec": clone(template.get("spec") or {}),
                }
                if t_meta.get("annotations"):
                    body["metadata"]["annotations"] = dict(t_meta["annotations"])
                try:
                    pod = cluster.create(pod_type, namespace, body)
                except ApiError as exc:
                    failure = exc.message
                    self._event(
                        rs,
                        "replicaset-controller",
                        "Warning",
                        "FailedCreate",
                        f"Error creating: {exc.message}",
                    )
                    self._later(RETRY_SECONDS, self._replicasets, namespace, name)
                    break
                self._event(
                    rs,
                    "replicaset-controller",
                    "Normal",
                    "SuccessfulCreate",
                    f"Created pod: {pod['metadata']['name']}",
                )
        elif len(active) > want:
            # Pods not yet ready go first, then the youngest, as the real controller prefers.
            unready = [p for p in active if not pod_ready(p)]
            ready = sorted(
                (p for p in active if pod_ready(p)),
                key=lambda p: p["metadata"].get("creationTimestamp", ""),
                reverse=True,
            )
            for pod in (unready + ready)[: len(active) - want]:
                with contextlib.suppress(ApiError):
                    cluster.delete(pod_type, namespace, pod["metadata"]["name"], DeleteOptions())
                    self._event(
                        rs,
                        "replicaset-controller",
                        "Normal",
                        "SuccessfulDelete",
                        f"Deleted pod: {pod['metadata']['name']}",
                    )
        self._update_rs_status(rs, failure)

    def _update_rs_status(self, rs: dict[str, Any], failure: str | None) -> None:
        cluster = self.cluster
        m = rs["metadata"]
        ns, uid = m["namespace"], m["uid"]
        spec = rs.get("spec") or {}
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        active = [
            p
            for p in cluster.store.owned(uid, "pods", ns)
            if controller_uid(p, "ReplicaSet") == uid
            and not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = meta.now().timestamp()
        available = 0
        wake: float | None = None
        for pod in active:
            ok, later = _available(pod, min_ready, now)
            available += ok
            if later is not None:
                wake = later if wake is None else min(wake, later)
        if wake is not None:
            self._later(wake + 0.01, self._replicasets, ns, m["name"])
        labelled = sum(
            1
            for p in active
            if all(
                (p["metadata"].get("labels") or {}).get(k) == v for k, v in template_labels.items()
            )
        )

        def change(obj: dict[str, Any]) -> bool:
            status: dict[str, Any] = {
                "replicas": len(active),
                "fullyLabeledReplicas": labelled,
                "readyReplicas": sum(1 for p in active if pod_ready(p)),
                "availableReplicas": available,
                "observedGeneration": obj["metadata"].get("generation", 1),
            }
            old = obj.get("status") or {}
            conditions = [
                c for c in old.get("conditions") or () if c.get("type") != "ReplicaFailure"
            ]
            holder: dict[str, Any] = {"conditions": list(old.get("conditions") or ())}
            if failure:
                _set_condition(holder, "ReplicaFailure", "True", "FailedCreate", failure)
                conditions = holder["conditions"]
            if conditions:
                status["conditions"] = conditions
            new = _compact(status)
            if new == old:
                return False
            obj["status"] = new
            return True

        cluster.mutate(REPLICASETS, ns, m["name"], change, subresource="status")

    # ------------------------------------------------------------------ Deployments
    def sync_deployment(self, namespace: str, name: str) -> None:
        """Make the ReplicaSet of the current template, roll to it, and update the status."""
        cluster = self.cluster
        deployment = cluster.find(DEPLOYMENTS, namespace, name)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            return
        spec = deployment.get("spec") or {}
        uid = deployment["metadata"]["uid"]
        owned = [
            rs
            for rs in cluster.store.owned(uid, REPLICASETS, namespace)
            if controller_uid(rs, "Deployment") == uid
        ]
        template = spec.get("template") or {}
        current = [
            rs for rs in owned if without_hash((rs.get("spec") or {}).get("template")) == template
        ]
        new_rs = current[0] if current else None
        old = [rs for rs in owned if rs is not new_rs]
        desired = replicas_of(deployment)
        if spec.get("paused"):
            self._update_deployment_status(deployment, new_rs, owned, None)
            return
        top = max((_revision(rs) for rs in owned), default=0)
        created = None
        if new_rs is None:
            new_rs = created = self._create_replicaset(deployment, top + 1, old)
            if new_rs is None:
                return
        elif _revision(new_rs) < top:
            new_rs = self._set_rs(new_rs, revision=top + 1) or new_rs
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        old_alive = sum(int((rs.get("status") or {}).get("replicas") or 0) for rs in old)
        if recreate:
            for rs in old:
                if replicas_of(rs):
                    self._scale(deployment, rs, 0)
            target = desired if old_alive == 0 and all(not replicas_of(rs) for rs in old) else 0
            if replicas_of(new_rs) != target:
                new_rs = self._scale(deployment, new_rs, target) or new_rs
        else:
            if replicas_of(new_rs) != desired:
                new_rs = self._scale(deployment, new_rs, desired) or new_rs
            new_available = int((new_rs.get("status") or {}).get("availableReplicas") or 0)
            keep_old = max(0, desired - new_available)
            for rs in sorted(old, key=_revision, reverse=True):
                target = min(replicas_of(rs), keep_old)
                keep_old -= target
                if replicas_of(rs) != target:
                    self._scale(deployment, rs, target)
        self._cleanup(deployment, old)
        self._set_deployment_revision(deployment, _revision(new_rs))
        fresh = cluster.find(DEPLOYMENTS, namespace, name)
        if fresh is None:
            return
        owned = [
            rs
            for rs in cluster.store.owned(uid, REPLICASETS, namespace)
            if controller_uid(rs, "Deployment") == uid
        ]
        new_rs = cluster.find(REPLICASETS, namespace, new_rs["metadata"]["name"]) or new_rs
        self._update_deployment_status(fresh, new_rs, owned, created)

    def _create_replicaset(
        self, deployment: dict[str, Any], revision: int, old: list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        cluster = self.cluster
        m = deployment["metadata"]
        spec = deployment.get("spec") or {}
        template = clone(spec.get("template") or {})
        collisions = int((deployment.get("status") or {}).get("collisionCount") or 0)
        pod_hash = template_hash(template, collisions)
        t_meta = template.setdefault("metadata", {})
        t_meta["labels"] = {**(t_meta.get("labels") or {}), HASH_LABEL: pod_hash}
        selector = clone(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: pod_hash}
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        desired = replicas_of(deployment)
        surge = resolve_percent(
            ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", "25%"),
            desired,
            round_up=True,
        )
        body = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{m['name']}-{pod_hash}",
                "labels": dict(t_meta["labels"]),
                "annotations": {
                    REVISION: str(revision),
                    DESIRED_REPLICAS: str(desired),
                    MAX_REPLICAS: str(desired + (0 if recreate else surge)),
                },
                "ownerReferences": [_owner_ref(deployment, "Deployment")],
            },
            "spec": {
                "replicas": 0 if recreate and old else desired,
                "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                "selector": selector,
                "template": template,
            },
        }
        rs_type = cluster.registry.lookup("apps", "v1", "replicasets")
        assert rs_type is not None
        try:
            rs = cluster.create(rs_type, m["namespace"], body)
        except ApiError as exc:
            if exc.code == 409:
                # A ReplicaSet of that name that is not ours: count a collision, rehash later.
                cluster.mutate(
                    DEPLOYMENTS,
                    m["namespace"],
                    m["name"],
                    lambda d: d.setdefault("status", {}).__setitem__(
                        "collisionCount", collisions + 1
                    ),
                    subresource="status",
                )
            else:
                self._event(
                    deployment,
                    "deployment-controller",
                    "Warning",
                    "FailedCreate",
                    f"Failed to create new replica set: {exc.message}",
                )
                self._later(RETRY_SECONDS, self._deployments, m["namespace"], m["name"])
            return None
        self._event(
            deployment,
            "deployment-controller",
            "Normal",
            "ScalingReplicaSet",
            f"Scaled up replica set {rs['metadata']['name']} from 0 to {rs['spec']['replicas']}",
        )
        return rs

    def _set_rs(
        self,
        rs: dict[str, Any],
        *,
        replicas: int | None = None,
        revision: int | None = None,
        desired: int | None = None,
    ) -> dict[str, Any] | None:
        def change(obj: dict[str, Any]) -> None:
            annotations = obj["metadata"].setdefault("annotations", {})
            if revision is not None:
                annotations[REVISION] = str(revision)
            if desired is not None:
                annotations[DESIRED_REPLICAS] = str(desired)
            if replicas is not None:
                obj.setdefault("spec", {})["replicas"] = replicas

        m = rs["metadata"]
        return self.cluster.mutate(REPLICASETS, m["namespace"], m["name"], change)

    def _scale(
        self, deployment: dict[str, Any], rs: dict[str, Any], replicas: int
    ) -> dict[str, Any] | None:
        before = replicas_of(rs)
        updated = self._set_rs(rs, replicas=replicas, desired=replicas_of(deployment))
        if updated is not None and before != replicas:
            direction = "up" if replicas > before else "down"
            self._event(
                deployment,
                "deployment-controller",
                "Normal",
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {rs['metadata']['name']} from {before} "
                f"to {replicas}",
            )
        return updated

    def _cleanup(self, deployment: dict[str, Any], old: list[dict[str, Any]]) -> None:
        """Delete the oldest idle ReplicaSets beyond ``revisionHistoryLimit``."""
        limit = (deployment.get("spec") or {}).get("revisionHistoryLimit", 10)
        if not isinstance(limit, int):
            return
        idle = [
            rs
            for rs in old
            if not replicas_of(rs)
            and not int((rs.get("status") or {}).get("replicas") or 0)
            and not rs["metadata"].get("deletionTimestamp")
        ]
        rs_type = self.cluster.registry.lookup("apps", "v1", "replicasets")
        assert rs_type is not None
        for rs in sorted(idle, key=_revision)[: max(0, len(idle) - limit)]:
            with contextlib.suppress(ApiError):
                self.cluster.delete(rs_type, rs["metadata"]["namespace"], rs["metadata"]["name"])

    def _set_deployment_revision(self, deployment: dict[str, Any], revision: int) -> None:
        m = deployment["metadata"]
        if (m.get("annotations") or {}).get(REVISION) == str(revision):
            return

        def change(obj: dict[str, Any]) -> None:
            obj["metadata"].setdefault("annotations", {})[REVISION] = str(revision)

        self.cluster.mutate(DEPLOYMENTS, m["namespace"], m["name"], change)

    def _update_deployment_status(
        self,
        deployment: dict[str, Any],
        new_rs: dict[str, Any] | None,
        owned: list[dict[str, Any]],
        created: dict[str, Any] | None,
    ) -> None:
        desired = replicas_of(deployment)

        def count(rs: dict[str, Any], field: str) -> int:
            return int((rs.get("status") or {}).get(field) or 0)

        replicas = sum(count(rs, "replicas") for rs in owned)
        updated = count(new_rs, "replicas") if new_rs is not None else 0
        ready = sum(count(rs, "readyReplicas") for rs in owned)
        available = sum(count(rs, "availableReplicas") for rs in owned)
        minimum = desired - max_unavailable(deployment)
        rs_name = new_rs["metadata"]["name"] if new_rs is not None else ""
        complete = (
            new_rs is not None
            and updated == desired
            and replicas == desired
            and available >= desired
            and replicas_of(new_rs) == desired
        )

        def change(obj: dict[str, Any]) -> bool:
            old = obj.get("status") or {}
            status: dict[str, Any] = {
                "observedGeneration": obj["metadata"].get("generation", 1),
                "replicas": replicas,
                "updatedReplicas": updated,
                "readyReplicas": ready,
                "availableReplicas": available,
                "unavailableReplicas": max(0, desired - available),
                "collisionCount": old.get("collisionCount"),
                "conditions": list(old.get("conditions") or ()),
            }
            if available >= minimum:
                _set_condition(
                    status,
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                )
            else:
                _set_condition(
                    status,
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                )
            if (obj.get("spec") or {}).get("paused"):
                _set_condition(
                    status, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused"
                )
            elif complete:
                _set_condition(
                    status,
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{rs_name}" has successfully progressed.',
                )
            elif created is not None:
                _set_condition(
                    status,
                    "Progressing",
                    "True",
                    "NewReplicaSetCreated",
                    f'Created new replica set "{rs_name}"',
                )
            elif rs_name:
                _set_condition(
                    status,
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{rs_name}" is progressing.',
                )
            new = _compact(status)
            if new == old:
                return False
            obj["status"] = new
            return True

        m = deployment["metadata"]
        self.cluster.mutate(DEPLOYMENTS, m["namespace"], m["name"], change, subresource="status")
