"""Leader election between replicas against the sandbox cluster (official client, real HTTP):
one leads, fail-over when it dies, immediate take-over on release, stepping down when the
API fails. Waits have generous limits; no test asserts how fast anything is."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest

from cloudtty_core.runtime.health import HealthState, Role
from cloudtty_core.runtime.leader import (
    KubernetesLeaseClient,
    LeaderElectionConfig,
    LeaderElector,
    LeadershipLost,
    LeaseRecord,
)

pytest.importorskip("kubernetes")

NAMESPACE, LEASE = "kube-system", "cloudtty-operator"
FAST = {"lease_duration": 1.0, "renew_deadline": 0.6, "retry_period": 0.15}


class Replica:
    """One operator replica: an elector and a log of when it led."""

    def __init__(self, sandbox: Any, name: str, **config: Any) -> None:
        self.api_client = sandbox.api_client()
        settings = {**FAST, **config}
        self.config = LeaderElectionConfig(LEASE, NAMESPACE, identity=name, **settings)
        self.health = HealthState()
        self.terms: list[list[float]] = []  # [started, stopped] of each term, monotonic
        self.renewed: list[float] = []
        self.elector = LeaderElector(
            self.config,
            KubernetesLeaseClient(self.api_client, timeout=2.0),
            health=self.health,
            on_started_leading=lambda: self.terms.append([time.monotonic()]),
            on_stopped_leading=self._stopped,
        )
        self.work_cancelled = 0

    def _stopped(self) -> None:
        self.terms[-1].append(time.monotonic())

    @property
    def name(self) -> str:
        return self.config.identity

    async def work(self) -> None:
        """What a leader does: runs until cancelled."""
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            self.work_cancelled += 1
            raise

    async def run(self, *, reacquire: bool = True) -> None:
        await self.elector.lead(self.work, reacquire=reacquire)

    def close(self) -> None:
        self.api_client.close()


@pytest.fixture
def replicas(sandbox: Any) -> Iterator[Callable[..., Replica]]:
    made: list[Replica] = []

    def make(name: str, **config: Any) -> Replica:
        replica = Replica(sandbox, name, **config)
        made.append(replica)
        return replica

    yield make
    for replica in made:
        replica.close()


def lease(sandbox: Any) -> LeaseRecord:
    found = sandbox.get_object("leases.coordination.k8s.io", NAMESPACE, LEASE)
    assert found is not None
    return LeaseRecord.from_lease(found)


async def until(check: Callable[[], object], timeout: float = 20.0) -> None:
    """Wait (polling) until ``check()`` is truthy; a generous limit, not a speed claim."""
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.02)


def never_overlap(*replicas: Replica) -> None:
    terms = sorted(
        (term[0], term[1] if len(term) > 1 else float("inf"), replica.name)
        for replica in replicas
        for term in replica.terms
    )
    for (_, end, first), (start, _, second) in itertools.pairwise(terms):
        assert end <= start, f"{first} and {second} led at the same time"


def test_of_two_candidates_exactly_one_leads_and_keeps_leading(sandbox, replicas):
    a, b = replicas("replica-a"), replicas("replica-b")

    async def scenario() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(a.run)
            group.start_soon(b.run)
            await until(lambda: a.elector.is_leader or b.elector.is_leader)
            leader, standby = (a, b) if a.elector.is_leader else (b, a)
            await until(lambda: standby.health.role is Role.STANDBY)
            first = lease(sandbox)
            await anyio.sleep(FAST["lease_duration"] * 3)  # several renewals later
            assert leader.elector.is_leader
            assert not standby.elector.is_leader
            assert standby.elector.leader == leader.name
            later = lease(sandbox)
            assert later.holder_identity == leader.name
            assert later.renew_time != first.renew_time
            assert later.leader_transitions == first.leader_transitions
            group.cancel_scope.cancel()

    anyio.run(scenario)
    never_overlap(a, b)


def test_when_the_leader_dies_the_standby_takes_over_after_the_lease_expires(sandbox, replicas):
    # release_on_cancel=False: cancelling the leader is a crash -- it just stops renewing.
    a = replicas("replica-a", release_on_cancel=False)
    b = replicas("replica-b")

    async def scenario() -> None:
        async with anyio.create_task_group() as group:
            a_scope = anyio.CancelScope()

            async def run_a() -> None:
                with a_scope:
                    await a.run()

            group.start_soon(run_a)
            await until(lambda: a.elector.is_leader)
            group.start_soon(b.run)
            await until(lambda: b.health.role is Role.STANDBY)
            before = lease(sandbox)
            a_scope.cancel()
            await until(lambda: b.elector.is_leader)
            took_over = time.monotonic()
            after = lease(sandbox)
            assert after.holder_identity == "replica-b"
            assert after.leader_transitions == before.leader_transitions + 1
            # b waited out the lease a wrote last: a full lease duration after a's last renewal
            # began (its write landed later still, and b saw it later again).
            assert took_over - a.elector.last_renewed >= FAST["lease_duration"]
            group.cancel_scope.cancel()

    anyio.run(scenario)
    assert a.work_cancelled == 1


def test_a_gracefully_stopping_leader_hands_over_at_once(sandbox, replicas):
    # A lease of 30 s: a take-over within the 10 s limit can only come from the release.
    slow = {"lease_duration": 30.0, "renew_deadline": 20.0, "retry_period": 0.2}
    a, b = replicas("replica-a", **slow), replicas("replica-b", **slow)

    async def scenario() -> None:
        async with anyio.create_task_group() as group:
            a_scope = anyio.CancelScope()

            async def run_a() -> None:
                with a_scope:
                    await a.run()

            group.start_soon(run_a)
            await until(lambda: a.elector.is_leader)
            group.start_soon(b.run)
            await until(lambda: b.health.role is Role.STANDBY)
            a_scope.cancel()
            await until(lambda: not a.elector.is_leader)
            assert lease(sandbox).holder_identity in ("", "replica-b")
            await until(lambda: b.elector.is_leader, timeout=10.0)
            assert lease(sandbox).holder_identity == "replica-b"
            group.cancel_scope.cancel()

    anyio.run(scenario)
    never_overlap(a, b)
    assert a.work_cancelled == 1


def test_a_leader_that_cannot_renew_steps_down_before_anyone_takes_over(sandbox, replicas):
    a, b = replicas("replica-a"), replicas("replica-b")
    outcome: list[BaseException] = []

    async def run_a_once() -> None:
        try:
            await a.run(reacquire=False)
        except LeadershipLost as lost:
            outcome.append(lost)

    async def scenario() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(run_a_once)
            await until(lambda: a.elector.is_leader)
            group.start_soon(b.run)
            await until(lambda: b.health.role is Role.STANDBY)
            sandbox.set_faults(
                {
                    "errors": [
                        {"rate": 1.0, "resource": "leases.coordination.k8s.io", "codes": [500]}
                    ]
                }
            )
            await until(lambda: not a.elector.is_leader)
            # a gave up on its own deadline: nobody could write the lease meanwhile.
            assert lease(sandbox).holder_identity == "replica-a"
            assert not b.elector.is_leader
            assert a.work_cancelled == 1
            sandbox.clear_faults()
            await until(lambda: b.elector.is_leader)
            assert lease(sandbox).holder_identity == "replica-b"
            group.cancel_scope.cancel()

    anyio.run(scenario)
    assert len(outcome) == 1
    assert "lost the lease kube-system/cloudtty-operator" in str(outcome[0])
    never_overlap(a, b)


def test_a_replica_without_a_reachable_lease_namespace_stays_a_candidate(sandbox, replicas):
    a = replicas("replica-a")
    a.config = LeaderElectionConfig(LEASE, "no-such-namespace", identity="replica-a", **FAST)
    a.elector = LeaderElector(a.config, KubernetesLeaseClient(a.api_client), health=a.health)

    async def scenario() -> None:
        with anyio.move_on_after(FAST["lease_duration"] * 2):
            await a.run()

    anyio.run(scenario)
    assert not a.elector.is_leader
    assert a.health.role is Role.CANDIDATE
    assert a.work_cancelled == 0
