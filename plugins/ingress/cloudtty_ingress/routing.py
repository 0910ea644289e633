"""Where a shell is served: its path (CloudTTY's rule) and a concrete host for wildcard hosts."""

from __future__ import annotations

from cloudtty_core import SHELL_PATH_PREFIX, CloudShell, dns_label, shell_path

__all__ = ["DEFAULT_PATH_PREFIX", "concrete_host", "route_path"]

DEFAULT_PATH_PREFIX = SHELL_PATH_PREFIX
"""CloudTTY's fixed path segment (:data:`cloudtty_core.SHELL_PATH_PREFIX`)."""


def route_path(shell: CloudShell) -> str:
    """The path the route matches (:func:`cloudtty_core.shell_path`, CloudTTY's rule)."""
    return shell_path(shell)


def concrete_host(host: str | None, shell: CloudShell) -> str | None:
    """``host``, or for a wildcard ``*.<rest>`` the shell's own ``<name>-<namespace>.<rest>``.

    A wildcard matches exactly one DNS label, so the shell's name and namespace go into one
    label; giving each shell its own host also keeps browsers from sharing cookies or storage
    between the terminals of different users.
    """
    if not host:
        return None
    if host.startswith("*."):
        return f"{dns_label(f'{shell.name}-{shell.namespace}')}{host[1:]}"
    return host
