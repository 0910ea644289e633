"""A shell's authentication: the auth backend's setup, its credential Secrets, and the
per-shell access token (kept in a Secret the shell owns, never in status or events)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from cloudtty_core.backends import (
    AuthBackend,
    AuthMaterial,
    AuthRequest,
    AuthSetup,
    ClusterView,
    OperatorSettings,
    SecretKeyRef,
    Waiting,
    decode_secret_value,
)
from cloudtty_core.model import CloudShell, Manifest

from .names import ShellIdentity, access_secret_name

__all__ = ["AuthOutcome", "configure_auth", "login_url", "resolve_auth"]


@attrs.frozen
class AuthOutcome:
    """The auth setup of a shell and the secret values its session needs."""

    setup: AuthSetup
    material: AuthMaterial = attrs.field(factory=AuthMaterial, repr=False)
    access_secret: str | None = None
    waiting: Waiting | None = None
    session: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


def login_url(url: str, setup: AuthSetup, token: str | None) -> str:
    """The URL a user opens: the access URL plus the token when the auth mode needs one."""
    if setup.token_param is None or token is None:
        return url
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}{setup.token_param}={token}"


def access_secret(ident: ShellIdentity, token: str, url: str | None, setup: AuthSetup) -> Manifest:
    """The Secret holding the shell's token and, once known, its full login URL."""
    data = {"token": _b64(token)}
    if url:
        data["url"] = _b64(login_url(url, setup, token))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": access_secret_name(ident.name), "namespace": ident.namespace},
        "data": data,
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def configure_auth(
    backend: AuthBackend, shell: CloudShell, settings: OperatorSettings
) -> AuthSetup | str:
    """The backend's setup for ``shell``, or why its auth settings are unusable.

    Backends refuse bad settings with ``ValueError`` (``InvalidShell`` among them); that is a
    problem of the spec, so it becomes a message for phase Failed, never an escaping error.
    """
    try:
        return backend.configure(AuthRequest(shell, settings))
    except ValueError as error:
        return str(error) or f"auth mode {backend.name!r} refused the shell's settings"


def resolve_auth(
    backend: AuthBackend,
    setup: AuthSetup,
    ident: ShellIdentity,
    cluster: ClusterView,
    token_source: Callable[[], str],
) -> AuthOutcome:
    """Read the Secrets ``setup`` names and the shell's token; build the session's auth.

    A credential the backend cannot use (an empty password, say) is a wait with a condition,
    like a missing Secret: the shell recovers once someone fixes the Secret.
    """
    values: dict[SecretKeyRef, str] = {}
    missing: list[str] = []
    for ref in setup.secret_refs:
        found = cluster.get("v1", "Secret", ref.namespace, ref.name)
        value = decode_secret_value(found, ref.key) if found is not None else None
        if value is None:
            missing.append(str(ref))
        else:
            values[ref] = value
    waiting = (
        Waiting("CredentialNotFound", f"{', '.join(missing)} (auth {setup.mode}) does not exist")
        if missing
        else None
    )
    token: str | None = None
    secret_name: str | None = None
    if setup.token_param is not None:
        secret_name = access_secret_name(ident.name)
        found = cluster.get("v1", "Secret", ident.namespace, secret_name)
        token = decode_secret_value(found, "token") if found is not None else None
        if token is None:
            token = token_source()
    material = AuthMaterial(values, token)
    session: Mapping[str, Any] = {}
    if waiting is None:
        try:
            session = dict(backend.session_auth(setup, material))
        except ValueError as error:
            waiting = Waiting("CredentialUnusable", f"auth {setup.mode}: {error}")
    return AuthOutcome(setup, material, secret_name, waiting, session)
