"""The runtime's index of idle session Secrets: it follows Secret events so that a shell's claim
reads the first claimable worker of its pool, oldest first, and it always agrees with the
idle, unclaimed, undeleted Secrets of each pool."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cloudtty_core import PoolKey
from cloudtty_core.plan import pool_labels
from cloudtty_core.plan.names import LABEL_STATE, LABEL_WORKER, STATE_CLAIMED, STATE_IDLE
from cloudtty_core.runtime.informer import ADDED, DELETED, MODIFIED
from cloudtty_core.runtime.view import IdleSessions

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
