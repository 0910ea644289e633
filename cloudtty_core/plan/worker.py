"""The terminal pod of a shell: finding it, claiming an idle warm worker, or making one.

A warm worker of the pool is claimed by writing its session Secret ``<worker>-session``: one
PUT, at the resourceVersion the planner saw (so two shells can never both get it), that carries
the session, the shell's labels and the shell as the Secret's only owner. The pod itself is
never written: it is owned by that Secret (see :mod:`.pool`), so it goes when the shell goes.
A worker the shell makes itself (the pool was empty, or the image cannot start warm) carries
the shell's labels and owner reference directly.

A shell's workers are found by label -- pods with ``cloudtty.io/shell-uid=<uid>``, and the
workers named by session Secrets with that label -- not only through ``status.worker``, so a
planner that crashed between the claim and the status write adopts the worker it claimed
instead of claiming a second one.

Every worker runs as a ServiceAccount of its own (see :mod:`.identity`). A worker the shell
makes itself has its account, Role and RoleBinding labelled and owned like the rest of the
shell's objects, all made in one plan (the runtime creates ServiceAccounts before anything
else: a pod is refused while its account does not exist).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from cloudtty_core.backends import ClusterView, ObjectRef, copy_json
from cloudtty_core.model import Manifest

from .identity import account_spent
from .names import (
    LABEL_POOL,
    LABEL_ROLE,
    LABEL_SHELL_UID,
    LABEL_STATE,
    LABEL_WORKER,
    ROLE_WORKER,
    STATE_CLAIMED,
    ShellIdentity,
    session_secret_name,
)
from .objects import merge, normalize

__all__ = [
    "WorkerObservation",
    "claim",
    "claimed_worker",
    "decorate",
    "ending_reason",
    "is_ready",
    "observe_workers",
    "own_accounts",
    "pending_account",
    "session_labels",
    "shell_pod",
    "shell_pods",
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
    podless_sessions: tuple[Manifest, ...] = ()
    """The shell's session Secrets whose worker pod is gone (not being deleted already)."""


def observe_workers(
    ident: ShellIdentity, bound: str | None, cluster: ClusterView
) -> WorkerObservation:
    """Sort the shell's pods into the serving one, an ended one, and stale ones."""
    pods, podless = _shell_workers(ident, cluster)
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
    return WorkerObservation(serving, ended, stale, podless)


def shell_pods(ident: ShellIdentity, cluster: ClusterView) -> list[Manifest]:
    """Every worker pod of the shell: those labelled with its uid (made for it) and the pool
    workers its session Secrets claimed (owned by those Secrets), by name."""
    return _shell_workers(ident, cluster)[0]


def _shell_workers(
    ident: ShellIdentity, cluster: ClusterView
) -> tuple[list[Manifest], tuple[Manifest, ...]]:
    """(the shell's worker pods by name, its session Secrets whose pod is gone)."""
    ns = ident.namespace
    labels = {LABEL_ROLE: ROLE_WORKER, LABEL_SHELL_UID: ident.uid}
    pods = {str(p["metadata"]["name"]): p for p in cluster.list("v1", "Pod", ns, labels)}
    podless: list[Manifest] = []
    for secret in cluster.list("v1", "Secret", ns, labels):
        meta = secret.get("metadata") or {}
        worker = str((meta.get("labels") or {}).get(LABEL_WORKER) or "")
        if not worker or worker in pods:
            continue
        pod = cluster.get("v1", "Pod", ns, worker)
        if pod is None:
            if not meta.get("deletionTimestamp"):
                podless.append(secret)
            continue
        owners = (pod.get("metadata") or {}).get("ownerReferences") or ()
        if any(o.get("uid") == meta.get("uid") for o in owners):
            pods[worker] = pod
    return [pods[name] for name in sorted(pods)], tuple(podless)


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


def session_labels(worker: str) -> dict[str, str]:
    """Labels of a worker's session Secret once it serves a shell (with the shell's own)."""
    return {LABEL_ROLE: ROLE_WORKER, LABEL_WORKER: worker, LABEL_STATE: STATE_CLAIMED}


def claim(idle_session: Manifest, session: Manifest, ident: ShellIdentity) -> Manifest:
    """The PUT that claims an idle warm worker for the shell: its idle session Secret
    ``idle_session`` (as observed) becoming ``session`` (the shell's session Secret), at the
    observed resourceVersion -- so two shells can never both get the worker."""
    claimed: Manifest = merge(idle_session, normalize(session))
    # The shell becomes the only owner: with the worker's ServiceAccount still an owner,
    # deleting the shell would leave the Secret -- and the pod it owns.
    claimed["metadata"]["ownerReferences"] = [ident.owner_reference()]
    claimed["metadata"]["resourceVersion"] = idle_session["metadata"].get("resourceVersion", "")
    return claimed


def claimed_worker(update: Manifest) -> str | None:
    """The worker an update claims (a session Secret turning ``claimed`` at a precondition),
    or None for any other update."""
    meta = update.get("metadata") or {}
    labels = meta.get("labels") or {}
    if (
        update.get("kind") != "Secret"
        or labels.get(LABEL_STATE) != STATE_CLAIMED
        or not labels.get(LABEL_POOL)
        or not meta.get("resourceVersion")
    ):
        return None
    worker = labels.get(LABEL_WORKER)
    return str(worker) if worker else None


def shell_pod(pod: Manifest, ident: ShellIdentity, name: str) -> Manifest:
    """A pod made for this shell alone (a cold pod, or a warm worker made on demand), running
    as the worker ServiceAccount ``name``."""
    out = decorate(
        pod,
        ident,
        name=name,
        extra_labels={LABEL_ROLE: ROLE_WORKER, LABEL_WORKER: name},
    )
    spec = out.setdefault("spec", {})
    spec["serviceAccountName"] = name
    spec.pop("serviceAccount", None)
    return out


def session_ref(pod_name: str, namespace: str) -> ObjectRef:
    """The session Secret of a worker."""
    return ObjectRef("v1", "Secret", namespace, session_secret_name(pod_name))
