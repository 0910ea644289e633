"""The entry point of the ``cloudtty-webterm`` distribution (group ``cloudtty``)."""

from __future__ import annotations

from cloudtty_core import BackendRegistry, hookimpl
from cloudtty_webterm.backend import WebtermBackend

__all__ = ["cloudtty_register_backends"]


@hookimpl
def cloudtty_register_backends(registry: BackendRegistry) -> None:
    """Register the ``webterm`` image backend."""
    registry.add_image(WebtermBackend())
