"""The entry point of the ``cloudtty-auth`` distribution: registers its four auth backends."""

from __future__ import annotations

from cloudtty_core import AuthBackend, BackendRegistry, hookimpl

from .basic import BasicAuth
from .header import HeaderAuth
from .none import NoneAuth
from .token import TokenAuth

__all__ = ["backends", "cloudtty_register_backends"]


def backends() -> tuple[AuthBackend, ...]:
    """One instance of each backend this distribution provides, with default settings."""
    return (NoneAuth(), BasicAuth(), TokenAuth(), HeaderAuth())


@hookimpl
def cloudtty_register_backends(registry: BackendRegistry) -> None:
    """Register ``none``, ``basic``, ``token`` and ``header``."""
    for backend in backends():
        registry.add_auth(backend)
