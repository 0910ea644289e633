"""The entry point: registers the backend, configured from the environment."""

from __future__ import annotations

import os

from cloudtty_core import BackendRegistry, hookimpl

from .backend import HTTPRouteBackend

#: The Gateway every route attaches to, as ``namespace/name``.
ENV_GATEWAY = "CLOUDTTY_HTTPROUTE_GATEWAY"


@hookimpl
def cloudtty_register_backends(registry: BackendRegistry) -> None:
    """Register the ``HTTPRoute`` exposure backend."""
    gateway = os.environ.get(ENV_GATEWAY, "").strip()
    registry.add_exposure(HTTPRouteBackend.for_gateway(gateway) if gateway else HTTPRouteBackend())
