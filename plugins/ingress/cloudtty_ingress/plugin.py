"""The entry point of the ``cloudtty-ingress`` distribution."""

from __future__ import annotations

from cloudtty_core import BackendRegistry, hookimpl

from .backend import IngressBackend

__all__ = ["cloudtty_register_backends"]


@hookimpl
def cloudtty_register_backends(registry: BackendRegistry) -> None:
    """Register the ``Ingress`` exposure backend."""
    registry.add_exposure(IngressBackend())
