"""The entry point of the ``cloudtty-istio`` distribution."""

from __future__ import annotations

from cloudtty_core import BackendRegistry, hookimpl

from .backend import VirtualServiceBackend

__all__ = ["cloudtty_register_backends"]


@hookimpl
def cloudtty_register_backends(registry: BackendRegistry) -> None:
    """Register the ``VirtualService`` exposure backend."""
    registry.add_exposure(VirtualServiceBackend())
