"""RBAC's escalation prevention, as the API server applies it to Roles, ClusterRoles and their
bindings: nobody grants a permission they do not hold.

- A Role or ClusterRole may be created or changed only by someone who holds every permission it
  grants (in its namespace; cluster-wide for a ClusterRole), or who may ``escalate`` roles.
- A RoleBinding or ClusterRoleBinding may be created or changed only by someone who holds every
  permission of the role it refers to (in the binding's namespace; cluster-wide for a
  ClusterRoleBinding), or who may ``bind`` that role. A role that does not exist grants nothing
  anyone could be checked against: without ``bind`` that is refused too.

Requests from ``system:masters`` and the sandbox's own writes (no requester) are not checked.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .auth import UserInfo
from .errors import ApiError, Cause
from .rbac import RBAC, Authorizer, Request
from .strategy import Strategy

if TYPE_CHECKING:
    from .cluster import Cluster
    from .resources import ResourceType

__all__ = ["REQUESTER", "NoEscalation", "covers", "no_escalation_strategies"]

REQUESTER: contextvars.ContextVar[UserInfo | None] = contextvars.ContextVar(
    "sandbox_requester", default=None
)
"""Who sent the request being served (set by the API server for each request in RBAC mode)."""


@attrs.frozen
class _Atom:
    """One permission: a verb on one resource (or non-resource URL), perhaps one name."""

    verb: str
    group: str = ""
    resource: str = ""
    name: str = ""
    url: str = ""

    def __str__(self) -> str:
        if self.url:
            return f'{{NonResourceURLs:["{self.url}"], Verbs:["{self.verb}"]}}'
        names = f', ResourceNames:["{self.name}"]' if self.name else ""
        return (
            f'{{APIGroups:["{self.group}"], Resources:["{self.resource}"]{names}, '
            f'Verbs:["{self.verb}"]}}'
        )


def _atoms(rule: dict[str, Any]) -> Iterator[_Atom]:
    verbs = rule.get("verbs") or ()
    for url in rule.get("nonResourceURLs") or ():
        for verb in verbs:
            yield _Atom(verb, url=str(url))
    names = rule.get("resourceNames") or ("",)
    for group in rule.get("apiGroups") or ():
        for resource in rule.get("resources") or ():
            for verb in verbs:
                for name in names:
                    yield _Atom(verb, str(group), str(resource), str(name))


def _has(values: Sequence[Any], wanted: str) -> bool:
    return "*" in values or wanted in values


def _rule_covers(owner: dict[str, Any], atom: _Atom) -> bool:
    if not _has(owner.get("verbs") or (), atom.verb):
        return False
    if atom.url:
        return any(
            url == "*" or url == atom.url or (url.endswith("*") and atom.url.startswith(url[:-1]))
            for url in owner.get("nonResourceURLs") or ()
        )
    if not _has(owner.get("apiGroups") or (), atom.group):
        return False
    resources = owner.get("resources") or ()
    _, slash, subresource = atom.resource.partition("/")
    if not (_has(resources, atom.resource) or (slash and f"*/{subresource}" in resources)):
        return False
    names = owner.get("resourceNames") or ()
    return not names or (bool(atom.name) and atom.name in names)


def covers(owner: Iterable[dict[str, Any]], servant: Iterable[dict[str, Any]]) -> list[str]:
    """The permissions of ``servant`` rules that no ``owner`` rule grants (none: covered).

    A wildcard is only covered by the same wildcard, as the API server decides it.
    """
    owned = list(owner)
    missing: list[str] = []
    for rule in servant:
        for atom in _atoms(rule):
            if not any(_rule_covers(o, atom) for o in owned):
                missing.append(str(atom))
    return missing


class NoEscalation(Strategy):
    """Refuses a Role, ClusterRole or binding that would grant more than its writer holds.

    :param authorizer: the sandbox's RBAC authorizer (who holds what).
    :param kind: ``Role``, ``ClusterRole``, ``RoleBinding`` or ``ClusterRoleBinding``.
    """

    def __init__(self, authorizer: Authorizer, kind: str) -> None:
        self.authorizer = authorizer
        self.kind = kind

    def validate(
        self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> list[Cause]:
        user = REQUESTER.get()
        if user is None or user.is_admin:
            return []
        meta = obj.get("metadata") or {}
        namespace = str(meta.get("namespace") or "")
        name = str(meta.get("name") or "")
        if self.kind in ("Role", "ClusterRole"):
            resource = "roles" if self.kind == "Role" else "clusterroles"
            if self._may(user, "escalate", resource, namespace, name):
                return []
            rules = list(obj.get("rules") or ())
        else:
            ref = obj.get("roleRef") or {}
            resource = "roles" if ref.get("kind") == "Role" else "clusterroles"
            role_name = str(ref.get("name") or "")
            if self._may(user, "bind", resource, namespace, role_name):
                return []
            role = cluster.find(
                f"{resource}.{RBAC}", namespace if resource == "roles" else "", role_name
            )
            if role is None:
                raise _forbidden(rtype, name, f'{resource}.{RBAC} "{role_name}" not found')
            rules = list(role.get("rules") or ())
        missing = covers(self.authorizer.rules_of(user, namespace), rules)
        if missing:
            groups = " ".join(f'"{g}"' for g in user.groups)
            raise _forbidden(
                rtype,
                name,
                f'user "{user.name}" (groups=[{groups}]) is attempting to grant RBAC permissions '
                "not currently held:\n" + "\n".join(missing),
            )
        return []

    def _may(self, user: UserInfo, verb: str, resource: str, namespace: str, name: str) -> bool:
        return self.authorizer.allowed(user, Request(verb, RBAC, resource, "", namespace, name))


def no_escalation_strategies(authorizer: Authorizer) -> dict[str, Strategy]:
    """The strategies of the four RBAC kinds, by storage name, checked by ``authorizer``."""
    return {
        f"{plural}.{RBAC}": NoEscalation(authorizer, kind)
        for kind, plural in (
            ("Role", "roles"),
            ("ClusterRole", "clusterroles"),
            ("RoleBinding", "rolebindings"),
            ("ClusterRoleBinding", "clusterrolebindings"),
        )
    }


def _forbidden(rtype: ResourceType, name: str, why: str) -> ApiError:
    return ApiError(
        403,
        f'{rtype.plural}.{RBAC} "{name}" is forbidden: {why}',
        reason="Forbidden",
        details={"name": name, "group": RBAC, "kind": rtype.plural},
    )
