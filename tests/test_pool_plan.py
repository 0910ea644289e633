"""The warm pool: minIdle idle workers per pool key, single use, refilled, trimmed."""

from __future__ import annotations

from cloudtty_core import (
    LABEL_POOL,
    LABEL_STATE,
    ClusterPoolView,
    ObjectRef,
    OperatorSettings,
    PoolKey,
    Snapshot,
    plan_pool,
)
from cloudtty_core.testing import (
    FakeImageBackend,
    apply_plan,
    fail_pod,
    fake_registry,
    start_pods,
)

IMAGE = FakeImageBackend()
KEY = PoolKey("team-a", IMAGE.name, IMAGE.default_image)
REGISTRY = fake_registry()


def fill(snap: Snapshot, settings: OperatorSettings) -> Snapshot:
    return apply_plan(snap, plan_pool(KEY, snap, settings, REGISTRY))


def test_the_pool_is_filled_to_min_idle_before_any_shell_asks() -> None:
    settings = OperatorSettings(min_idle=3)
    result = plan_pool(KEY, Snapshot(), settings, REGISTRY)
    assert len(result.creates) == 3
    for pod in result.creates:
        assert pod["metadata"]["namespace"] == "team-a"
        assert pod["metadata"]["labels"][LABEL_POOL] == KEY.hash
        assert pod["metadata"]["labels"][LABEL_STATE] == "idle"
        assert pod["metadata"]["generateName"].startswith("cloudtty-fake-")
    snap = apply_plan(Snapshot(), result)
    assert plan_pool(KEY, snap, settings, REGISTRY).is_empty  # starting workers count


def test_only_ready_idle_workers_are_offered_to_shells() -> None:
    snap = fill(Snapshot(), OperatorSettings(min_idle=2))
    assert ClusterPoolView(snap).idle_workers(KEY) == []
    snap = start_pods(snap)
    assert len(ClusterPoolView(snap).idle_workers(KEY)) == 2


def test_a_claimed_worker_is_replaced() -> None:
    settings = OperatorSettings(min_idle=1)
    snap = start_pods(fill(Snapshot(), settings))
    worker = ClusterPoolView(snap).idle_workers(KEY)[0]
    worker["metadata"]["labels"][LABEL_STATE] = "claimed"
    snap = snap.put(worker)
    assert len(plan_pool(KEY, snap, settings, REGISTRY).creates) == 1


def test_failed_idle_workers_are_deleted_and_replaced() -> None:
    settings = OperatorSettings(min_idle=1)
    snap = start_pods(fill(Snapshot(), settings))
    name = ClusterPoolView(snap).idle_workers(KEY)[0]["metadata"]["name"]
    snap = fail_pod(snap, ObjectRef("v1", "Pod", "team-a", name))
    result = plan_pool(KEY, snap, settings, REGISTRY)
    assert result.deletes == (ObjectRef("v1", "Pod", "team-a", name),)
    assert len(result.creates) == 1


def test_surplus_is_trimmed_starting_workers_first() -> None:
    snap = start_pods(fill(Snapshot(), OperatorSettings(min_idle=2)))
    snap = fill(snap, OperatorSettings(min_idle=3))  # one more, still starting
    starting = [p for p in snap.list("v1", "Pod") if p["status"]["phase"] == "Pending"]
    result = plan_pool(KEY, snap, OperatorSettings(min_idle=2), REGISTRY)
    assert result.deletes == (ObjectRef.of(starting[0]),)


def test_namespace_overrides_and_cold_images_have_no_pool() -> None:
    settings = OperatorSettings(min_idle=1, min_idle_per_namespace={"team-a": 0})
    assert plan_pool(KEY, Snapshot(), settings, REGISTRY).is_empty
    cold = fake_registry(image=FakeImageBackend(supports_warm_pool=False))
    assert plan_pool(KEY, Snapshot(), OperatorSettings(min_idle=2), cold).is_empty
    missing = PoolKey("team-a", "not-installed", "x")
    assert plan_pool(missing, Snapshot(), OperatorSettings(min_idle=2), REGISTRY).is_empty


def test_pool_keys_do_not_share_workers() -> None:
    other = PoolKey("team-a", IMAGE.name, "example.org/other:2")
    snap = start_pods(fill(Snapshot(), OperatorSettings(min_idle=1)))
    assert ClusterPoolView(snap).idle_workers(other) == []
    assert KEY.hash != other.hash
