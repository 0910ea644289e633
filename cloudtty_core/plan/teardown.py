"""Removing what a shell made: when it ends (Completed, Failed) and when it is deleted.

Owned objects would also go by garbage collection, but deleting them explicitly makes a
finished shell stop serving at once, and covers objects in other namespaces (which owner
references cannot reach). Shared routes are given back through the exposure backend.
"""

from __future__ import annotations

from collections.abc import Iterable

from cloudtty_core.backends import (
    ClusterView,
    ExposureRequest,
    KindRef,
    ObjectRef,
    OperatorSettings,
    WorkerRef,
)
from cloudtty_core.model import CloudShell, Manifest
from cloudtty_core.registry import BackendNotInstalled, BackendRegistry

from .identity import account_ref
from .names import ShellIdentity, service_name, worker_selector
from .worker import shell_pods

__all__ = ["BASE_KINDS", "made_objects", "release_shared", "teardown"]

BASE_KINDS: tuple[KindRef, ...] = (
    KindRef("v1", "Pod", "pods"),
    KindRef("v1", "Secret", "secrets"),
    KindRef("v1", "Service", "services"),
    KindRef("v1", "ServiceAccount", "serviceaccounts"),
    KindRef("rbac.authorization.k8s.io/v1", "Role", "roles"),
    KindRef("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    KindRef("v1", "ConfigMap", "configmaps"),
)
"""Kinds the operator itself makes for a shell; exposure backends add their watched kinds."""


def _kinds(registry: BackendRegistry) -> list[KindRef]:
    seen: dict[tuple[str, str], KindRef] = {(k.api_version, k.kind): k for k in BASE_KINDS}
    for backend in registry.exposures():
        for kind in backend.watched_kinds:
            seen.setdefault((kind.api_version, kind.kind), kind)
    return list(seen.values())


def made_objects(
    ident: ShellIdentity, cluster: ClusterView, registry: BackendRegistry
) -> list[ObjectRef]:
    """Every object labelled as made for this shell that is not already being deleted, the
    pool workers it claimed (their pods carry the pool's labels, not the shell's), and the
    ServiceAccount of each of its workers (a worker claimed from the warm pool keeps the
    account the pool made; deleting it takes the worker's Role and RoleBinding along).

    Accounts come first: a worker's token must stop opening its session as early as possible.
    """
    refs: list[ObjectRef] = []
    accounts: list[ObjectRef] = []
    for kind in _kinds(registry):
        if not cluster.has_api(kind.api_version, kind.kind):
            continue
        for obj in cluster.list(kind.api_version, kind.kind, None, ident.selector()):
            if (obj.get("metadata") or {}).get("deletionTimestamp"):
                continue
            refs.append(ObjectRef.of(obj))
    for pod in shell_pods(ident, cluster):
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        refs.append(ObjectRef.of(pod))
        account = account_ref(pod, cluster)
        if account is not None:
            accounts.append(account)
    accounts = sorted(set(accounts))
    return accounts + sorted(r for r in set(refs) if r not in accounts)


def release_shared(
    shell: CloudShell | None,
    ident: ShellIdentity,
    cluster: ClusterView,
    registry: BackendRegistry,
    settings: OperatorSettings,
    image_port: int = 0,
) -> tuple[tuple[Manifest, ...], str | None]:
    """Shared objects with the shell's entries removed, and a warning when that is impossible."""
    if shell is None:
        return (), None
    try:
        backend = registry.exposure(shell.spec.exposure_mode)
    except BackendNotInstalled as error:
        return (), f"cannot release shared routes: {error}"
    worker = WorkerRef(
        shell.status.worker or "",
        ident.namespace,
        image_port,
        service_name(ident.name),
        worker_selector(shell.status.worker or ""),
    )
    return tuple(backend.release(ExposureRequest(shell, worker, cluster, settings))), None


def teardown(
    shell: CloudShell | None,
    ident: ShellIdentity,
    cluster: ClusterView,
    registry: BackendRegistry,
    settings: OperatorSettings,
    keep: Iterable[ObjectRef] = (),
) -> tuple[tuple[Manifest, ...], tuple[ObjectRef, ...], str | None]:
    """(shared objects to update, objects to delete, warning) to remove what the shell made."""
    updates, warning = release_shared(shell, ident, cluster, registry, settings)
    kept = set(keep)
    deletes = tuple(r for r in made_objects(ident, cluster, registry) if r not in kept)
    return updates, deletes, warning
