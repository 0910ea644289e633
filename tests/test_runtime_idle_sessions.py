"""The runtime's indexes of workers' session Secrets, kept from Secret events: the idle ones,
so that a shell's claim reads the first claimable worker of its pool, oldest first; and the
claimed ones, which the pool pass leaves out and the caches need not keep decoded. Each always
agrees with the Secrets it indexes."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cloudtty_core import PoolKey
from cloudtty_core.plan import pool_labels
from cloudtty_core.plan.names import (
    LABEL_POOL,
    LABEL_SHELL_UID,
    LABEL_STATE,
    LABEL_WORKER,
    STATE_CLAIMED,
    STATE_IDLE,
)
from cloudtty_core.runtime.informer import ADDED, DELETED, MODIFIED
from cloudtty_core.runtime.view import ClaimedWorkers, IdleSessions

POOLS = [PoolKey("team-a", "ttyd", "img:1"), PoolKey("team-b", "ttyd", "img:1")]


def session(pool: PoolKey, worker: str, state: str, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": f"{worker}-session",
        "namespace": pool.namespace,
        "labels": {**pool_labels(pool), LABEL_WORKER: worker, LABEL_STATE: state},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta}


def test_sessions_are_handed_out_in_the_order_they_became_idle() -> None:
    idle = IdleSessions()
    pool = POOLS[0]
    for worker in ("w-c", "w-a", "w-b"):
        idle.handle(ADDED, session(pool, worker, STATE_IDLE), None)
    assert [name for _, name in idle.of(pool)] == ["w-c-session", "w-a-session", "w-b-session"]

    claimed = session(pool, "w-c", STATE_CLAIMED)
    idle.handle(MODIFIED, claimed, session(pool, "w-c", STATE_IDLE))
    assert [name for _, name in idle.of(pool)] == ["w-a-session", "w-b-session"]
    assert list(idle.of(POOLS[1])) == []


def test_a_session_being_deleted_or_deleted_is_not_idle() -> None:
    idle = IdleSessions()
    pool = POOLS[0]
    idle.handle(ADDED, session(pool, "w-a", STATE_IDLE), None)
    idle.handle(ADDED, session(pool, "w-b", STATE_IDLE), None)
    idle.handle(MODIFIED, session(pool, "w-a", STATE_IDLE, deleting=True), None)
    idle.handle(DELETED, session(pool, "w-b", STATE_IDLE), None)
    assert list(idle.of(pool)) == []
    assert len(idle) == 0


def test_a_secret_of_no_pool_is_never_idle() -> None:
    idle = IdleSessions()
    plain = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x", "namespace": "a"}}
    idle.handle(ADDED, plain, None)
    assert len(idle) == 0


# An event: which pool, which worker, which state it moves to (None: deleted).
events = st.lists(
    st.tuples(
        st.sampled_from(POOLS),
        st.sampled_from(["w-1", "w-2", "w-3", "w-4"]),
        st.sampled_from([STATE_IDLE, STATE_CLAIMED, "deleting", None]),
    ),
    max_size=40,
)


@given(events)
def test_each_pool_lists_exactly_its_idle_sessions_in_the_order_they_became_idle(
    changes: list[tuple[PoolKey, str, str | None]],
) -> None:
    idle = IdleSessions()
    stored: dict[tuple[str, str], dict[str, Any]] = {}
    became_idle: list[tuple[str, str]] = []  # the order a reader should see
    for pool, worker, state in changes:
        key = (pool.namespace, f"{worker}-session")
        old = stored.get(key)
        if state is None:
            if old is None:
                continue
            del stored[key]
            idle.handle(DELETED, old, old)
        else:
            new = session(
                pool, worker, STATE_IDLE if state == "deleting" else state, state == "deleting"
            )
            stored[key] = new
            idle.handle(MODIFIED if old is not None else ADDED, new, old)
        now_idle = key in stored and _is_idle(stored[key])
        if not now_idle and key in became_idle:
            became_idle.remove(key)
        elif now_idle and key not in became_idle:
            became_idle.append(key)  # an idle session that stays idle keeps its place
    for pool in POOLS:
        expected = [k for k in became_idle if k[0] == pool.namespace]
        assert list(idle.of(pool)) == expected


def _is_idle(secret: dict[str, Any]) -> bool:
    meta = secret["metadata"]
    return meta["labels"][LABEL_STATE] == STATE_IDLE and "deletionTimestamp" not in meta


# ------------------------------------------------------------------------ the claimed index
@given(events)
def test_the_claimed_workers_are_exactly_those_whose_session_is_claimed(
    steps: list[tuple[PoolKey, str, str | None]],
) -> None:
    claimed = ClaimedWorkers()
    heard: list[tuple[str, str]] = []
    claimed.on_claim(lambda namespace, worker: heard.append((namespace, worker)))
    stored: dict[tuple[str, str], dict[str, Any]] = {}
    expected_claims: list[tuple[str, str]] = []
    for pool, worker, state in steps:
        key = (pool.namespace, worker)
        old = stored.get(key)
        was = old is not None and _claimed(old)
        if state is None:
            if old is None:
                continue
            del stored[key]
            claimed.handle(DELETED, old, None)
            continue
        new = session(pool, worker, STATE_CLAIMED if state == "deleting" else state)
        if state == "deleting":
            new["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        stored[key] = new
        claimed.handle(ADDED if old is None else MODIFIED, new, old)
        if _claimed(new) and not was:
            expected_claims.append(key)
        for namespace in ("team-a", "team-b"):
            assert set(claimed.names(namespace)) == {
                w for (ns, w), s in stored.items() if ns == namespace and _claimed(s)
            }
        for each in POOLS:
            assert claimed.count(each) == sum(
                1
                for s in stored.values()
                if _claimed(s) and s["metadata"]["labels"][LABEL_POOL] == each.hash
            )
    assert heard == expected_claims  # each worker heard of once per claim
    assert len(claimed) == sum(1 for s in stored.values() if _claimed(s))


def _claimed(secret: dict[str, Any]) -> bool:
    meta = secret["metadata"]
    return meta["labels"][LABEL_STATE] == STATE_CLAIMED and "deletionTimestamp" not in meta


def test_a_secret_of_no_pool_or_no_worker_is_never_a_claimed_worker() -> None:
    claimed = ClaimedWorkers()
    plain = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x", "namespace": "a"}}
    claimed.handle(ADDED, plain, None)
    labelled = session(POOLS[0], "w-1", STATE_CLAIMED)
    del labelled["metadata"]["labels"][LABEL_WORKER]
    claimed.handle(ADDED, labelled, None)
    assert len(claimed) == 0


def test_the_caches_keep_unclaimed_pool_workers_decoded_and_nothing_else() -> None:
    claimed = ClaimedWorkers()
    pool = POOLS[0]

    def part(kind: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
        meta = {"name": name, "namespace": pool.namespace, "labels": labels}
        return {"apiVersion": "v1", "kind": kind, "metadata": meta}

    idle_pod = part("Pod", "w-1", {**pool_labels(pool), LABEL_WORKER: "w-1"})
    claimed_pod = part("Pod", "w-2", {**pool_labels(pool), LABEL_WORKER: "w-2"})
    claimed.handle(ADDED, session(pool, "w-2", STATE_CLAIMED), None)
    assert claimed.keeps_decoded(idle_pod)
    assert claimed.keeps_decoded(session(pool, "w-1", STATE_IDLE))
    assert claimed.keeps_decoded(part("ServiceAccount", "w-1", pool_labels(pool)))
    assert not claimed.keeps_decoded(claimed_pod)
    assert not claimed.keeps_decoded(part("ServiceAccount", "w-2", pool_labels(pool)))
    assert not claimed.keeps_decoded(session(pool, "w-2", STATE_CLAIMED))
    # The same name in another namespace is another worker.
    other = part("Pod", "w-2", pool_labels(pool))
    other["metadata"]["namespace"] = "team-b"
    assert claimed.keeps_decoded(other)
    assert not claimed.keeps_decoded(part("Pod", "shell-pod", {LABEL_SHELL_UID: "u1"}))
