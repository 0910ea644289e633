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


class Authorizer:
    """Decides requests from the Role/ClusterRole objects stored in the sandbox."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def _rules(self, user: UserInfo, namespace: str) -> Iterable[dict[str, Any]]:
        store = self.cluster.store
        for binding in store.items(f"clusterrolebindings.{RBAC}", None):
            if any(_subject_matches(s, user, "") for s in binding.get("subjects") or ()):
                yield from self._role_rules(binding.get("roleRef") or {}, "")
        if namespace:
            for binding in store.items(f"rolebindings.{RBAC}", namespace):
                if any(_subject_matches(s, user, namespace) for s in binding.get("subjects") or ()):
                    yield from self._role_rules(binding.get("roleRef") or {}, namespace)

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
