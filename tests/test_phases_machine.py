"""A hypothesis state machine drives a shell's status through random events and deletions."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from cloudtty_core import CloudShellStatus, Event, IllegalTransition, Phase, allowed_events
from cloudtty_core.phases import TRANSITIONS

urls = st.none() | st.sampled_from(["http://10.0.0.7:31001/", "https://shells.example.com/a/"])


def reaches_terminal(phase: Phase) -> bool:
    seen, frontier = {phase}, [phase]
    while frontier:
        current = frontier.pop()
        if current.terminal:
            return True
        for event in allowed_events(current):
            target = CloudShellStatus(phase=current, access_url="u").after(event).phase
            assert target is not None
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    return False


class ShellLifecycle(RuleBasedStateMachine):
    """One CloudShell at a time: events move its status, deletion removes it, then a new one.

    ``visited`` collects the phases of all runs, so a test can check every phase was reached.
    """

    visited: set[Phase] = set()

    @initialize()
    def create(self) -> None:
        self.status = CloudShellStatus()
        self.exists = True

    @precondition(lambda self: self.exists)
    @rule(event=st.sampled_from(Event), url=urls)
    def happen(self, event: Event, url: str | None) -> None:
        before = self.status
        phase = before.phase or Phase.PENDING
        try:
            after = before.after(event, access_url=url)
        except IllegalTransition:
            # Only a live phase can refuse, and only what the table forbids or a URL-less Ready.
            assert not phase.terminal
            target = TRANSITIONS[event][
                (Phase.PENDING, Phase.PROVISIONING, Phase.READY).index(phase)
            ]
            assert target is None or (target is Phase.READY and not (url or before.access_url))
            assert self.status == before
            return
        if phase.terminal:
            assert after == before, "Completed and Failed absorb every event"
        if after.phase is Phase.READY and phase is not Phase.READY:
            assert event is Event.ROUTE_READY
        self.status = after
        assert after.phase is not None
        type(self).visited.add(after.phase)

    @precondition(lambda self: self.exists and not (self.status.phase or Phase.PENDING).terminal)
    @rule(url=urls.filter(bool))
    def progress(self, url: str) -> None:
        # What the operator does on a good day: accept the spec, then the route becomes ready.
        phase = self.status.phase or Phase.PENDING
        event = Event.SPEC_ACCEPTED if phase is Phase.PENDING else Event.ROUTE_READY
        self.happen(event, url)

    @precondition(lambda self: self.exists)
    @rule()
    def delete(self) -> None:
        # Deletion is not an event: it works in every phase, terminal ones included.
        self.exists = False

    @precondition(lambda self: not self.exists)
    @rule()
    def recreate(self) -> None:
        self.create()

    @invariant()
    def ready_means_an_access_url(self) -> None:
        if self.exists and self.status.phase is Phase.READY:
            assert self.status.access_url

    @invariant()
    def no_access_url_outside_ready(self) -> None:
        if self.status.phase is not Phase.READY:
            assert self.status.access_url is None

    @invariant()
    def every_shell_can_still_end(self) -> None:
        assert reaches_terminal(self.status.phase or Phase.PENDING)


def test_shell_lifecycle_machine():
    ShellLifecycle.visited = set()
    run_state_machine_as_test(
        ShellLifecycle,
        settings=settings(
            max_examples=150, stateful_step_count=25, deadline=None, derandomize=True
        ),
    )
    assert ShellLifecycle.visited == set(Phase), "every phase is reachable"
