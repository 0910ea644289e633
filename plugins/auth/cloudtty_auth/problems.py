"""What can be wrong with a shell's auth settings or its credential, said with the field.

Two kinds of mistakes, reported differently:

* the shell's ``spec.auth`` does not make sense for its mode (a setting the mode does not use,
  a missing Secret reference, an empty allow-list): :meth:`configure` raises
  :class:`cloudtty_core.InvalidShell` carrying one :class:`cloudtty_core.Problem` per field, so
  the shell is refused like any other invalid spec;
* the credential material is unusable (a Secret holding an empty password, a ``user:password``
  value without a colon): :meth:`session_auth` raises :class:`CredentialError`, whose message
  names the Secret and key -- never the value -- so that fixing the Secret fixes the shell.
"""

from __future__ import annotations

from collections.abc import Iterable

from cloudtty_core import AuthSpec, InvalidShell, Problem

__all__ = ["CredentialError", "auth_path", "raise_problems", "unused_settings"]

# spec.auth attribute -> (JSON name, the mode that uses it)
_MODE_SETTINGS: dict[str, tuple[str, str]] = {
    "secret_ref": ("secretRef", "basic"),
    "allowed_users": ("allowedUsers", "header"),
    "allowed_groups": ("allowedGroups", "header"),
    "user_header": ("userHeader", "header"),
    "groups_header": ("groupsHeader", "header"),
}


class CredentialError(ValueError):
    """Credential material an auth backend cannot use. The message never contains a secret."""


def auth_path(field: str) -> str:
    """The path of a ``spec.auth`` field as users write it, e.g. ``spec.auth.secretRef``."""
    return f"spec.auth.{field}"


def unused_settings(auth: AuthSpec, mode: str) -> list[Problem]:
    """A problem for every ``spec.auth`` setting that ``mode`` would silently ignore.

    Ignoring them would be dangerous: ``allowedUsers`` on a shell whose mode is left at ``none``
    looks like a restriction and is none.
    """
    problems = []
    for attribute, (field, owner) in _MODE_SETTINGS.items():
        if owner == mode or getattr(auth, attribute) in (None, ()):
            continue
        problems.append(
            Problem(
                auth_path(field),
                f"auth mode {mode!r} does not use this setting (auth mode {owner!r} does); "
                f"remove it or set spec.auth.mode: {owner}",
            )
        )
    return problems


def raise_problems(problems: Iterable[Problem]) -> None:
    """Raise :class:`cloudtty_core.InvalidShell` carrying ``problems``, if there are any."""
    found = tuple(problems)
    if found:
        raise InvalidShell(found)
