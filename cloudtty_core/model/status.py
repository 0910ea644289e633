"""CloudShellStatus and its conditions (Kubernetes conventions)."""

from __future__ import annotations

from datetime import datetime

import attrs

from cloudtty_core.model.fields import meta, upstream
from cloudtty_core.phases import Event, IllegalTransition, Phase, transition

CONDITION_STATUSES = ("True", "False", "Unknown")


@attrs.frozen
class Condition:
    """One aspect of the shell's state, as in ``metav1.Condition``."""

    type: str = attrs.field(
        metadata=meta(
            "Condition type in CamelCase, e.g. `Ready`.", required=True, rule="condition-type"
        )
    )
    status: str = attrs.field(
        metadata=meta("`True`, `False` or `Unknown`.", required=True, enum=CONDITION_STATUSES)
    )
    reason: str = attrs.field(default="", metadata=meta("Machine-readable CamelCase reason."))
    message: str = attrs.field(default="", metadata=meta("Human-readable detail."))
    last_transition_time: datetime | None = attrs.field(
        default=None, metadata=meta("When status last changed.")
    )
    observed_generation: int | None = attrs.field(
        default=None,
        metadata=meta("metadata.generation the condition was computed from.", minimum=0),
    )


@attrs.frozen
class CloudShellStatus:
    """What the operator observed and did. Never holds a secret (tokens live in Secrets)."""

    phase: Phase | None = attrs.field(
        default=None, metadata=upstream("Pending, Provisioning, Ready, Completed or Failed.")
    )
    access_url: str | None = attrs.field(
        default=None, metadata=upstream("URL of the terminal (without credentials).")
    )
    last_schedule_time: datetime | None = attrs.field(
        default=None, metadata=upstream("When the terminal pod was bound to the shell.")
    )
    expires_at: datetime | None = attrs.field(
        default=None, metadata=meta("When the ttl ends the shell.")
    )
    observed_generation: int | None = attrs.field(
        default=None, metadata=meta("metadata.generation this status reflects.", minimum=0)
    )
    conditions: tuple[Condition, ...] = attrs.field(
        default=(), metadata=meta("Conditions (Kubernetes convention).", list_key="type")
    )
    worker: str | None = attrs.field(
        default=None, metadata=meta("Name of the terminal pod bound to the shell.")
    )
    kubeconfig_secret: str | None = attrs.field(
        default=None, metadata=meta("Secret holding the kubeconfig the terminal uses.")
    )
    access_secret: str | None = attrs.field(
        default=None,
        metadata=meta("Secret holding the full login URL when auth puts a token in it."),
    )

    def after(self, event: Event, *, access_url: str | None = None) -> CloudShellStatus:
        """This status after ``event``: the new phase and the access URL that goes with it.

        Entering or staying in Ready needs a URL (``access_url`` or the current one); leaving
        Ready for any other phase clears it. Raises :class:`IllegalTransition` otherwise.
        """
        phase, url = phase_after(self.phase, self.access_url, event, access_url)
        if phase.terminal and phase is self.phase:
            return self
        return attrs.evolve(self, phase=phase, access_url=url)

    def condition(self, type_: str) -> Condition | None:
        """The condition of that type, if any."""
        return next((c for c in self.conditions if c.type == type_), None)

    def with_condition(self, condition: Condition) -> CloudShellStatus:
        """This status with ``condition`` set; lastTransitionTime kept when status is unchanged.

        Mirrors ``meta.SetStatusCondition``: the condition replaces the one of the same type.
        """
        return attrs.evolve(self, conditions=set_condition(self.conditions, condition))


def phase_after(
    phase: Phase | None, access_url: str | None, event: Event, new_url: str | None = None
) -> tuple[Phase, str | None]:
    """The phase and access URL of a status in ``phase`` with ``access_url`` after ``event``
    (see :meth:`CloudShellStatus.after`; ``new_url`` is the URL the event brings, if any)."""
    target = transition(phase, event)
    if target is Phase.READY:
        url = new_url or access_url
        if not url:
            raise IllegalTransition(phase or Phase.PENDING, event, "Ready needs an access URL")
        return target, url
    if target.terminal and target is phase:
        return target, access_url
    return target, None


def set_condition(conditions: tuple[Condition, ...], condition: Condition) -> tuple[Condition, ...]:
    """``conditions`` with ``condition`` set (see :meth:`CloudShellStatus.with_condition`)."""
    for old in conditions:
        if old.type == condition.type:
            break
    else:
        return (*conditions, condition)
    if old.status == condition.status:
        condition = attrs.evolve(condition, last_transition_time=old.last_transition_time)
    return tuple(condition if c.type == old.type else c for c in conditions)
