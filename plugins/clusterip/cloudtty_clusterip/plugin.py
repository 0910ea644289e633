"""The entry point of the ``cloudtty-clusterip`` distribution."""

from __future__ import annotations

from cloudtty_core import BackendRegistry, hookimpl

from .backend import ClusterIPBackend

__all__ = ["cloudtty_register_backends"]


@hookimpl
def cloudtty_register_backends(registry: BackendRegistry) -> None:
    """Register the ``ClusterIP`` exposure backend."""
    registry.add_exposure(ClusterIPBackend())
