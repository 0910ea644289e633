"""Auth mode ``token``: a random per-shell access token, given to the user once in the URL.

The planner makes the token (from its token source), keeps it in a Secret the shell owns --
named in ``status.accessSecret``, with the full login URL ``<accessUrl>?token=<token>`` under
key ``url`` -- and passes it here. The session carries only the token's SHA-256; the terminal
server moves a valid URL token into an HttpOnly, SameSite cookie and drops it from the URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from cloudtty_core import AuthMaterial, AuthRequest, AuthSetup, CloudShell, Problem

from .digest import sha256_hex
from .problems import CredentialError, raise_problems, unused_settings

__all__ = ["MIN_TOKEN_LENGTH", "TOKEN_PARAM", "TokenAuth"]

TOKEN_PARAM = "token"
"""The query parameter of the login URL; the terminal server reads the token from it."""

MIN_TOKEN_LENGTH = 22
"""Shortest token accepted: 22 URL-safe characters carry 128 random bits."""

# The token goes into a URL unquoted, so it must need no quoting.
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


@attrs.frozen
class TokenAuth:
    """A per-shell token: whoever has the login link may use the shell until it ends."""

    @property
    def name(self) -> str:
        """``"token"``."""
        return "token"

    def problems(self, shell: CloudShell) -> tuple[Problem, ...]:
        """What is wrong with ``shell.spec.auth`` for this mode: any credential or allow-list
        setting (the token is generated, never supplied)."""
        return tuple(unused_settings(shell.spec.auth, self.name))

    def configure(self, request: AuthRequest) -> AuthSetup:
        """Asks the planner for a token in the login URL; raises
        :class:`cloudtty_core.InvalidShell` when :meth:`problems` finds any."""
        raise_problems(self.problems(request.shell))
        return AuthSetup(mode=self.name, token_param=TOKEN_PARAM)

    def session_auth(self, setup: AuthSetup, material: AuthMaterial) -> Mapping[str, Any]:
        """``{"mode": "token", "tokenSha256": ...}``.

        Raises :class:`CredentialError` when there is no token, or it is shorter than
        :data:`MIN_TOKEN_LENGTH` or holds characters a URL would have to quote.
        """
        if setup.mode != self.name:
            raise ValueError(f"auth backend {self.name!r} was given a {setup.mode!r} setup")
        token = material.token
        if token is None:
            raise CredentialError("auth mode 'token': no access token was generated for the shell")
        if len(token) < MIN_TOKEN_LENGTH or not _URL_SAFE.fullmatch(token):
            raise CredentialError(
                f"auth mode 'token': the access token must be at least {MIN_TOKEN_LENGTH} "
                f"characters from A-Z a-z 0-9 - _ (delete the shell's access Secret to get a "
                f"new one)"
            )
        return {"mode": self.name, "tokenSha256": sha256_hex(token)}
