"""The entry point of the ``cloudtty-ttyd`` distribution (group ``cloudtty``)."""

from __future__ import annotations

from cloudtty_core import BackendRegistry, hookimpl
from cloudtty_ttyd.backend import TtydBackend

__all__ = ["cloudtty_register_backends"]


@hookimpl
def cloudtty_register_backends(registry: BackendRegistry) -> None:
    """Register the ``ttyd`` image backend."""
    registry.add_image(TtydBackend())
