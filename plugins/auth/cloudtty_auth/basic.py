"""Auth mode ``basic``: HTTP basic auth with one user name and password kept in a Secret.

``spec.auth.secretRef`` names a Secret in the shell's namespace. Two layouts are read:

* without ``secretRef.key``: keys ``username`` and ``password`` -- the layout of a Secret of
  type ``kubernetes.io/basic-auth`` (``kubectl create secret generic NAME --type
  kubernetes.io/basic-auth --from-literal username=... --from-literal password=...``);
* with ``secretRef.key``: that one key holds ``user:password`` (ttyd's ``--credential``
  format, as CloudTTY users have it), split at the first colon.

One trailing line break of each value is ignored (``--from-file`` keeps the newline of the
file). The session carries the user name and the SHA-256 of the password, never the password.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

import attrs

from cloudtty_core import (
    AuthMaterial,
    AuthRequest,
    AuthSetup,
    CloudShell,
    Problem,
    SecretKeyRef,
)

from .digest import sha256_hex
from .problems import CredentialError, auth_path, raise_problems, unused_settings

__all__ = ["BasicAuth"]


@attrs.frozen
class BasicAuth:
    """HTTP basic auth against one credential from a Secret.

    :param username_key: key of the user name when ``secretRef.key`` is not set.
    :param password_key: key of the password when ``secretRef.key`` is not set.
    """

    username_key: str = "username"
    password_key: str = "password"

    @property
    def name(self) -> str:
        """``"basic"``."""
        return "basic"

    def problems(self, shell: CloudShell) -> tuple[Problem, ...]:
        """What is wrong with ``shell.spec.auth`` for this mode: no ``secretRef``, or a
        setting only header mode uses."""
        auth = shell.spec.auth
        problems = unused_settings(auth, self.name)
        if auth.secret_ref is None:
            problems.append(
                Problem(
                    auth_path("secretRef"),
                    f"auth mode 'basic' needs the Secret holding the credential: set "
                    f"spec.auth.secretRef.name (keys {self.username_key!r} and "
                    f"{self.password_key!r}, or set spec.auth.secretRef.key to a key holding "
                    f"'user:password')",
                )
            )
        return tuple(problems)

    def configure(self, request: AuthRequest) -> AuthSetup:
        """The Secret keys to read; raises :class:`cloudtty_core.InvalidShell` when
        :meth:`problems` finds any.

        ``secret_refs`` is ``(credential,)`` with ``params["credentialKey"]`` when the Secret
        holds ``user:password`` under one key, else ``(username, password)`` with
        ``params["usernameKey"]`` and ``params["passwordKey"]``.
        """
        shell = request.shell
        raise_problems(self.problems(shell))
        ref = shell.spec.auth.secret_ref
        assert ref is not None  # problems() insists on it
        if ref.key:
            return AuthSetup(
                mode=self.name,
                params={"credentialKey": ref.key},
                secret_refs=(SecretKeyRef(shell.namespace, ref.name, ref.key),),
            )
        return AuthSetup(
            mode=self.name,
            params={"usernameKey": self.username_key, "passwordKey": self.password_key},
            secret_refs=(
                SecretKeyRef(shell.namespace, ref.name, self.username_key),
                SecretKeyRef(shell.namespace, ref.name, self.password_key),
            ),
        )

    def session_auth(self, setup: AuthSetup, material: AuthMaterial) -> Mapping[str, Any]:
        """``{"mode": "basic", "username": ..., "passwordSha256": ...}``.

        Raises :class:`CredentialError` (naming the Secret and key, never the value) when the
        credential is missing or unusable.
        """
        username, password = self.credential(setup, material)
        return {"mode": self.name, "username": username, "passwordSha256": sha256_hex(password)}

    def credential(self, setup: AuthSetup, material: AuthMaterial) -> tuple[str, str]:
        """The user name and password from ``material``, checked; see :meth:`session_auth`."""
        if setup.mode != self.name:
            raise ValueError(f"auth backend {self.name!r} was given a {setup.mode!r} setup")
        if len(setup.secret_refs) == 1:
            ref = setup.secret_refs[0]
            value = _line(_value(material, ref))
            username, colon, password = value.partition(":")
            if not colon:
                raise CredentialError(f"{ref} must hold 'user:password' (it has no colon)")
            _check_username(username, ref)
            _check_password(password, ref)
            return username, password
        if len(setup.secret_refs) == 2:
            user_ref, password_ref = setup.secret_refs
            username = _line(_value(material, user_ref))
            password = _line(_value(material, password_ref))
            _check_username(username, user_ref)
            _check_password(password, password_ref)
            return username, password
        raise ValueError(
            f"a basic auth setup names one or two Secret keys, not {len(setup.secret_refs)}"
        )


def _value(material: AuthMaterial, ref: SecretKeyRef) -> str:
    value = material.secrets.get(ref)
    if value is None:
        raise CredentialError(f"{ref} (the basic auth credential) was not found")
    return value


def _line(value: str) -> str:
    return value.removesuffix("\n").removesuffix("\r")


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in text)


def _check_username(username: str, ref: SecretKeyRef) -> None:
    if not username:
        raise CredentialError(f"{ref}: the user name is empty")
    if ":" in username:
        raise CredentialError(f"{ref}: the user name contains ':', which basic auth cannot carry")
    if _has_control(username):
        raise CredentialError(f"{ref}: the user name contains control characters")


def _check_password(password: str, ref: SecretKeyRef) -> None:
    if not password:
        raise CredentialError(f"{ref}: the password is empty")
    if "\n" in password or "\r" in password:
        raise CredentialError(
            f"{ref}: the password contains a line break (only one at the end is ignored)"
        )
