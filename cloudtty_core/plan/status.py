"""Building a shell's next status: phase steps through :func:`~cloudtty_core.transition`,
conditions (Kubernetes conventions), and the Kubernetes Events that go with them.

Events are recorded for every phase change a status write makes, and for every condition
that turns False -- never for a pass that changes nothing, so re-planning stays silent. One
pass may step through several phases (a warm worker makes a shell go from Pending through
Provisioning to Ready at once): the status write moves the phase once, so one Event tells of
consecutive progress steps -- the last step's reason, naming the phase it came from. A Warning
step (a worker lost on the way) keeps its own Event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from cloudtty_core.model import CloudShell, CloudShellStatus, Condition
from cloudtty_core.model.status import phase_after, set_condition
from cloudtty_core.phases import Event, Phase, allowed_events

from .types import EventSpec, PlanHooks

__all__ = [
    "ACCEPTED",
    "AUTH_READY",
    "CONDITION_ORDER",
    "KUBECONFIG_READY",
    "READY",
    "ROUTE_READY",
    "WORKER_READY",
    "StatusBuilder",
]

ACCEPTED = "Accepted"
"""The spec is valid and every backend it names is installed."""
KUBECONFIG_READY = "KubeconfigReady"
"""The kubeconfig the terminal uses exists."""
AUTH_READY = "AuthReady"
"""The credential material the auth backend needs exists."""
WORKER_READY = "WorkerReady"
"""A terminal pod is bound to the shell and Ready."""
ROUTE_READY = "RouteReady"
"""The exposure backend reports an access URL."""
READY = "Ready"
"""The shell can be used: phase Ready."""

CONDITION_ORDER = (ACCEPTED, KUBECONFIG_READY, AUTH_READY, WORKER_READY, ROUTE_READY, READY)

_RANK = {type_: rank for rank, type_ in enumerate(CONDITION_ORDER)}

_WARNING_EVENTS = frozenset(
    {
        Event.SPEC_INVALID,
        Event.BACKEND_MISSING,
        Event.DEPENDENCY_MISSING,
        Event.WORKER_LOST,
        Event.PERMANENT_ERROR,
    }
)


_STATUS_FIELDS = tuple(f.name for f in attrs.fields(CloudShellStatus))


class StatusBuilder:
    """Accumulates the changes of one planning pass to a shell's status.

    The changes go into a draft of the status's fields, and the status is built when it is
    read (once or twice a pass): building a new frozen status at each of a pass's dozen
    changes cost more than the rest of the bookkeeping.
    """

    def __init__(self, shell: CloudShell, generation: int, now: datetime, hooks: PlanHooks) -> None:
        self.shell = shell
        self.old = shell.status
        self.generation = generation
        self.now = now
        self.hooks = hooks
        self.events: list[EventSpec] = []
        self._phase_event: int | None = None  # index in events of this pass's phase Event
        self._old_conditions: dict[str, Condition] = {}  # the first of each type, as condition()
        for condition in shell.status.conditions:
            self._old_conditions.setdefault(condition.type, condition)
        self._draft: dict[str, Any] = {name: getattr(shell.status, name) for name in _STATUS_FIELDS}
        self._draft["observed_generation"] = generation
        # The status the draft describes, while nothing changed since it was built.
        self._built: CloudShellStatus | None = (
            shell.status if shell.status.observed_generation == generation else None
        )

    @property
    def status(self) -> CloudShellStatus:
        """The status so far."""
        if self._built is None:
            self._built = CloudShellStatus(**self._draft)
        return self._built

    @property
    def phase(self) -> Phase | None:
        """The phase so far."""
        phase: Phase | None = self._draft["phase"]
        return phase

    def can(self, event: Event) -> bool:
        """Whether ``event`` is legal in the phase so far."""
        return event in allowed_events(self.phase)

    def step(self, event: Event, message: str, *, url: str | None = None) -> None:
        """Apply ``event`` through the transition table; record an Event when the phase moves."""
        draft = self._draft
        old = draft["phase"]
        new, draft["access_url"] = phase_after(old, draft["access_url"], event, url)
        draft["phase"] = new
        self._built = None
        if new != old:
            recorded = _event(event, message)
            index = self._phase_event
            if index is not None and self.events[index].type == recorded.type == "Normal":
                self.events[index] = EventSpec(
                    recorded.type,
                    recorded.reason,
                    f"{message} (from {(self.old.phase or Phase.PENDING).value})",
                )
            else:  # a Warning always stays on record
                self._phase_event = len(self.events)
                self.events.append(recorded)
            self.hooks.phase_changed(self.shell, old, new, event)

    def set_url(self, url: str | None) -> None:
        """Keep the access URL current while Ready (the node address may change)."""
        if self.phase is Phase.READY and url:
            self._draft["access_url"] = url
            self._built = None

    def condition(
        self, type_: str, ok: bool, reason: str, message: str = "", *, transient: bool = False
    ) -> None:
        """Set condition ``type_``. A problem (False, not ``transient``) that is new or has a
        new reason records a Warning event; progress and recovery show in the phase events."""
        previous = self._old_conditions.get(type_)
        status = "True" if ok else "False"
        changed = previous is None or (previous.status, previous.reason) != (status, reason)
        if changed and not ok and not transient and type_ != READY:
            self.events.append(EventSpec("Warning", reason, message or reason))
        if self._holds(type_, status, reason, message):
            return  # setting it again would change nothing (the transition time is kept)
        condition = Condition(type_, status, reason, message, self.now, self.generation)
        self._draft["conditions"] = set_condition(self._draft["conditions"], condition)
        self._built = None

    def _holds(self, type_: str, status: str, reason: str, message: str) -> bool:
        """Whether every condition ``type_`` of the status so far is set exactly so (with the
        first one's transition time, which setting it again would keep)."""
        first: Condition | None = None
        for condition in self._draft["conditions"]:
            if condition.type != type_:
                continue
            first = first or condition
            if (
                condition.status != status
                or condition.reason != reason
                or condition.message != message
                or condition.observed_generation != self.generation
                or condition.last_transition_time != first.last_transition_time
            ):
                return False
        return first is not None

    def update(self, **changes: object) -> None:
        """Set plain status fields (worker, lastScheduleTime, expiresAt, secrets)."""
        for name in changes:
            if name not in self._draft:
                raise TypeError(f"CloudShellStatus has no field {name!r}")
        self._draft.update(changes)
        self._built = None

    def result(self) -> CloudShellStatus | None:
        """The new status, or None when nothing changed."""
        phase = self.phase
        ready = phase is Phase.READY
        reason = "Ready" if ready else str(phase or Phase.PENDING)
        self.condition(READY, ready, reason, self._ready_message())
        conditions: tuple[Condition, ...] = self._draft["conditions"]
        ordered = tuple(sorted(conditions, key=lambda c: (_RANK.get(c.type, 99), c.type)))
        if ordered != conditions:
            self._draft["conditions"] = ordered
            self._built = None
        final = self.status
        return None if final == self.old else final

    def _ready_message(self) -> str:
        if self.phase is Phase.READY:
            return f"the terminal is served at {self._draft['access_url']}"
        waiting = [c for c in self._draft["conditions"] if c.type != READY and c.status == "False"]
        return waiting[0].message if waiting else ""


def _event(event: Event, message: str) -> EventSpec:
    return EventSpec("Warning" if event in _WARNING_EVENTS else "Normal", event.value, message)
