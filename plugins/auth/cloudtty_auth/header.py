"""Auth mode ``header``: trust the user and groups an authenticating proxy puts in headers.

An auth proxy in front of the terminal (oauth2-proxy, an Ingress controller's external auth,
an Istio ext-authz filter) authenticates the user and passes the result in request headers:
``X-Forwarded-User`` and ``X-Forwarded-Groups`` (comma-separated) by default, as oauth2-proxy
sets them; ``spec.auth.userHeader`` / ``spec.auth.groupsHeader`` name others.

The terminal server admits a request whose user is in ``spec.auth.allowedUsers`` or one of
whose groups is in ``spec.auth.allowedGroups``. An empty allow-list is refused as invalid
configuration rather than read as "everyone": a shell is a kubectl session with the shell's
rights, and "everyone the proxy knows" must be said on purpose -- ``allowedUsers: ["*"]``.

The headers are only trustworthy when every request goes through the proxy: expose the shell
so that the terminal pod is not reachable around it (no NodePort reachable by users).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import attrs

from cloudtty_core import AuthMaterial, AuthRequest, AuthSetup, CloudShell, Problem

from .problems import auth_path, raise_problems, unused_settings

__all__ = ["ANY_USER", "DEFAULT_GROUPS_HEADER", "DEFAULT_USER_HEADER", "HeaderAuth"]

DEFAULT_USER_HEADER = "X-Forwarded-User"
DEFAULT_GROUPS_HEADER = "X-Forwarded-Groups"
ANY_USER = "*"
"""``allowedUsers: ["*"]``: admit every user the proxy authenticated."""

# RFC 9110 token: the characters a header field name may hold.
_HEADER_NAME = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")


@attrs.frozen
class HeaderAuth:
    """User and groups from an auth proxy's headers, checked against allow-lists.

    :param default_user_header: the user header when ``spec.auth.userHeader`` is not set.
    :param default_groups_header: the groups header when ``spec.auth.groupsHeader`` is not set.
    """

    default_user_header: str = DEFAULT_USER_HEADER
    default_groups_header: str = DEFAULT_GROUPS_HEADER

    @property
    def name(self) -> str:
        """``"header"``."""
        return "header"

    def problems(self, shell: CloudShell) -> tuple[Problem, ...]:
        """What is wrong with ``shell.spec.auth`` for this mode: no allow-list, a malformed
        entry or header name, the same header for user and groups, a ``secretRef``."""
        auth = shell.spec.auth
        problems = unused_settings(auth, self.name)
        problems += _entry_problems("allowedUsers", auth.allowed_users, groups=False)
        problems += _entry_problems("allowedGroups", auth.allowed_groups, groups=True)
        if ANY_USER in auth.allowed_users and (len(auth.allowed_users) > 1 or auth.allowed_groups):
            problems.append(
                Problem(
                    auth_path("allowedUsers"),
                    f"{ANY_USER!r} admits every user the proxy authenticated, so it must be the "
                    f"only entry and spec.auth.allowedGroups must be empty",
                )
            )
        if not auth.allowed_users and not auth.allowed_groups:
            problems.append(
                Problem(
                    auth_path("allowedUsers"),
                    "auth mode 'header' needs an allow-list: name users in "
                    "spec.auth.allowedUsers and/or groups in spec.auth.allowedGroups "
                    f"(allowedUsers: [{ANY_USER!r}] admits every user the proxy authenticated)",
                )
            )
        user_header, groups_header = self._headers(shell)
        for field, value in (("userHeader", user_header), ("groupsHeader", groups_header)):
            if not _HEADER_NAME.fullmatch(value):
                problems.append(Problem(auth_path(field), f"{value!r} is not an HTTP header name"))
        if user_header.lower() == groups_header.lower():
            problems.append(
                Problem(
                    auth_path("groupsHeader"),
                    f"must differ from the user header ({user_header!r}); header names are "
                    f"case-insensitive",
                )
            )
        return tuple(problems)

    def configure(self, request: AuthRequest) -> AuthSetup:
        """The headers and allow-lists to enforce; raises :class:`cloudtty_core.InvalidShell`
        when :meth:`problems` finds any.

        ``params``: ``userHeader``, ``groupsHeader``, ``allowedUsers``, ``allowedGroups`` (lists)
        and ``allowAnyUser`` (true for ``allowedUsers: ["*"]``, the lists then being empty).
        """
        shell = request.shell
        raise_problems(self.problems(shell))
        auth = shell.spec.auth
        user_header, groups_header = self._headers(shell)
        any_user = auth.allowed_users == (ANY_USER,)
        return AuthSetup(
            mode=self.name,
            params={
                "userHeader": user_header,
                "groupsHeader": groups_header,
                "allowedUsers": [] if any_user else list(auth.allowed_users),
                "allowedGroups": list(auth.allowed_groups),
                "allowAnyUser": any_user,
            },
        )

    def session_auth(self, setup: AuthSetup, material: AuthMaterial) -> Mapping[str, Any]:
        """``{"mode": "header", "userHeader", "groupsHeader", "allowedUsers", "allowedGroups"}``.

        The terminal server admits everyone with a user header when both lists are empty, so
        that is only written for ``allowAnyUser``; empty lists without it raise ``ValueError``.
        """
        if setup.mode != self.name:
            raise ValueError(f"auth backend {self.name!r} was given a {setup.mode!r} setup")
        params = setup.params
        users = [str(u) for u in params.get("allowedUsers") or ()]
        groups = [str(g) for g in params.get("allowedGroups") or ()]
        any_user = params.get("allowAnyUser") is True
        if any_user:
            users, groups = [], []
        elif not users and not groups:
            raise ValueError("a header auth setup without allow-list must set allowAnyUser")
        return {
            "mode": self.name,
            "userHeader": str(params.get("userHeader") or self.default_user_header),
            "groupsHeader": str(params.get("groupsHeader") or self.default_groups_header),
            "allowedUsers": users,
            "allowedGroups": groups,
        }

    def _headers(self, shell: CloudShell) -> tuple[str, str]:
        auth = shell.spec.auth
        return (
            auth.user_header or self.default_user_header,
            auth.groups_header or self.default_groups_header,
        )


def _entry_problems(field: str, entries: tuple[str, ...], *, groups: bool) -> list[Problem]:
    # The server strips header values and splits the groups header at commas, so entries that
    # differ from what it compares against could never match: say so instead of never matching.
    problems = []
    for index, entry in enumerate(entries):
        path = auth_path(f"{field}[{index}]")
        if not entry.strip():
            problems.append(Problem(path, "must not be empty"))
        elif entry != entry.strip():
            problems.append(Problem(path, f"{entry!r} has leading or trailing spaces"))
        elif any(unicodedata.category(c) == "Cc" for c in entry):
            problems.append(Problem(path, f"{entry!r} contains control characters"))
        elif groups and "," in entry:
            problems.append(
                Problem(path, f"{entry!r} contains ',' (the groups header is comma-separated)")
            )
        elif groups and entry == ANY_USER:
            problems.append(Problem(path, f"{ANY_USER!r} is only meaningful in allowedUsers"))
    return problems
