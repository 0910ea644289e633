"""What the planner returns (:class:`Plan`) and what it is given besides the shell."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from cloudtty_core.backends import ObjectRef, OperatorSettings, PoolKey
from cloudtty_core.model import CloudShellStatus, Manifest
from cloudtty_core.registry import BackendRegistry

from .identity import random_name_suffix

if TYPE_CHECKING:
    from cloudtty_core.model import CloudShell
    from cloudtty_core.phases import Event, Phase

__all__ = [
    "NO_HOOKS",
    "EventSpec",
    "KubeconfigIssue",
    "NoHooks",
    "Patch",
    "Plan",
    "PlanContext",
    "PlanHooks",
    "PoolView",
    "random_token",
]


@attrs.frozen
class Patch:
    """A JSON merge patch (RFC 7386) for one object.

    ``merge_patch`` carries ``metadata.resourceVersion`` when the patch must only apply to the
    version the planner saw (finalizer lists are replaced whole by a merge patch).
    """

    ref: ObjectRef
    merge_patch: Manifest


@attrs.frozen
class EventSpec:
    """A Kubernetes Event to record about the shell (``involvedObject`` is the shell)."""

    type: str  # "Normal" or "Warning"
    reason: str
    message: str


@attrs.frozen
class KubeconfigIssue:
    """Ask the runtime for a kubeconfig built from a per-shell ServiceAccount token.

    The runtime requests a token for ``service_account`` (TokenRequest API, lifetime
    ``expiration_seconds``), builds a kubeconfig for ``server`` and writes it under key
    ``config`` of Secret ``secret_name``, with ``labels`` and ``owner_references``. The token
    never passes through the planner, the status or any log.
    """

    namespace: str
    service_account: str
    secret_name: str
    server: str
    expiration_seconds: int
    labels: Mapping[str, str] = attrs.field(factory=dict)
    owner_references: tuple[Manifest, ...] = ()


@attrs.frozen
class Plan:
    """Everything the runtime must do for one shell (or one pool key), as data.

    The runtime applies the parts in this order and stops at the first failure (then plans
    again from fresh observations): ``patches``, ``updates`` (PUT with the resourceVersion they
    carry -- worker claims, shared routes), ``creates``, ``deletes``, ``issue_kubeconfig``,
    ``status`` (status subresource), ``events``, ``final_patches`` (finalizer removal, once
    everything else is gone), ``delete_shell``. Claims come before creates so that a session
    Secret is only written for a worker this shell really got. Among the creates,
    ServiceAccounts go first: the API server refuses a pod whose account does not exist yet.
    """

    creates: tuple[Manifest, ...] = ()
    updates: tuple[Manifest, ...] = ()
    patches: tuple[Patch, ...] = ()
    deletes: tuple[ObjectRef, ...] = ()
    status: CloudShellStatus | None = None
    events: tuple[EventSpec, ...] = ()
    requeue_after: float | None = None
    issue_kubeconfig: KubeconfigIssue | None = None
    final_patches: tuple[Patch, ...] = ()
    delete_shell: bool = False

    @property
    def is_empty(self) -> bool:
        """True when the plan writes nothing (``requeue_after`` is a timer, not a write)."""
        return not (
            self.creates
            or self.updates
            or self.patches
            or self.deletes
            or self.status is not None
            or self.events
            or self.issue_kubeconfig is not None
            or self.final_patches
            or self.delete_shell
        )

    def writes(self) -> int:
        """How many API writes applying the plan takes (events included)."""
        return (
            len(self.creates)
            + len(self.updates)
            + len(self.patches)
            + len(self.deletes)
            + (self.status is not None)
            + len(self.events)
            + (2 if self.issue_kubeconfig is not None else 0)  # TokenRequest + Secret
            + len(self.final_patches)
            + self.delete_shell
        )


class PlanHooks(Protocol):
    """The extension hooks the planner calls (a :class:`~cloudtty_core.PluginManager` is one)."""

    def adjust_objects(
        self, shell: CloudShell, objects: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Return the objects the plugins want instead of ``objects``."""
        ...

    def phase_changed(self, shell: CloudShell, old: Phase | None, new: Phase, event: Event) -> None:
        """Tell observers about a phase change."""
        ...


class NoHooks:
    """Hooks that change nothing: for embedders without plugins and for tests."""

    def adjust_objects(
        self, shell: CloudShell, objects: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Return ``objects`` unchanged."""
        return list(objects)

    def phase_changed(self, shell: CloudShell, old: Phase | None, new: Phase, event: Event) -> None:
        """Do nothing."""


NO_HOOKS = NoHooks()


def random_token() -> str:
    """A fresh random access token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


@attrs.frozen
class PlanContext:
    """What the planner needs besides the shell and the cluster: everything that is not data.

    ``token_source`` makes new access tokens and ``name_source`` the random part of the names
    of new workers (their ServiceAccounts); tests pass deterministic ones so that a plan is a
    function of its inputs.
    """

    registry: BackendRegistry
    settings: OperatorSettings = attrs.field(factory=OperatorSettings)
    token_source: Callable[[], str] = random_token
    hooks: PlanHooks = NO_HOOKS
    name_source: Callable[[], str] = random_name_suffix


class PoolView(Protocol):
    """The warm pools as the planner sees them: which idle workers a shell may claim (the
    runtime may hide ones it is claiming), and which workers are still the pool's own."""

    def idle_workers(self, key: PoolKey) -> Iterable[Manifest]:
        """Ready, unclaimed workers of ``key``, best candidate first. May be lazy: the
        planner takes the first one it can claim, so a large pool is not read whole."""
        ...

    def unclaimed(self, key: PoolKey, api_version: str, kind: str) -> Sequence[Manifest]:
        """The objects of ``kind`` labelled with the pool of ``key`` (ServiceAccounts, Pods)
        that belong to no claimed worker -- a worker whose session Secret is ``claimed`` is
        its shell's -- sorted by name. The pool pass reads these only, so that its cost
        follows the pool's size and not the number of shells served so far."""
        ...
