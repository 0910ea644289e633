"""Where a shell is served: its path (CloudTTY's rule) and a concrete host for wildcard hosts."""

from __future__ import annotations

import re

from cloudtty_core import CloudShell, dns_label

__all__ = ["DEFAULT_PATH_PREFIX", "concrete_host", "route_path"]

DEFAULT_PATH_PREFIX = "/apis/v1alpha1/cloudshell"
"""CloudTTY's fixed path segment, kept so existing links and proxy rules keep working."""


def route_path(shell: CloudShell) -> str:
    """The path the route matches, without a trailing slash, as CloudTTY builds it:
    ``<pathPrefix>/apis/v1alpha1/cloudshell/<name>[/<pathSuffix>]``.

    The terminal serves under this path (plus ``/``), so the route forwards it unchanged.
    """
    prefix = (shell.spec.path_prefix or "").rstrip("/")
    parts = [f"{prefix}{DEFAULT_PATH_PREFIX}", shell.name]
    suffix = (shell.spec.path_suffix or "").strip("/")
    if suffix:
        parts.append(suffix)
    # Repeated slashes are invalid in an Ingress path of type Prefix.
    return re.sub(r"/{2,}", "/", "/".join(parts))


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
