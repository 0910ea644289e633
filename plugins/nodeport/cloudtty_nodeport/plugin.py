"""The entry point of the ``cloudtty-nodeport`` distribution."""

from __future__ import annotations

from cloudtty_core import BackendRegistry, hookimpl

from .backend import NodePortBackend

__all__ = ["cloudtty_register_backends"]


@hookimpl
def cloudtty_register_backends(registry: BackendRegistry) -> None:
    """Register the ``NodePort`` exposure backend."""
    registry.add_exposure(NodePortBackend())
