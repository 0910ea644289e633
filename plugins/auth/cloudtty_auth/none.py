"""Auth mode ``none``: anyone who reaches the terminal may use it (CloudTTY's behaviour)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from cloudtty_core import AuthMaterial, AuthRequest, AuthSetup, CloudShell, Problem

from .problems import raise_problems, unused_settings

__all__ = ["NoneAuth"]


@attrs.frozen
class NoneAuth:
    """No authentication. Rely on the network (a ClusterIP Service, a protected Ingress)."""

    @property
    def name(self) -> str:
        """``"none"``, the default ``spec.auth.mode``."""
        return "none"

    def problems(self, shell: CloudShell) -> tuple[Problem, ...]:
        """What is wrong with ``shell.spec.auth`` for this mode: any credential or allow-list
        setting, as this mode would ignore it."""
        return tuple(unused_settings(shell.spec.auth, self.name))

    def configure(self, request: AuthRequest) -> AuthSetup:
        """Nothing to enforce; raises :class:`cloudtty_core.InvalidShell` when
        :meth:`problems` finds any."""
        raise_problems(self.problems(request.shell))
        return AuthSetup(mode=self.name)

    def session_auth(self, setup: AuthSetup, material: AuthMaterial) -> Mapping[str, Any]:
        """``{"mode": "none"}``."""
        if setup.mode != self.name:
            raise ValueError(f"auth backend {self.name!r} was given a {setup.mode!r} setup")
        return {"mode": self.name}
