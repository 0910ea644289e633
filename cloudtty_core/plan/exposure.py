"""Exposing a shell's worker through its exposure backend."""

from __future__ import annotations

import attrs

from cloudtty_core.backends import (
    ClusterView,
    Exposure,
    ExposureBackend,
    ExposureRequest,
    OperatorSettings,
    WorkerRef,
)
from cloudtty_core.model import CloudShell, Manifest

from .names import ShellIdentity
from .worker import decorate

__all__ = ["ExposureOutcome", "expose"]


@attrs.frozen
class ExposureOutcome:
    """The backend's answer, with owned objects labelled and owned by the shell."""

    exposure: Exposure
    owned: tuple[Manifest, ...]
    shared: tuple[Manifest, ...]

    @property
    def needs_finalizer(self) -> bool:
        """Whether removing the shell's objects needs more than garbage collection."""
        return bool(self.shared) or any(
            (o.get("metadata") or {}).get("ownerReferences") in (None, []) for o in self.owned
        )


def expose(
    backend: ExposureBackend,
    shell: CloudShell,
    ident: ShellIdentity,
    worker: WorkerRef,
    cluster: ClusterView,
    settings: OperatorSettings,
) -> ExposureOutcome:
    """Ask ``backend`` for the shell's route; label owned objects and make the shell own them."""
    exposure = backend.expose(ExposureRequest(shell, worker, cluster, settings))
    owned = tuple(decorate(o, ident) for o in exposure.owned)
    return ExposureOutcome(exposure, owned, tuple(exposure.shared))
