"""The identity of a terminal pod: a ServiceAccount of its own, allowed to read one Secret.

Whoever uses a terminal runs as the same user as its terminal server, so they can read the
pod's ServiceAccount token. That token must therefore open nothing but the worker's own session
Secret: every worker gets its own ServiceAccount ``<worker>`` and a Role + RoleBinding
``<worker>`` allowing get and watch on the Secret ``<worker>-session`` only (what the worker
contract's reader does: a get, then a watch with ``fieldSelector=metadata.name=...``, which the
API server authorizes against ``resourceNames``). Names come from a random source, so no shell
ever gets a name that served another.

A worker of the warm pool is made in three passes (see :mod:`.pool`), each once the previous
one is observed (an owner reference needs the owner's uid, and the API server refuses a pod
whose ServiceAccount does not exist yet): the ServiceAccount; its idle session Secret; then the
Pod (owned by the session Secret, so that it goes with the shell that claims it), the Role and
the RoleBinding (owned by the account).

Deleting the account removes an idle worker entirely (garbage collection). An account alone is
*pending*: its pod is still to be made. An account that has a Role or RoleBinding but no pod is
*spent*: it had (or was about to get) a pod, and it is deleted, never given a second one. A pod
is only offered to shells once its Role and RoleBinding exist -- so a pod that could ever have
read a session always leaves its account spent.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Collection, Mapping
from typing import Any

from cloudtty_core.backends import ClusterView, ObjectRef
from cloudtty_core.model import Manifest

from .names import LABEL_MANAGED_BY, LABEL_ROLE, MANAGED_BY, ROLE_WORKER, session_secret_name

__all__ = [
    "RBAC_API",
    "WORKER_KINDS",
    "account_ref",
    "account_spent",
    "fresh_worker_name",
    "has_access",
    "owned_by",
    "random_name_suffix",
    "session_binding",
    "session_role",
    "worker_account",
    "worker_account_of",
    "worker_name",
]

RBAC_API = "rbac.authorization.k8s.io/v1"
WORKER_KINDS = (("v1", "ServiceAccount"), (RBAC_API, "Role"), (RBAC_API, "RoleBinding"))
"""The kinds making up a worker's identity (all named like the worker)."""

_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
SUFFIX_LENGTH = 10
_MAX_NAME = 63  # a pod name is also its host name: one DNS label
_MAX_DRAWS = 100


def random_name_suffix() -> str:
    """A random suffix for a worker name (10 characters of [a-z0-9]: about 51 bits)."""
    return "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(SUFFIX_LENGTH))


def worker_name(prefix: str, suffix: str) -> str:
    """``<prefix>-<suffix>``, shortened to one DNS label (the suffix is kept whole)."""
    room = _MAX_NAME - len(suffix) - 1
    head = prefix[:room].rstrip("-") or "worker"
    return f"{head}-{suffix}"


def fresh_worker_name(
    prefix: str,
    namespace: str,
    name_source: Callable[[], str],
    cluster: ClusterView,
    taken: Collection[str] = (),
) -> str:
    """A new worker name no pod, ServiceAccount, Role or RoleBinding of ``namespace`` has (nor
    one of ``taken``): the random source is trusted to differ, and checked all the same."""
    for _ in range(_MAX_DRAWS):
        name = worker_name(prefix, name_source())
        if name not in taken and not any(
            cluster.get(api_version, kind, namespace, name) is not None
            for api_version, kind in (("v1", "Pod"), *WORKER_KINDS)
        ):
            return name
    raise RuntimeError(f"the name source gave {_MAX_DRAWS} names in use in a row")


def _meta(
    name: str, namespace: str, labels: Mapping[str, str], owner: Manifest | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {**labels, LABEL_MANAGED_BY: MANAGED_BY, LABEL_ROLE: ROLE_WORKER},
    }
    if owner is not None:
        meta["ownerReferences"] = [_controller_reference(owner)]
    return meta


def worker_account(
    name: str, namespace: str, labels: Mapping[str, str], *, reads_session: bool
) -> Manifest:
    """The worker's ServiceAccount. Its token is mounted only when the worker reads its
    session through the API (warm workers); a cold pod gets no token at all."""
    account: Manifest = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(name, namespace, labels),
    }
    if not reads_session:
        account["automountServiceAccountToken"] = False
    return account


def session_role(
    name: str, namespace: str, labels: Mapping[str, str], *, owner: Manifest | None = None
) -> Manifest:
    """The Role letting the worker read its own session Secret and nothing else; with
    ``owner``, as :func:`owned_by` would make it (built at once: the pool builds one per
    worker at every pass)."""
    return {
        "apiVersion": RBAC_API,
        "kind": "Role",
        "metadata": _meta(name, namespace, labels, owner),
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": [session_secret_name(name)],
                "verbs": ["get", "watch"],
            }
        ],
    }


def session_binding(
    name: str, namespace: str, labels: Mapping[str, str], *, owner: Manifest | None = None
) -> Manifest:
    """The RoleBinding of the worker's Role to the worker's ServiceAccount; with ``owner``,
    as :func:`owned_by` would make it."""
    return {
        "apiVersion": RBAC_API,
        "kind": "RoleBinding",
        "metadata": _meta(name, namespace, labels, owner),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }


def owned_by(manifest: Manifest, owner: Manifest) -> Manifest:
    """``manifest`` with ``owner`` (an observed object: it has a uid) as its controller.

    No ``blockOwnerDeletion``: nothing waits for a worker's parts to go, and setting it would
    need rights on the owner's finalizers.
    """
    out = dict(manifest)
    out["metadata"] = {
        **(manifest.get("metadata") or {}),
        "ownerReferences": [_controller_reference(owner)],
    }
    return out


def _controller_reference(owner: Manifest) -> dict[str, Any]:
    meta = owner.get("metadata") or {}
    return {
        "apiVersion": owner.get("apiVersion", "v1"),
        "kind": owner.get("kind", "ServiceAccount"),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "controller": True,
    }


def _get(cluster: ClusterView, api_version: str, kind: str, ns: str, name: str) -> Manifest | None:
    found = cluster.get(api_version, kind, ns, name)
    if found is None or (found.get("metadata") or {}).get("deletionTimestamp"):
        return None
    return found


def _is_worker_account(account: Manifest | None) -> bool:
    labels = ((account or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(LABEL_MANAGED_BY) == MANAGED_BY and labels.get(LABEL_ROLE) == ROLE_WORKER


def account_spent(name: str, namespace: str, cluster: ClusterView) -> bool:
    """Whether the worker ``name`` was granted its session (Role or RoleBinding exists): once
    its pod is gone, its account must never serve again."""
    return any(
        cluster.get(api_version, kind, namespace, name) is not None
        for api_version, kind in WORKER_KINDS[1:]
    )


def worker_account_of(pod: Mapping[str, Any], cluster: ClusterView) -> Manifest | None:
    """The worker ServiceAccount made for ``pod`` (named like it, labelled as a worker's);
    None for pods running as any other account (``default``, an old shared one)."""
    meta = pod.get("metadata") or {}
    name = str(meta.get("name") or "")
    if (pod.get("spec") or {}).get("serviceAccountName") != name:
        return None
    account = cluster.get("v1", "ServiceAccount", str(meta.get("namespace") or ""), name)
    return account if _is_worker_account(account) else None


def account_ref(pod: Mapping[str, Any], cluster: ClusterView) -> ObjectRef | None:
    """The reference of ``pod``'s worker ServiceAccount when it exists."""
    account = worker_account_of(pod, cluster)
    return ObjectRef.of(account) if account is not None else None


def has_access(pod: Mapping[str, Any], cluster: ClusterView) -> bool:
    """Whether ``pod`` runs as its own worker account, and that account may read its session
    (account, Role and RoleBinding all exist)."""
    account = worker_account_of(pod, cluster)
    if account is None or (account.get("metadata") or {}).get("deletionTimestamp"):
        return False
    meta = pod.get("metadata") or {}
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
    # The account is read already; its Role and RoleBinding are named like it.
    return all(
        _get(cluster, api_version, kind, namespace, name) is not None
        for api_version, kind in WORKER_KINDS[1:]
    )
