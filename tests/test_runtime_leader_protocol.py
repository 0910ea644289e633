"""The leader-election protocol, step by step on a virtual clock against an in-memory Lease
store with resourceVersion semantics: who may take the Lease, when, and never two at once."""

from __future__ import annotations

import copy
import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from cloudtty_core.runtime.health import HealthState, Role
from cloudtty_core.runtime.leader import (
    LeaderElectionConfig,
    LeaderElector,
    LeaseConflict,
    LeaseError,
    LeaseRecord,
)
from cloudtty_core.runtime.metrics import OperatorMetrics

NAMESPACE, NAME = "kube-system", "cloudtty-operator"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    """Virtual time: monotonic seconds, and a wall clock that may be skewed."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def wall(self, skew: float = 0.0) -> datetime:
        return EPOCH + timedelta(seconds=self.now + skew)


class MemoryLeases:
    """Leases in memory, with the API server's rules: 409 on a stale resourceVersion or an
    existing name; every write bumps the resourceVersion."""

    def __init__(self) -> None:
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        self.versions = itertools.count(1)
        self.fail: type[LeaseError] | None = None
        self.writes = 0
        self._lock = threading.Lock()

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail("injected failure")

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            self._check()
            found = self.leases.get((namespace, name))
            return copy.deepcopy(found) if found else None

    def create(self, namespace: str, lease: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._check()
            key = (namespace, lease["metadata"]["name"])
            if key in self.leases:
                raise LeaseConflict("already exists")
            return self._store(key, lease)

    def replace(self, namespace: str, name: str, lease: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._check()
            key = (namespace, name)
            current = self.leases.get(key)
            if current is None:
                raise LeaseError("not found")
            if lease["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                raise LeaseConflict("the object has been modified")
            return self._store(key, lease)

    def _store(self, key: tuple[str, str], lease: dict[str, Any]) -> dict[str, Any]:
        stored = copy.deepcopy(lease)
        stored["metadata"] = {
            **stored["metadata"],
            "namespace": key[0],
            "resourceVersion": str(next(self.versions)),
        }
        self.leases[key] = stored
        self.writes += 1
        return copy.deepcopy(stored)

    def record(self) -> LeaseRecord:
        return LeaseRecord.from_lease(self.leases[(NAMESPACE, NAME)])


CONFIG = {"lease_duration": 15.0, "renew_deadline": 10.0, "retry_period": 2.0}


def elector(
    name: str, store: MemoryLeases, clock: Clock, skew: float = 0.0, **kwargs: Any
) -> LeaderElector:
    config = LeaderElectionConfig(NAME, NAMESPACE, identity=name, **CONFIG)
    return LeaderElector(config, store, clock=clock, wall_clock=lambda: clock.wall(skew), **kwargs)


def attempt(candidate: LeaderElector) -> bool:
    async def once() -> bool:
        return await candidate.try_acquire_or_renew()

    return anyio.run(once)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryLeases:
    return MemoryLeases()


def test_the_first_candidate_creates_the_lease_and_holds_it(store, clock):
    a = elector("a", store, clock)
    assert attempt(a)
    record = store.record()
    assert record.holder_identity == "a"
    assert record.lease_duration_seconds == 15
    assert record.leader_transitions == 0
    assert record.renew_time == "2026-01-01T00:16:40.000000Z"
    assert a.leader == "a"


def test_a_candidate_waits_for_the_lease_duration_after_the_last_change_it_saw(store, clock):
    a, b = elector("a", store, clock), elector("b", store, clock)
    assert attempt(a)
    assert not attempt(b)  # b first sees a's record now
    assert b.leader == "a"
    clock.now += 14.999
    assert not attempt(b)
    clock.now += 0.002
    assert attempt(b)
    record = store.record()
    assert record.holder_identity == "b"
    assert record.leader_transitions == 1


def test_a_renewing_leader_is_never_displaced(store, clock):
    a, b = elector("a", store, clock), elector("b", store, clock)
    assert attempt(a)
    for _ in range(40):  # 80 virtual seconds, far beyond one lease duration
        clock.now += 2.0
        assert attempt(a)
        assert not attempt(b)
    assert store.record().holder_identity == "a"
    assert store.record().leader_transitions == 0


def test_renewal_keeps_the_acquire_time_and_writes_without_reading_first(store, clock):
    a = elector("a", store, clock)
    assert attempt(a)
    acquired = store.record().acquire_time
    reads_before = store.writes
    clock.now += 2
    assert attempt(a)
    assert store.record().acquire_time == acquired
    assert store.record().renew_time != acquired
    assert store.writes == reads_before + 1


def test_the_wall_clock_of_the_holder_does_not_matter(store, clock):
    # The holder's clock runs an hour late: its renewTime looks long expired, yet the
    # candidate measures the lease from when it saw the record change.
    a, b = elector("a", store, clock, skew=-3600), elector("b", store, clock, skew=+3600)
    assert attempt(a)
    assert not attempt(b)
    clock.now += 10
    assert not attempt(b)


def test_a_released_lease_is_taken_at_the_next_attempt(store, clock):
    a, b = elector("a", store, clock), elector("b", store, clock)
    assert attempt(a)
    assert not attempt(b)

    async def release() -> bool:
        a._start_leading()
        return await a.release()

    assert anyio.run(release)
    record = store.record()
    assert record.holder_identity == ""
    assert record.lease_duration_seconds == 1
    assert not a.is_leader
    clock.now += 0.001
    assert attempt(b)
    assert store.record().holder_identity == "b"


def test_two_candidates_racing_for_an_expired_lease_cannot_both_win(store, clock):
    a, b, c = (elector(name, store, clock) for name in "abc")
    assert attempt(a)
    assert not attempt(b)
    assert not attempt(c)
    clock.now += 16
    # b and c both read the expired lease; b writes first, c's write carries a stale version.
    current = store.get(NAMESPACE, NAME)
    assert current is not None
    assert attempt(b)
    original_get = store.get
    store.get = lambda namespace, name: copy.deepcopy(current)  # type: ignore[method-assign]
    try:
        assert not attempt(c)
    finally:
        store.get = original_get  # type: ignore[method-assign]
    assert store.record().holder_identity == "b"


def test_api_errors_count_as_failed_attempts(store, clock):
    a = elector("a", store, clock)
    store.fail = LeaseError
    assert not attempt(a)
    store.fail = None
    assert attempt(a)


def test_role_and_leader_metric_follow_the_election(store, clock):
    health, metrics = HealthState(), OperatorMetrics()
    started, stopped, leaders = [], [], []
    a = elector(
        "a",
        store,
        clock,
        health=health,
        metrics=metrics,
        on_started_leading=lambda: started.append(1),
        on_stopped_leading=lambda: stopped.append(1),
        on_new_leader=leaders.append,
    )
    assert health.role is Role.STARTING

    async def scenario() -> None:
        await a.acquire()
        assert a.is_leader
        assert health.role is Role.LEADER
        assert metrics.value("cloudtty_leader") == 1
        assert await a.release()

    anyio.run(scenario)
    assert started == [1]
    assert stopped == [1]
    assert leaders == ["a"]
    assert metrics.value("cloudtty_leader") == 0
    assert metrics.value("cloudtty_leadership_changes_total", {"state": "leading"}) == 1
    assert health.role is Role.CANDIDATE


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"lease_duration": 10, "renew_deadline": 10}, "greater than the renew deadline"),
        ({"renew_deadline": 2.0, "retry_period": 2.0}, "1.2 x the retry period"),
        ({"retry_period": 0}, "retry_period must be positive"),
        ({"lease_name": "Not_A_Name"}, "not a DNS subdomain"),
        ({"lease_namespace": "a.b"}, "not a DNS label"),
        ({"identity": " "}, "identity must not be empty"),
    ],
)
def test_bad_configuration_is_refused_with_the_reason(fields, message):
    with pytest.raises(ValueError, match=message):
        LeaderElectionConfig(**fields)


class TwoReplicas(RuleBasedStateMachine):
    """Any interleaving of attempts, releases and time: a new holder only ever takes the
    Lease a full lease duration after the previous holder's last write, unless it was
    released -- so the previous holder stepped down (renew deadline) before."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.store = MemoryLeases()
        self.electors = [elector(name, self.store, self.clock) for name in "abc"]
        self.last_write: tuple[str, float] | None = None  # holder and time of its last write
        self.released = False

    @rule(seconds=st.floats(min_value=0.0, max_value=9.0))
    def time_passes(self, seconds: float) -> None:
        self.clock.now += seconds

    @rule(index=st.integers(0, 2))
    def attempt(self, index: int) -> None:
        candidate = self.electors[index]
        if attempt(candidate):
            now = self.clock.now
            if self.last_write and self.last_write[0] != candidate.identity and not self.released:
                holder, written = self.last_write
                assert now - written >= CONFIG["lease_duration"], (holder, written, now)
            self.last_write = (candidate.identity, now)
            self.released = False

    @precondition(lambda self: self.last_write is not None)
    @rule()
    def holder_releases(self) -> None:
        assert self.last_write is not None
        holder = next(e for e in self.electors if e.identity == self.last_write[0])

        async def release() -> bool:
            holder._start_leading()
            return await holder.release()

        if anyio.run(release):
            self.released = True

    @invariant()
    def the_lease_names_the_last_writer(self) -> None:
        if self.last_write is not None:
            expected = "" if self.released else self.last_write[0]
            assert self.store.record().holder_identity == expected


TwoReplicas.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_leases_change_hands_only_after_expiry_or_release = TwoReplicas.TestCase
