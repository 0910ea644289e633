"""The warm pool: idle workers kept ready per pool key, and the view shells claim from.

The pool's unit is a worker's ServiceAccount (see :mod:`.identity`): one account per worker,
named ``cloudtty-<image backend>-<random>``. A worker is made in three passes, each once the
previous one is observed (an owner reference needs the owner's uid):

1. the ServiceAccount (labelled with its pool);
2. the worker's idle session Secret ``<worker>-session`` (no session yet, ``state=idle``),
   owned by the account;
3. the Pod (owned by the session Secret), the Role and the RoleBinding (owned by the account).

A shell claims the worker by writing the session Secret (see :mod:`.worker`): it becomes the
Secret's only owner, and the pod goes with the Secret. Workers are single-use: a claimed
worker belongs to its shell and goes with it, so the pool only ever makes idle workers (up to
``minIdle``), trims surplus ones, removes idle workers that failed, and deletes the accounts of
workers that are gone.

The pool pass reads only the pool's own workers (:meth:`PoolView.unclaimed
<cloudtty_core.PoolView.unclaimed>`): a claimed worker is left to the shell it serves, whose
pass keeps its Role and RoleBinding (:func:`claimed_worker_grants`). So a pass costs what the
pool holds, not what it has handed out -- thousands of served shells add nothing to it. Once
the shell is gone, and its session Secret with it, the worker is the pool's again: what is
left of it (its account) is deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

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

from .identity import (
    account_spent,
    fresh_worker_name,
    has_access,
    owned_by,
    random_name_suffix,
    session_binding,
    session_role,
    worker_account,
)
from .names import (
    LABEL_MANAGED_BY,
    LABEL_POOL,
    LABEL_ROLE,
    LABEL_SHELL_UID,
    LABEL_STATE,
    LABEL_WORKER,
    MANAGED_BY,
    ROLE_WORKER,
    STATE_CLAIMED,
    STATE_IDLE,
    session_secret_name,
)
from .objects import diff_objects
from .types import Plan, PoolView
from .worker import is_ready

__all__ = [
    "REFILL_BATCH",
    "ClusterPoolView",
    "claimable_worker",
    "claimed_worker_grants",
    "idle_pods",
    "idle_session",
    "plan_pool",
    "pool_labels",
    "session_state",
]


REFILL_BATCH = 50
"""New workers one pass starts at most. The rest follow in later passes (the new accounts
queue the pool again), so a large refill -- after a burst of claims -- runs beside the shells'
own writes instead of queueing a thousand creates ahead of them."""


def pool_labels(key: PoolKey) -> dict[str, str]:
    """Labels of every part of a worker of ``key``: its pod, account, Role and RoleBinding
    keep them for life (a claim writes the session Secret only)."""
    return {LABEL_MANAGED_BY: MANAGED_BY, LABEL_ROLE: ROLE_WORKER, LABEL_POOL: key.hash}


def _meta(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (obj or {}).get("metadata") or {}


def _deleting(obj: Mapping[str, Any] | None) -> bool:
    return bool(_meta(obj).get("deletionTimestamp"))


def _alive(pod: Manifest) -> bool:
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    return not _deleting(pod) and phase in ("Pending", "Running")


def _name(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("name") or "")


def session_state(pod_name: str, namespace: str, cluster: ClusterView) -> str | None:
    """``idle`` or ``claimed`` from the worker's session Secret; None without one."""
    secret = cluster.get("v1", "Secret", namespace, session_secret_name(pod_name))
    if secret is None or _deleting(secret):
        return None
    return str((_meta(secret).get("labels") or {}).get(LABEL_STATE) or "")


def idle_session(pod: Manifest, cluster: ClusterView) -> Manifest | None:
    """The idle session Secret of a pool worker (what a claim writes), or None when the worker
    has none or it is claimed or going."""
    meta = _meta(pod)
    ns = str(meta.get("namespace") or "")
    secret = cluster.get("v1", "Secret", ns, session_secret_name(_name(pod)))
    if secret is None or _deleting(secret):
        return None
    if (_meta(secret).get("labels") or {}).get(LABEL_STATE) != STATE_IDLE:
        return None
    return secret


def idle_pods(key: PoolKey, pool: PoolView) -> list[Manifest]:
    """Every pool worker pod of ``key`` not claimed by a shell (starting, ready or broken),
    sorted by name: the pool's own pods (:meth:`PoolView.unclaimed
    <cloudtty_core.PoolView.unclaimed>`) but those labelled for a shell."""
    return [
        p
        for p in pool.unclaimed(key, "v1", "Pod")
        if LABEL_SHELL_UID not in (_meta(p).get("labels") or {})
    ]


class ClusterPoolView:
    """The :class:`~cloudtty_core.PoolView` read straight from a cluster view (a claimed
    worker is found by reading its session Secret)."""

    def __init__(self, cluster: ClusterView) -> None:
        self.cluster = cluster

    def unclaimed(self, key: PoolKey, api_version: str, kind: str) -> list[Manifest]:
        """See :meth:`PoolView.unclaimed <cloudtty_core.PoolView.unclaimed>`."""
        ns = key.namespace
        return sorted(
            (
                obj
                for obj in self.cluster.list(api_version, kind, ns, pool_labels(key))
                if session_state(_name(obj), ns, self.cluster) != STATE_CLAIMED
            ),
            key=_name,
        )

    def idle_workers(self, key: PoolKey) -> Iterator[Manifest]:
        """Ready idle workers of ``key`` that can read their session and whose idle session
        Secret a claim can write, oldest name first -- lazily, from the idle session Secrets
        (fewer than the pool's pods, which include the claimed ones): a planner that takes the
        first one checks one worker, not the whole pool."""
        ns = key.namespace
        idle = self.cluster.list("v1", "Secret", ns, {**pool_labels(key), LABEL_STATE: STATE_IDLE})
        for session in idle:
            pod = claimable_worker(session, key, self.cluster)
            if pod is not None:
                yield pod


def claimable_worker(session: Manifest, key: PoolKey, cluster: ClusterView) -> Manifest | None:
    """The worker pod of the idle session Secret ``session`` of pool ``key`` when a shell can
    claim it: Ready, alive, unclaimed, owned by that Secret and able to read its session."""
    meta = _meta(session)
    worker = str((meta.get("labels") or {}).get(LABEL_WORKER) or "")
    pod = cluster.get("v1", "Pod", key.namespace, worker) if worker else None
    if pod is None or meta.get("deletionTimestamp"):
        return None
    pod_meta = _meta(pod)
    pod_labels = pod_meta.get("labels") or {}
    if (
        pod_meta.get("labels", {}).get(LABEL_POOL) == key.hash
        and LABEL_SHELL_UID not in pod_labels
        and any(o.get("uid") == meta.get("uid") for o in pod_meta.get("ownerReferences") or ())
        and _alive(pod)
        and is_ready(pod)
        and has_access(pod, cluster)
    ):
        return pod
    return None


def plan_pool(
    key: PoolKey,
    cluster: ClusterView,
    pool: PoolView,
    settings: OperatorSettings,
    registry: BackendRegistry,
    name_source: Callable[[], str] = random_name_suffix,
) -> Plan:
    """Keep ``settings.min_idle_for(namespace)`` idle workers of ``key``.

    Each worker is made in three passes (see the module), at most :data:`REFILL_BATCH` new
    ones per pass. Accounts whose pod is still to be
    made and starting workers count (they will be Ready soon). Failed or finished idle workers
    are deleted and replaced; surplus idle workers (the setting went down) are deleted,
    unfinished and starting ones first; accounts of workers that are gone are deleted; idle
    pods that do not run as an account of their own are deleted.
    An image backend that is not installed or cannot start warm has no pool. Claimed workers
    are not the pool's (see the module): ``pool`` lists the others.

    :param name_source: makes the random part of new workers' names (tests pass a
        deterministic one, so that a plan is a function of its inputs).
    """
    try:
        image = registry.image(key.image_backend)
    except BackendNotInstalled:
        return Plan()
    ns = key.namespace
    labels = pool_labels(key)
    # (name, account) by name; each name read once, as everything below goes by it.
    accounts = [
        (_name(a), a) for a in pool.unclaimed(key, "v1", "ServiceAccount") if not _deleting(a)
    ]
    deletes: list[ObjectRef] = []
    # Workers (name, account) whose Role and RoleBinding must exist. They are built only while
    # being compared, at the end: thousands of objects kept to the end of the pass outlive the
    # garbage collector's young generations, and every full collection walks them again.
    granted: list[tuple[str, Manifest]] = []
    pending: list[Manifest] = []  # accounts whose pod is still to be made
    idle: list[tuple[Manifest, Manifest]] = []  # (account, live idle pod)
    for name, account in accounts:
        pod = cluster.get("v1", "Pod", ns, name)
        state = session_state(name, ns, cluster)
        if pod is None or _deleting(pod):
            if pod is None and not account_spent(name, ns, cluster):
                pending.append(account)
            else:  # its pod is gone or going: the account never serves again
                deletes.append(ObjectRef.of(account))
            continue
        if not _alive(pod) or state is None:
            # Failed, finished, or its session Secret is gone (the pod goes with it).
            deletes += [ObjectRef.of(account), ObjectRef.of(pod)]
            continue
        idle.append((account, pod))
        granted.append((name, account))
    # Idle pods without an account of their own (or whose account is gone) cannot be trusted
    # with a session.
    mine = {name for name, _ in accounts}
    strays = [p for p in idle_pods(key, pool) if _without_own_account(p, mine)]
    deletes += [ObjectRef.of(p) for p in strays if ObjectRef.of(p) not in deletes]

    target = settings.min_idle_for(ns) if image.supports_warm_pool else 0
    creates: list[Manifest] = []
    have = len(pending) + len(idle)
    if have < target:
        prefix = dns_label(f"cloudtty-{key.image_backend}")
        made: list[str] = []
        for _ in range(min(target - have, REFILL_BATCH)):
            made.append(fresh_worker_name(prefix, ns, name_source, cluster, made))
            creates.append(worker_account(made[-1], ns, labels, reads_session=True))
    elif have > target:
        # Unfinished accounts first, then starting workers, then Ready ones; by name.
        ranked = [(0, a, None) for a in pending] + [(1 + is_ready(p), a, p) for a, p in idle]
        ranked.sort(key=lambda item: (item[0], _name(item[1])))
        for _, account, pod in ranked[: have - target]:
            deletes.append(ObjectRef.of(account))
            if pod is not None:
                deletes.append(ObjectRef.of(pod))
                granted = [(n, a) for n, a in granted if n != _name(account)]
            else:
                pending.remove(account)
    for account in pending:
        name = _name(account)
        session = cluster.get("v1", "Secret", ns, session_secret_name(name))
        if session is None:
            creates.append(_idle_session(name, key, account))
        elif not _deleting(session):
            pod = image.worker_pod(WorkerRequest(key, settings))
            creates.append(_idle_worker(pod, key, name, session))
            granted.append((name, account))
    grants = (grant for name, account in granted for grant in _grants(name, ns, labels, account))
    changes = diff_objects(cluster, grants)
    return Plan(
        creates=(*creates, *changes.creates),
        updates=changes.updates,
        deletes=tuple(dict.fromkeys(deletes)),
    )


def claimed_worker_grants(name: str, namespace: str, cluster: ClusterView) -> list[Manifest]:
    """The Role and RoleBinding a claimed pool worker ``name`` keeps while it serves its shell
    (the right to read its session, which the shell's pass may still change), as the pool
    made them: owned by the worker's account. None when the account is not a pool worker's
    or is going."""
    account = cluster.get("v1", "ServiceAccount", namespace, name)
    labels = _meta(account).get("labels") or {}
    if account is None or _deleting(account) or LABEL_POOL not in labels:
        return []
    pool = {k: labels[k] for k in (LABEL_MANAGED_BY, LABEL_ROLE, LABEL_POOL) if k in labels}
    return _grants(name, namespace, pool, account)


def _without_own_account(pod: Manifest, accounts: Collection[str]) -> bool:
    """Whether a pod (not being deleted) does not run as a worker account of its own name
    among ``accounts``."""
    meta = _meta(pod)
    name = str(meta.get("name") or "")
    return not meta.get("deletionTimestamp") and (
        name not in accounts or (pod.get("spec") or {}).get("serviceAccountName") != name
    )


def _grants(name: str, ns: str, labels: Mapping[str, str], account: Manifest) -> list[Manifest]:
    return [
        session_role(name, ns, labels, owner=account),
        session_binding(name, ns, labels, owner=account),
    ]


def _idle_session(name: str, key: PoolKey, account: Manifest) -> Manifest:
    """The session Secret of a new worker: no session yet, ``state=idle``."""
    return owned_by(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": session_secret_name(name),
                "namespace": key.namespace,
                "labels": {**pool_labels(key), LABEL_WORKER: name, LABEL_STATE: STATE_IDLE},
            },
        },
        account,
    )


def _idle_worker(pod: Manifest, key: PoolKey, name: str, session: Manifest) -> Manifest:
    meta = dict(pod.get("metadata") or {})
    meta.pop("generateName", None)
    meta["name"] = name
    meta["namespace"] = key.namespace
    meta["labels"] = {**(meta.get("labels") or {}), **pool_labels(key), LABEL_WORKER: name}
    spec = {**(pod.get("spec") or {}), "serviceAccountName": name}
    spec.pop("serviceAccount", None)
    return owned_by({**pod, "metadata": meta, "spec": spec}, session)
