"""The transition table: what each event does in each phase."""

from __future__ import annotations

import pytest

from cloudtty_core import Event, IllegalTransition, Phase, allowed_events, transition
from cloudtty_core.phases import TERMINAL_PHASES, TRANSITIONS

LIVE = (Phase.PENDING, Phase.PROVISIONING, Phase.READY)


def test_the_table_covers_every_event():
    assert set(TRANSITIONS) == set(Event)


def test_a_new_shell_counts_as_pending():
    for event in Event:
        assert allowed_events(None) == allowed_events(Phase.PENDING)
        if event in allowed_events(None):
            assert transition(None, event) == transition(Phase.PENDING, event)


def test_happy_path():
    phase = transition(None, Event.SPEC_ACCEPTED)
    assert phase is Phase.PROVISIONING
    phase = transition(phase, Event.WORKER_BOUND)
    assert phase is Phase.PROVISIONING
    phase = transition(phase, Event.ROUTE_READY)
    assert phase is Phase.READY
    assert transition(phase, Event.SESSION_ENDED) is Phase.COMPLETED


@pytest.mark.parametrize("phase", LIVE)
@pytest.mark.parametrize(
    "event", [Event.SPEC_INVALID, Event.PERMANENT_ERROR, Event.BACKEND_MISSING]
)
def test_failures_fail_from_every_live_phase(phase, event):
    assert transition(phase, event) is Phase.FAILED


@pytest.mark.parametrize("phase", LIVE)
def test_ttl_ends_every_live_phase(phase):
    assert transition(phase, Event.TTL_EXPIRED) is Phase.COMPLETED


@pytest.mark.parametrize("phase", [Phase.PENDING, Phase.PROVISIONING])
@pytest.mark.parametrize("event", [Event.SESSION_ENDED, Event.IDLE_TIMEOUT])
def test_sessions_end_only_once_they_are_ready(phase, event):
    with pytest.raises(IllegalTransition) as caught:
        transition(phase, event)
    assert (caught.value.phase, caught.value.event) == (phase, event)
    assert f"event {event.value} in phase {phase.value}" in str(caught.value)


@pytest.mark.parametrize("event", [Event.WORKER_BOUND, Event.ROUTE_READY, Event.WORKER_LOST])
def test_pending_shells_have_no_worker_yet(event):
    with pytest.raises(IllegalTransition):
        transition(Phase.PENDING, event)


def test_losing_the_worker_goes_back_to_provisioning():
    assert transition(Phase.READY, Event.WORKER_LOST) is Phase.PROVISIONING
    assert transition(Phase.READY, Event.DEPENDENCY_MISSING) is Phase.PROVISIONING


def test_only_route_ready_makes_a_shell_ready():
    for phase in (Phase.PENDING, Phase.PROVISIONING):
        for event in allowed_events(phase):
            assert (transition(phase, event) is Phase.READY) == (event is Event.ROUTE_READY)


@pytest.mark.parametrize("phase", sorted(TERMINAL_PHASES))
@pytest.mark.parametrize("event", list(Event))
def test_terminal_phases_absorb_every_event(phase, event):
    assert transition(phase, event) is phase


def test_every_phase_is_reachable_from_a_new_shell():
    seen: set[Phase] = {Phase.PENDING}
    frontier = [Phase.PENDING]
    while frontier:
        phase = frontier.pop()
        for event in allowed_events(phase):
            target = transition(phase, event)
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(Phase)


def test_phase_strings_are_the_status_values():
    assert [p.value for p in Phase] == ["Pending", "Provisioning", "Ready", "Completed", "Failed"]
    assert Phase("Complete") is Phase.COMPLETED
    with pytest.raises(ValueError):
        Phase("Running")
