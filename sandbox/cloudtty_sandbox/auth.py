"""Authentication for the opt-in RBAC mode: bearer tokens of the admin, of configured static
users, and ServiceAccount tokens the sandbox issued (still valid, account and bound pod alive)."""

from __future__ import annotations

from typing import Any

import attrs

from .cluster import Cluster
from .tokens import TokenIssuer

ADMIN_USER = "sandbox-admin"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"


@attrs.frozen
class UserInfo:
    """Who is asking: a user name and its groups (ServiceAccounts included)."""

    name: str
    groups: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return MASTERS in self.groups


@attrs.frozen
class StaticUser:
    """A user known by a fixed bearer token (configured in ``SandboxConfig.users``)."""

    token: str
    name: str
    groups: tuple[str, ...] = ()


class Authenticator:
    """Maps an ``Authorization: Bearer …`` header to a ``UserInfo`` (None: 401)."""

    def __init__(self, cluster: Cluster, tokens: TokenIssuer, users: list[StaticUser]) -> None:
        self.cluster = cluster
        self.tokens = tokens
        self.users = {u.token: UserInfo(u.name, (*u.groups, AUTHENTICATED)) for u in users}
        self.admin = UserInfo(ADMIN_USER, (MASTERS, AUTHENTICATED))

    def authenticate(self, header: str | None) -> UserInfo | None:
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None  # the scheme is case-insensitive: the in-cluster loader sends "bearer"
        token = token.strip()
        if token == self.tokens.admin_token:
            return self.admin
        if token in self.users:
            return self.users[token]
        claims = self.tokens.verify(token)
        if claims is None:
            return None
        return self._service_account(claims)

    def _service_account(self, claims: dict[str, Any]) -> UserInfo | None:
        info = claims.get("kubernetes.io") or {}
        namespace = info.get("namespace")
        account = info.get("serviceaccount") or {}
        sa = self.cluster.find("serviceaccounts", namespace or "", account.get("name", ""))
        if sa is None or sa["metadata"]["uid"] != account.get("uid"):
            return None  # the account was deleted (or re-created): its tokens die with it
        pod = info.get("pod")
        if pod:
            live = self.cluster.find("pods", namespace, pod.get("name", ""))
            if live is None or live["metadata"]["uid"] != pod.get("uid"):
                return None  # a pod-bound token ends with its pod
        name = f"system:serviceaccount:{namespace}:{account['name']}"
        return UserInfo(
            name, ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED)
        )
