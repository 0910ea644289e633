"""Authorization for the opt-in RBAC mode: Roles, ClusterRoles and their bindings evaluated the
way the API server's RBAC authorizer does (verbs, API groups, resources and subresources,
resourceNames, namespaces; cluster-admin through the system:masters group)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from .auth import UserInfo
from .cluster import Cluster
from .errors import ApiError
from .watchcache import Event

RBAC = "rbac.authorization.k8s.io"
_NAMELESS_VERBS = frozenset({"create", "list", "watch", "deletecollection"})


@attrs.frozen
class Request:
    """The attributes of one resource request that RBAC decides on."""

    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""


def _subject_matches(subject: dict[str, Any], user: UserInfo, binding_ns: str) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return subject.get("name") == user.name
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return user.name == f"system:serviceaccount:{ns}:{subject.get('name')}"
    return False


def _rule_allows(rule: dict[str, Any], req: Request) -> bool:
    verbs = rule.get("verbs") or ()
    if "*" not in verbs and req.verb not in verbs:
        return False
    groups = rule.get("apiGroups") or ()
    if "*" not in groups and req.group not in groups:
        return False
    resources = rule.get("resources") or ()
    wanted = f"{req.resource}/{req.subresource}" if req.subresource else req.resource
    if not (
        "*" in resources
        or wanted in resources
        or (req.subresource and f"*/{req.subresource}" in resources)
    ):
        return False
    names = rule.get("resourceNames") or ()
    if names:
        if req.verb in _NAMELESS_VERBS and not req.name:
            return False
        return req.name in names
    return True


def _principals(binding: dict[str, Any], binding_ns: str) -> set[tuple[str, str]]:
    """The (User|Group, name) pairs a binding's subjects grant to; a ServiceAccount subject is
    the user ``system:serviceaccount:<namespace>:<name>``."""
    out = set()
    for subject in binding.get("subjects") or ():
        if not isinstance(subject, dict):
            continue
        kind, name = subject.get("kind"), subject.get("name")
        if kind in ("User", "Group"):
            out.add((kind, str(name)))
        elif kind == "ServiceAccount":
            ns = subject.get("namespace") or binding_ns
            out.add(("User", f"system:serviceaccount:{ns}:{name}"))
    return out


class Authorizer:
    """Decides requests from the Role/ClusterRole objects stored in the sandbox.

    Bindings are indexed by the users and groups they name, so a decision reads only the
    bindings of the requester, however many bindings are stored.
    """

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._by_principal: dict[tuple[str, str], set[tuple[str, str, str]]] = {}
        self._principals_of: dict[tuple[str, str, str], set[tuple[str, str]]] = {}
        for storage in (f"clusterrolebindings.{RBAC}", f"rolebindings.{RBAC}"):
            for binding in cluster.store.items(storage, None):
                self._index(storage, binding, deleted=False)
            cluster.store.listen(storage, self._on_event)

    def _on_event(self, storage: str, event: Event) -> None:
        self._index(storage, event.obj, deleted=event.type == "DELETED")

    def _index(self, storage: str, binding: dict[str, Any], deleted: bool) -> None:
        meta = binding["metadata"]
        ns = meta.get("namespace") or ""
        where = (storage, ns, meta["name"])
        new = set() if deleted else _principals(binding, ns)
        old = self._principals_of.pop(where, set())
        for principal in old - new:
            holders = self._by_principal.get(principal)
            if holders is not None:
                holders.discard(where)
                if not holders:
                    del self._by_principal[principal]
        for principal in new:
            self._by_principal.setdefault(principal, set()).add(where)
        if new:
            self._principals_of[where] = new

    def _rules(self, user: UserInfo, namespace: str) -> Iterable[dict[str, Any]]:
        store = self.cluster.store
        principals = [("User", user.name), *(("Group", g) for g in user.groups)]
        found: set[tuple[str, str, str]] = set()
        for principal in principals:
            found.update(self._by_principal.get(principal, ()))
        for storage, ns, name in sorted(found):
            if ns and ns != namespace:
                continue  # a RoleBinding grants only in its own namespace
            binding = store.get(storage, ns, name)
            if binding is None:
                continue
            if any(_subject_matches(s, user, ns) for s in binding.get("subjects") or ()):
                yield from self._role_rules(binding.get("roleRef") or {}, ns)

    def rules_of(self, user: UserInfo, namespace: str) -> list[dict[str, Any]]:
        """Every rule granted to ``user`` in ``namespace`` ("" for the cluster scope: only
        ClusterRoleBindings count there)."""
        return list(self._rules(user, namespace))

    def _role_rules(self, ref: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
        if ref.get("kind") == "ClusterRole":
            role = self.cluster.find(f"clusterroles.{RBAC}", "", ref.get("name", ""))
        elif ref.get("kind") == "Role" and namespace:
            role = self.cluster.find(f"roles.{RBAC}", namespace, ref.get("name", ""))
        else:
            role = None
        return list((role or {}).get("rules") or ())

    def allowed(self, user: UserInfo, req: Request) -> bool:
        if user.is_admin:
            return True
        return any(_rule_allows(rule, req) for rule in self._rules(user, req.namespace))

    def check(self, user: UserInfo, req: Request) -> None:
        """Raise 403 Forbidden with the API server's message when ``req`` is not allowed."""
        if self.allowed(user, req):
            return
        qualified = f"{req.resource}.{req.group}" if req.group else req.resource
        what = f'{qualified} "{req.name}"' if req.name else qualified
        resource = f"{req.resource}/{req.subresource}" if req.subresource else req.resource
        where = f' in the namespace "{req.namespace}"' if req.namespace else " at the cluster scope"
        raise ApiError(
            403,
            f'{what} is forbidden: User "{user.name}" cannot {req.verb} resource "{resource}" '
            f'in API group "{req.group}"{where}',
            reason="Forbidden",
            details={"name": req.name, "group": req.group, "kind": req.resource},
        )
