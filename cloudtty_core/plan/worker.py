"""The terminal pod of a shell: finding it, claiming an idle warm worker, or making one.

A shell's pods carry ``cloudtty.io/role=worker`` and ``cloudtty.io/shell-uid=<uid>``. Finding
them by label (not only through ``status.worker``) lets a planner that crashed between the
claim and the status write adopt the pod it claimed instead of claiming a second one.

Every worker runs as a ServiceAccount of its own (see :mod:`.identity`). A worker the shell
makes itself (the pool was empty, or the image cannot start warm) has its account, Role and
RoleBinding labelled and owned like the rest of the shell's objects, all made in one plan (the
runtime creates ServiceAccounts before anything else: a pod is refused while its account does
not exist).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from cloudtty_core.backends import ClusterView, ObjectRef, PoolKey, copy_json
from cloudtty_core.model import Manifest

from .identity import account_spent
from .names import (
    LABEL_POOL,
    LABEL_ROLE,
    LABEL_SHELL_UID,
    LABEL_STATE,
    ROLE_WORKER,
    STATE_CLAIMED,
    ShellIdentity,
    session_secret_name,
)
from .objects import merge

__all__ = [
    "WorkerObservation",
    "claim",
    "decorate",
    "ending_reason",
    "is_ready",
    "observe_workers",
    "own_accounts",
    "pending_account",
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


def own_accounts(ident: ShellIdentity, cluster: ClusterView) -> list[Manifest]:
    """The worker ServiceAccounts the shell made itself (not being deleted), by name."""
    accounts = cluster.list(
        "v1",
        "ServiceAccount",
        ident.namespace,
        {LABEL_ROLE: ROLE_WORKER, LABEL_SHELL_UID: ident.uid},
    )
    return sorted(
        (a for a in accounts if not _deleting(a)), key=lambda a: str(a["metadata"]["name"])
    )


def pending_account(
    ident: ShellIdentity, accounts: list[Manifest], bound: str | None, cluster: ClusterView
) -> str | None:
    """The name of an account of the shell whose pod is still to be made (the bound one
    first): a planner that made the account but not yet the pod goes on with it."""
    names = [str(a["metadata"]["name"]) for a in accounts]
    ordered = ([bound] if bound in names else []) + [n for n in names if n != bound]
    for name in ordered:
        if cluster.get("v1", "Pod", ident.namespace, name) is None and not account_spent(
            name, ident.namespace, cluster
        ):
            return name
    return None


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
    # The shell becomes the pod's only owner: with the worker's ServiceAccount still an owner,
    # deleting the shell would leave the pod (a dependent goes only when all owners are gone).
    claimed["metadata"]["ownerReferences"] = [ident.owner_reference()]
    claimed["metadata"]["resourceVersion"] = idle["metadata"].get("resourceVersion", "")
    return claimed


def shell_pod(pod: Manifest, ident: ShellIdentity, name: str, key: PoolKey) -> Manifest:
    """A pod made for this shell alone (a cold pod, or a warm worker made on demand), running
    as the worker ServiceAccount ``name``."""
    out = decorate(
        pod,
        ident,
        name=name,
        extra_labels={
            LABEL_ROLE: ROLE_WORKER,
            LABEL_STATE: STATE_CLAIMED,
            LABEL_POOL: key.hash,
        },
    )
    spec = out.setdefault("spec", {})
    spec["serviceAccountName"] = name
    spec.pop("serviceAccount", None)
    return out


def session_ref(pod_name: str, namespace: str) -> ObjectRef:
    """The session Secret of a worker."""
    return ObjectRef("v1", "Secret", namespace, session_secret_name(pod_name))
