"""The terminal pod of a shell: finding it, claiming an idle warm worker, or making one.

A shell's pods carry ``cloudtty.io/role=worker`` and ``cloudtty.io/shell-uid=<uid>``. Finding
them by label (not only through ``status.worker``) lets a planner that crashed between the
claim and the status write adopt the pod it claimed instead of claiming a second one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from cloudtty_core.backends import ClusterView, ObjectRef, PoolKey, copy_json
from cloudtty_core.model import Manifest

from .names import (
    LABEL_POOL,
    LABEL_ROLE,
    LABEL_SHELL_UID,
    LABEL_STATE,
    ROLE_WORKER,
    STATE_CLAIMED,
    ShellIdentity,
    session_secret_name,
    worker_name,
)
from .objects import merge

__all__ = [
    "WorkerObservation",
    "claim",
    "decorate",
    "ending_reason",
    "is_ready",
    "next_worker_name",
    "observe_workers",
    "shell_pod",
]


def is_ready(pod: Mapping[str, Any]) -> bool:
    """Whether the pod runs and its Ready condition is True."""
    status = pod.get("status") or {}
    if status.get("phase") not in (None, "Running"):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )


def _phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _deleting(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _session_over(pod: Mapping[str, Any]) -> bool:
    """Whether the terminal server exited 0: phase Succeeded, or -- in the moment before the
    kubelet writes that phase -- every container of a never-restarted pod terminated with 0."""
    if _phase(pod) == "Succeeded":
        return True
    if _phase(pod) != "Running" or (pod.get("spec") or {}).get("restartPolicy") != "Never":
        return False
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    return bool(statuses) and all(
        ((s.get("state") or {}).get("terminated") or {}).get("exitCode") == 0 for s in statuses
    )


def ending_reason(pod: Mapping[str, Any]) -> str:
    """Why the terminal server ended: ``once``, ``idle``, ``ttl`` or ``exit``."""
    for state in (pod.get("status") or {}).get("containerStatuses") or ():
        terminated = (state.get("state") or {}).get("terminated") or {}
        message = str(terminated.get("message") or "").strip()
        if message:
            return message.splitlines()[0].strip()
    return "exit"


@attrs.frozen
class WorkerObservation:
    """The pods a shell has in the cluster, sorted out."""

    pod: Manifest | None = None
    """The live pod serving the shell (the bound one, else an adopted one)."""
    ended: Manifest | None = None
    """The bound pod, when it ended its session (phase Succeeded)."""
    stale: tuple[Manifest, ...] = ()
    """Pods to delete: failed ones, spare live ones, ended ones that are not bound."""


def observe_workers(
    ident: ShellIdentity, bound: str | None, cluster: ClusterView
) -> WorkerObservation:
    """Sort the shell's pods into the serving one, an ended one, and stale ones."""
    pods = cluster.list(
        "v1", "Pod", ident.namespace, {LABEL_ROLE: ROLE_WORKER, LABEL_SHELL_UID: ident.uid}
    )
    live = [
        p
        for p in pods
        if not _deleting(p) and _phase(p) in ("Pending", "Running") and not _session_over(p)
    ]
    ended = next((p for p in pods if p["metadata"]["name"] == bound and _session_over(p)), None)
    serving = next((p for p in live if p["metadata"]["name"] == bound), None)
    if serving is None and ended is None and live:
        serving = live[0]
    stale = tuple(p for p in pods if p is not serving and p is not ended and not _deleting(p))
    return WorkerObservation(serving, ended, stale)


def next_worker_name(ident: ShellIdentity, cluster: ClusterView) -> str:
    """The first ``cloudshell-<name>-<n>`` no pod has (a deleted pod's name is not reused
    while it is still terminating)."""
    attempt = 1
    while cluster.get("v1", "Pod", ident.namespace, worker_name(ident.name, attempt)) is not None:
        attempt += 1
    return worker_name(ident.name, attempt)


def decorate(
    manifest: Manifest,
    ident: ShellIdentity,
    *,
    name: str | None = None,
    extra_labels: Mapping[str, str] | None = None,
) -> Manifest:
    """``manifest`` with the shell's labels, namespace (when absent) and owner reference (when
    in the shell's namespace: owner references cannot cross namespaces)."""
    out = copy_json(manifest)
    meta = out.setdefault("metadata", {})
    if name is not None:
        meta["name"] = name
        meta.pop("generateName", None)
    namespaced = out.get("kind") not in _CLUSTER_SCOPED
    if namespaced:
        meta.setdefault("namespace", ident.namespace)
    meta["labels"] = {**(meta.get("labels") or {}), **ident.labels(), **(extra_labels or {})}
    if namespaced and meta.get("namespace") == ident.namespace:
        owners = [o for o in meta.get("ownerReferences") or () if o.get("uid") != ident.uid]
        meta["ownerReferences"] = [*owners, ident.owner_reference()]
    return out


_CLUSTER_SCOPED = frozenset({"Namespace", "Node", "ClusterRole", "ClusterRoleBinding"})


def claim(idle: Manifest, ident: ShellIdentity) -> Manifest:
    """The PUT that claims an idle warm worker for the shell (with its resourceVersion, so two
    shells can never both get it)."""
    wanted = decorate(
        {"metadata": {}}, ident, extra_labels={LABEL_STATE: STATE_CLAIMED, LABEL_ROLE: ROLE_WORKER}
    )
    wanted["metadata"].pop("namespace", None)
    claimed: Manifest = merge(idle, wanted)
    claimed["metadata"]["resourceVersion"] = idle["metadata"].get("resourceVersion", "")
    return claimed


def shell_pod(pod: Manifest, ident: ShellIdentity, name: str, key: PoolKey) -> Manifest:
    """A pod made for this shell alone (a cold pod, or a warm worker made on demand)."""
    return decorate(
        pod,
        ident,
        name=name,
        extra_labels={
            LABEL_ROLE: ROLE_WORKER,
            LABEL_STATE: STATE_CLAIMED,
            LABEL_POOL: key.hash,
        },
    )


def session_ref(pod_name: str, namespace: str) -> ObjectRef:
    """The session Secret of a worker."""
    return ObjectRef("v1", "Secret", namespace, session_secret_name(pod_name))
