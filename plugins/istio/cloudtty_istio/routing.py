"""The shell's path (CloudTTY's rule, as for Ingress) and its HTTP route in a VirtualService."""

from __future__ import annotations

from cloudtty_core import SHELL_PATH_PREFIX, CloudShell, Manifest, WorkerRef, shell_path

__all__ = [
    "DEFAULT_PATH_PREFIX",
    "PLACEHOLDER_ROUTE",
    "placeholder_route",
    "route_name",
    "route_path",
    "shell_route",
]

DEFAULT_PATH_PREFIX = SHELL_PATH_PREFIX
"""CloudTTY's fixed path segment (:data:`cloudtty_core.SHELL_PATH_PREFIX`)."""

PLACEHOLDER_ROUTE = "cloudtty-no-shells"
"""Name of the route a shared VirtualService keeps when no shell uses it: Istio rejects a
VirtualService without any route, so a 404 for one unused path stands in."""


def route_path(shell: CloudShell) -> str:
    """The path the route matches (:func:`cloudtty_core.shell_path`, CloudTTY's rule)."""
    return shell_path(shell)


def route_name(shell: CloudShell) -> str:
    """The HTTP route's name: identifies the shell's route among others in a shared object."""
    return f"cloudshell.{shell.namespace}.{shell.name}"


def shell_route(shell: CloudShell, worker: WorkerRef) -> Manifest:
    """The route: ``<path>/`` as a prefix (so ``/a`` never catches ``/ab``) and ``<path>``
    exactly, forwarded unchanged (the terminal serves under the path) to the shell's Service.

    WebSocket upgrades pass through Istio's HTTP routes, and a route has no timeout unless
    one is set, so long-lived terminal connections need nothing more.
    """
    path = route_path(shell)
    return {
        "name": route_name(shell),
        "match": [{"uri": {"prefix": f"{path}/"}}, {"uri": {"exact": path}}],
        "route": [
            {
                "destination": {
                    "host": f"{worker.service_name}.{worker.namespace}.svc.cluster.local",
                    "port": {"number": worker.port},
                }
            }
        ],
    }


def placeholder_route() -> Manifest:
    """The route that keeps an otherwise empty shared VirtualService valid."""
    return {
        "name": PLACEHOLDER_ROUTE,
        "match": [{"uri": {"exact": "/.cloudtty/no-shells"}}],
        "directResponse": {"status": 404},
    }
