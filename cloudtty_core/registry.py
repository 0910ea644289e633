"""The registry of installed backends, by kind and name.

Plugins add their backends in ``cloudtty_register_backends(registry)``. A name belongs to exactly
one distribution: a second registration of the same kind and name is an error naming both, so
which backend serves a shell never depends on the order plugins were loaded in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeAlias, cast

import attrs

from .backends import AuthBackend, ExposureBackend, ImageBackend

__all__ = [
    "KNOWN_PROVIDERS",
    "AnyBackend",
    "BackendError",
    "BackendKind",
    "BackendNotInstalled",
    "BackendRegistry",
    "DuplicateBackend",
    "RegisteredBackend",
]

AnyBackend: TypeAlias = ExposureBackend | AuthBackend | ImageBackend


class BackendKind(enum.StrEnum):
    """The three kinds of backends; a name is unique within its kind."""

    EXPOSURE = "exposure"
    AUTH = "auth"
    IMAGE = "image"


KNOWN_PROVIDERS: dict[tuple[BackendKind, str], str] = {
    (BackendKind.EXPOSURE, "ClusterIP"): "cloudtty-clusterip",
    (BackendKind.EXPOSURE, "NodePort"): "cloudtty-nodeport",
    (BackendKind.EXPOSURE, "Ingress"): "cloudtty-ingress",
    (BackendKind.EXPOSURE, "VirtualService"): "cloudtty-istio",
    (BackendKind.IMAGE, "webterm"): "cloudtty-webterm",
    (BackendKind.IMAGE, "ttyd"): "cloudtty-ttyd",
    (BackendKind.AUTH, "none"): "cloudtty-auth",
    (BackendKind.AUTH, "basic"): "cloudtty-auth",
    (BackendKind.AUTH, "token"): "cloudtty-auth",
    (BackendKind.AUTH, "header"): "cloudtty-auth",
}
"""Which distribution provides each backend name the project ships (for "install X" messages)."""


class BackendError(Exception):
    """Base of the registry's errors."""


class DuplicateBackend(BackendError):
    """Two plugins registered a backend of the same kind under the same name."""

    def __init__(self, kind: BackendKind, name: str, first: str, second: str) -> None:
        self.kind = kind
        self.name = name
        self.first = first
        self.second = second
        super().__init__(
            f"{kind} backend {name!r} is registered twice: by {first} and by {second}; "
            f"uninstall or block one of them"
        )


class BackendNotInstalled(BackendError, LookupError):
    """A shell names a backend no installed (and unblocked) plugin provides."""

    def __init__(
        self, kind: BackendKind, name: str, distribution: str | None, installed: tuple[str, ...]
    ) -> None:
        self.kind = kind
        self.name = name
        self.distribution = distribution
        self.installed = installed
        if distribution is not None:
            what = f"install the {distribution} distribution (pip install {distribution})"
        else:
            what = "no known distribution provides it; install the plugin that does"
        have = ", ".join(installed) if installed else "none"
        super().__init__(f"{kind} backend {name!r} is not installed: {what} (installed: {have})")


@attrs.frozen
class RegisteredBackend:
    """One registration: the backend and who provided it."""

    kind: BackendKind
    name: str
    backend: AnyBackend
    distribution: str | None = None
    version: str | None = None

    @property
    def provider(self) -> str:
        """Who registered it, for messages, e.g. ``"cloudtty-nodeport 0.1.0"``."""
        if self.distribution is None:
            return "an unnamed plugin"
        return f"{self.distribution} {self.version}" if self.version else self.distribution


@attrs.frozen
class _Source:
    distribution: str | None
    version: str | None


class BackendRegistry:
    """Backends by kind and name. Not thread-safe while being filled; read-only afterwards."""

    def __init__(self) -> None:
        self._entries: dict[tuple[BackendKind, str], RegisteredBackend] = {}
        self._source = _Source(None, None)

    # Filling -------------------------------------------------------------------------------

    @contextmanager
    def provided_by(self, distribution: str | None, version: str | None = None) -> Iterator[None]:
        """Attribute every backend added inside the block to ``distribution`` (the plugin
        manager does this around each plugin's ``cloudtty_register_backends``)."""
        previous = self._source
        self._source = _Source(distribution, version)
        try:
            yield
        finally:
            self._source = previous

    def add(
        self,
        kind: BackendKind | str,
        backend: AnyBackend,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> None:
        """Register ``backend`` under ``backend.name``; raise :class:`DuplicateBackend` if taken."""
        kind = BackendKind(kind)
        _check_shape(kind, backend)
        name = backend.name
        if not isinstance(name, str) or not name:
            raise BackendError(f"{kind} backend {backend!r} has no name")
        source = self._source if distribution is None else _Source(distribution, version)
        entry = RegisteredBackend(kind, name, backend, source.distribution, source.version)
        existing = self._entries.get((kind, name))
        if existing is not None:
            raise DuplicateBackend(kind, name, existing.provider, entry.provider)
        self._entries[(kind, name)] = entry

    def add_exposure(self, backend: ExposureBackend) -> None:
        """Register an exposure backend (``exposureMode``)."""
        self.add(BackendKind.EXPOSURE, backend)

    def add_auth(self, backend: AuthBackend) -> None:
        """Register an auth backend (``auth.mode``)."""
        self.add(BackendKind.AUTH, backend)

    def add_image(self, backend: ImageBackend) -> None:
        """Register an image backend (``imageBackend``)."""
        self.add(BackendKind.IMAGE, backend)

    def merge(self, other: BackendRegistry) -> None:
        """Add every entry of ``other`` (keeping its attribution); duplicates raise."""
        for entry in other.entries():
            existing = self._entries.get((entry.kind, entry.name))
            if existing is not None:
                raise DuplicateBackend(entry.kind, entry.name, existing.provider, entry.provider)
            self._entries[(entry.kind, entry.name)] = entry

    # Looking up ----------------------------------------------------------------------------

    def get(self, kind: BackendKind | str, name: str) -> RegisteredBackend:
        """The registration of ``name``; raise :class:`BackendNotInstalled` naming the
        distribution to install when the name is one the project ships."""
        if type(kind) is not BackendKind:  # the enum's lookup costs more than the rest
            kind = BackendKind(kind)
        entry = self._entries.get((kind, name))
        if entry is None:
            raise BackendNotInstalled(
                kind, name, KNOWN_PROVIDERS.get((kind, name)), self.names(kind)
            )
        return entry

    def exposure(self, name: str) -> ExposureBackend:
        """The exposure backend named ``name`` (raises :class:`BackendNotInstalled`)."""
        return cast(ExposureBackend, self.get(BackendKind.EXPOSURE, name).backend)

    def auth(self, name: str) -> AuthBackend:
        """The auth backend named ``name`` (raises :class:`BackendNotInstalled`)."""
        return cast(AuthBackend, self.get(BackendKind.AUTH, name).backend)

    def image(self, name: str) -> ImageBackend:
        """The image backend named ``name`` (raises :class:`BackendNotInstalled`)."""
        return cast(ImageBackend, self.get(BackendKind.IMAGE, name).backend)

    def has(self, kind: BackendKind | str, name: str) -> bool:
        """Whether a backend of ``kind`` is registered under ``name``."""
        return (BackendKind(kind), name) in self._entries

    def names(self, kind: BackendKind | str) -> tuple[str, ...]:
        """Registered names of one kind, sorted."""
        kind = BackendKind(kind)
        return tuple(sorted(n for k, n in self._entries if k is kind))

    def entries(self) -> tuple[RegisteredBackend, ...]:
        """Every registration, sorted by kind and name."""
        return tuple(self._entries[key] for key in sorted(self._entries))

    def exposures(self) -> tuple[ExposureBackend, ...]:
        """Every exposure backend (the runtime watches the union of their ``watched_kinds``)."""
        return tuple(self.exposure(n) for n in self.names(BackendKind.EXPOSURE))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        names = ", ".join(f"{e.kind}:{e.name}" for e in self.entries())
        return f"BackendRegistry({names})"


_REQUIRED: dict[BackendKind, tuple[str, ...]] = {
    BackendKind.EXPOSURE: ("name", "watched_kinds", "expose", "release"),
    BackendKind.AUTH: ("name", "configure", "session_auth"),
    BackendKind.IMAGE: (
        "name",
        "default_image",
        "port",
        "supports_warm_pool",
        "supported_auth",
        "worker_pod",
        "cold_pod",
        "session",
    ),
}


def _check_shape(kind: BackendKind, backend: object) -> None:
    # A wrong object would otherwise fail much later, inside a reconcile, far from its plugin.
    missing = [attr for attr in _REQUIRED[kind] if not hasattr(backend, attr)]
    if missing:
        raise BackendError(f"{backend!r} is not an {kind} backend: it lacks {', '.join(missing)}")
