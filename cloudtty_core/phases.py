"""The CloudShell life cycle: phases, the events that move a shell between them, and the table.

Deletion is not an event here: it is ``metadata.deletionTimestamp`` plus the finalizer, and it
works in every phase. ``Completed`` and ``Failed`` are terminal: they absorb every event.

A shell without a phase (just created, no status yet) counts as ``Pending``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType


class Phase(enum.StrEnum):
    """Where a CloudShell is in its life. The values are what ``status.phase`` holds."""

    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    READY = "Ready"
    COMPLETED = "Completed"
    FAILED = "Failed"

    @classmethod
    def _missing_(cls, value: object) -> Phase | None:
        # Statuses written by CloudTTY use its own spellings; read them as the phase they mean.
        return UPSTREAM_PHASES.get(value) if isinstance(value, str) else None

    @property
    def terminal(self) -> bool:
        """True for phases no event leaves (Completed, Failed)."""
        return self in TERMINAL_PHASES


#: CloudTTY's status.phase values that differ from ours.
UPSTREAM_PHASES: Mapping[str, Phase] = MappingProxyType(
    {
        "Complete": Phase.COMPLETED,
        "CreatedJob": Phase.PROVISIONING,
        "CreatedRouteRule": Phase.PROVISIONING,
    }
)

TERMINAL_PHASES = frozenset({Phase.COMPLETED, Phase.FAILED})


class Event(enum.StrEnum):
    """Something the operator observed about a shell. Values double as Kubernetes event reasons."""

    SPEC_ACCEPTED = "SpecAccepted"
    """The spec is valid and every backend it names is installed."""
    SPEC_INVALID = "SpecInvalid"
    """Validation found problems in the spec."""
    BACKEND_MISSING = "BackendMissing"
    """The spec names an exposure, auth or image backend no installed plugin provides."""
    DEPENDENCY_MISSING = "DependencyMissing"
    """Something outside the shell is missing (kubeconfig Secret, IngressClass, CRD, Ready node)."""
    DEPENDENCY_READY = "DependencyReady"
    """A dependency reported missing earlier is now there."""
    WORKER_BOUND = "WorkerBound"
    """A terminal pod runs for this shell (a claimed warm worker or a cold pod)."""
    ROUTE_READY = "RouteReady"
    """The exposure backend reports an access URL that works."""
    WORKER_LOST = "WorkerLost"
    """The shell's terminal pod disappeared or failed; a new one is provisioned."""
    TTL_EXPIRED = "TTLExpired"
    """The shell outlived its ttl."""
    SESSION_ENDED = "SessionEnded"
    """The terminal session ended (a ``once`` shell's client left, or the command exited)."""
    IDLE_TIMEOUT = "IdleTimeout"
    """Nobody used the terminal for idleTimeoutSeconds."""
    PERMANENT_ERROR = "PermanentError"
    """An error that retrying cannot fix (e.g. an object the API server rejects as invalid)."""


class IllegalTransition(Exception):
    """An event arrived in a phase where it cannot happen."""

    def __init__(self, phase: Phase, event: Event, reason: str = "") -> None:
        self.phase = phase
        self.event = event
        detail = reason or "not allowed in this phase"
        super().__init__(f"event {event.value} in phase {phase.value}: {detail}")


P, V, R = Phase.PENDING, Phase.PROVISIONING, Phase.READY
C, F = Phase.COMPLETED, Phase.FAILED
X = None  # illegal: IllegalTransition

#: Next phase per event for the live phases; terminal phases absorb everything (see above).
#: Read a row as "in Pending / Provisioning / Ready, this event leads to ...".
TRANSITIONS: Mapping[Event, tuple[Phase | None, Phase | None, Phase | None]] = MappingProxyType(
    {
        #                          Pending  Provisioning  Ready
        Event.SPEC_ACCEPTED:      (V,       V,            R),
        Event.SPEC_INVALID:       (F,       F,            F),
        Event.BACKEND_MISSING:    (F,       F,            F),
        Event.DEPENDENCY_MISSING: (P,       V,            V),
        Event.DEPENDENCY_READY:   (P,       V,            R),
        Event.WORKER_BOUND:       (X,       V,            R),
        Event.ROUTE_READY:        (X,       R,            R),
        Event.WORKER_LOST:        (X,       V,            V),
        Event.TTL_EXPIRED:        (C,       C,            C),
        Event.SESSION_ENDED:      (X,       X,            C),
        Event.IDLE_TIMEOUT:       (X,       X,            C),
        Event.PERMANENT_ERROR:    (F,       F,            F),
    }
)  # fmt: skip

_LIVE_COLUMNS: Mapping[Phase, int] = MappingProxyType({P: 0, V: 1, R: 2})


def transition(phase: Phase | None, event: Event) -> Phase:
    """The phase a shell in ``phase`` moves to on ``event``.

    ``None`` (no status yet) counts as Pending. Completed and Failed return themselves for every
    event. Raises :class:`IllegalTransition` when the event cannot happen in that phase.
    """
    current = Phase.PENDING if phase is None else phase
    if current.terminal:
        return current
    target = TRANSITIONS[event][_LIVE_COLUMNS[current]]
    if target is None:
        raise IllegalTransition(current, event)
    return target


def allowed_events(phase: Phase | None) -> frozenset[Event]:
    """Every event :func:`transition` accepts in ``phase``."""
    return _ALLOWED_EVENTS[phase]


def _accepts(phase: Phase | None, event: Event) -> bool:
    # Read from the table rather than by catching IllegalTransition: the planner asks this
    # several times per pass, and an exception costs far more than a lookup.
    current = Phase.PENDING if phase is None else phase
    return current.terminal or TRANSITIONS[event][_LIVE_COLUMNS[current]] is not None


# The table is fixed, so each phase's set is computed once (None: no status yet).
_ALLOWED_EVENTS: Mapping[Phase | None, frozenset[Event]] = MappingProxyType(
    {phase: frozenset(e for e in Event if _accepts(phase, e)) for phase in (None, *Phase)}
)
