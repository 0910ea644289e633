"""The warm pool: minIdle idle workers per pool key, single use, refilled, trimmed -- each
worker with a ServiceAccount of its own that may read its own session Secret and nothing else."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from cloudtty_core import (
    LABEL_POOL,
    LABEL_STATE,
    LABEL_WORKER,
    ClusterPoolView,
    ObjectRef,
    OperatorSettings,
    Plan,
    PoolKey,
    Snapshot,
    plan_pool,
)
from cloudtty_core.backends import copy_json
from cloudtty_core.plan.pool import REFILL_BATCH
from cloudtty_core.testing import (
    FakeImageBackend,
    apply_plan,
    create,
    delete,
    fail_pod,
    fake_registry,
    fill_pool,
    start_pods,
)

IMAGE = FakeImageBackend()
KEY = PoolKey("team-a", IMAGE.name, IMAGE.default_image)
REGISTRY = fake_registry()
RBAC = "rbac.authorization.k8s.io/v1"


def names() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"n{next(counter)}"


def pool_pass(
    snap: Snapshot, settings: OperatorSettings, source: Callable[[], str] | None = None
) -> Plan:
    """One pass of the pool of ``KEY`` over ``snap``."""
    view = ClusterPoolView(snap)
    if source is None:
        return plan_pool(KEY, snap, view, settings, REGISTRY)
    return plan_pool(KEY, snap, view, settings, REGISTRY, source)


def fill(snap: Snapshot, settings: OperatorSettings) -> Snapshot:
    return fill_pool(snap, KEY, settings, REGISTRY, name_source=names())


def kinds(objects: tuple[dict, ...]) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return sorted((o["kind"], o["metadata"]["name"]) for o in objects)


def test_a_worker_is_its_account_then_idle_session_then_pod_role_and_binding() -> None:
    settings = OperatorSettings(min_idle=2)
    source = names()
    first = pool_pass(Snapshot(), settings, source)
    assert kinds(first.creates) == [
        ("ServiceAccount", "cloudtty-fake-n1"),
        ("ServiceAccount", "cloudtty-fake-n2"),
    ]
    for account in first.creates:
        assert account["metadata"]["namespace"] == "team-a"
        assert account["metadata"]["labels"][LABEL_POOL] == KEY.hash
        assert "automountServiceAccountToken" not in account  # the worker reads with it
    snap = apply_plan(Snapshot(), first)
    accounts = {a["metadata"]["name"]: a for a in snap.list("v1", "ServiceAccount")}

    # The idle session Secret: what a shell's claim writes, owned by the account until then.
    second = pool_pass(snap, settings, source)
    assert kinds(second.creates) == [
        ("Secret", "cloudtty-fake-n1-session"),
        ("Secret", "cloudtty-fake-n2-session"),
    ]
    for secret in second.creates:
        name = secret["metadata"]["name"].removesuffix("-session")
        (owner,) = secret["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"]) == (
            "ServiceAccount",
            accounts[name]["metadata"]["uid"],
        )
        assert secret["metadata"]["labels"][LABEL_STATE] == "idle"
        assert secret["metadata"]["labels"][LABEL_WORKER] == name
        assert not secret.get("data")
        assert not secret.get("stringData")
    snap = apply_plan(snap, second)
    sessions = {s["metadata"]["name"]: s for s in snap.list("v1", "Secret")}

    third = pool_pass(snap, settings, source)
    assert kinds(third.creates) == [
        (kind, f"cloudtty-fake-n{n}") for kind in ("Pod", "Role", "RoleBinding") for n in (1, 2)
    ]
    for obj in third.creates:
        name = obj["metadata"]["name"]
        (owner,) = obj["metadata"]["ownerReferences"]
        if obj["kind"] == "Pod":
            # Owned by its session Secret: the pod goes with the shell that claims it.
            session = sessions[f"{name}-session"]
            assert (owner["kind"], owner["uid"]) == ("Secret", session["metadata"]["uid"])
            assert obj["spec"]["serviceAccountName"] == name
            assert obj["metadata"]["labels"][LABEL_WORKER] == name
            assert LABEL_STATE not in obj["metadata"]["labels"]
            continue
        assert (owner["kind"], owner["name"]) == ("ServiceAccount", name)
        assert owner["uid"] == accounts[name]["metadata"]["uid"]
        if obj["kind"] == "Role":
            assert obj["rules"] == [
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": [f"{name}-session"],
                    "verbs": ["get", "watch"],
                }
            ]
        else:
            assert obj["roleRef"] == {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": name,
            }
            assert obj["subjects"] == [
                {"kind": "ServiceAccount", "name": name, "namespace": "team-a"}
            ]
    snap = apply_plan(snap, third)
    assert pool_pass(snap, settings, source).is_empty  # starting workers count


def test_only_ready_idle_workers_that_can_read_their_session_are_offered() -> None:
    snap = fill_pool(Snapshot(), KEY, OperatorSettings(min_idle=2), REGISTRY, kubelet=False)
    assert list(ClusterPoolView(snap).idle_workers(KEY)) == []
    snap = start_pods(snap)
    offered = list(ClusterPoolView(snap).idle_workers(KEY))
    assert len(offered) == 2
    # Without its RoleBinding a worker could not read the session a shell writes for it.
    name = offered[0]["metadata"]["name"]
    snap = snap.remove(ObjectRef(RBAC, "RoleBinding", "team-a", name))
    assert [p["metadata"]["name"] for p in list(ClusterPoolView(snap).idle_workers(KEY))] != [
        p["metadata"]["name"] for p in offered
    ]


def test_a_claimed_worker_is_replaced_and_keeps_its_account() -> None:
    settings = OperatorSettings(min_idle=1)
    snap = fill(Snapshot(), settings)
    worker = next(iter(ClusterPoolView(snap).idle_workers(KEY)))
    session = snap.get("v1", "Secret", "team-a", f"{worker['metadata']['name']}-session")
    assert session is not None
    session = copy_json(session)
    session["metadata"]["labels"][LABEL_STATE] = "claimed"
    snap = snap.put(session)
    assert list(ClusterPoolView(snap).idle_workers(KEY)) == []
    result = pool_pass(snap, settings, names())
    assert [o["kind"] for o in result.creates] == ["ServiceAccount"]
    assert result.creates[0]["metadata"]["name"] != worker["metadata"]["name"]
    assert not result.deletes  # the shell that claimed it deletes its account


def test_failed_idle_workers_are_deleted_with_their_account_and_replaced() -> None:
    settings = OperatorSettings(min_idle=1)
    snap = fill(Snapshot(), settings)
    name = next(iter(ClusterPoolView(snap).idle_workers(KEY)))["metadata"]["name"]
    snap = fail_pod(snap, ObjectRef("v1", "Pod", "team-a", name))
    result = pool_pass(snap, settings, names())
    assert set(result.deletes) == {
        ObjectRef("v1", "ServiceAccount", "team-a", name),
        ObjectRef("v1", "Pod", "team-a", name),
    }
    assert [o["kind"] for o in result.creates] == ["ServiceAccount"]
    snap = apply_plan(snap, result)
    # Garbage collection took the Role and RoleBinding with the account.
    assert snap.get(RBAC, "Role", "team-a", name) is None
    assert snap.get(RBAC, "RoleBinding", "team-a", name) is None


def test_an_account_whose_pod_is_gone_is_spent_never_given_a_second_pod() -> None:
    settings = OperatorSettings(min_idle=1)
    snap = fill(Snapshot(), settings)
    worker = next(iter(ClusterPoolView(snap).idle_workers(KEY)))
    name = worker["metadata"]["name"]
    # The pod disappears (a claimed worker whose shell was deleted without a finalizer goes by
    # garbage collection; here it is removed behind the operator's back).
    snap = snap.remove(ObjectRef.of(worker))
    result = pool_pass(snap, settings, names())
    assert ObjectRef("v1", "ServiceAccount", "team-a", name) in result.deletes
    assert not [o for o in result.creates if o["metadata"].get("name") == name]


def test_an_account_without_its_pod_yet_is_completed_not_replaced() -> None:
    settings = OperatorSettings(min_idle=1)
    source = names()
    snap = apply_plan(
        Snapshot(),
        pool_pass(Snapshot(), settings, source),
    )
    (account,) = snap.list("v1", "ServiceAccount", "team-a")
    name = account["metadata"]["name"]
    result = pool_pass(snap, settings, source)
    assert not result.deletes
    assert {o["metadata"]["name"] for o in result.creates} == {f"{name}-session"}
    snap = apply_plan(snap, result)
    result = pool_pass(snap, settings, source)
    assert not result.deletes
    assert {o["metadata"]["name"] for o in result.creates} == {name}


def test_idle_pods_without_an_account_of_their_own_are_deleted() -> None:
    # An idle worker made before accounts were per worker runs as a shared account.
    legacy = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "cloudtty-fake-old",
            "namespace": "team-a",
            "labels": {
                "app.kubernetes.io/managed-by": "cloudtty",
                "cloudtty.io/role": "worker",
                "cloudtty.io/pool": KEY.hash,
                "cloudtty.io/state": "idle",
            },
        },
        "spec": {"serviceAccountName": "default", "containers": [{"name": "t", "image": "x"}]},
    }
    snap = start_pods(create(Snapshot(), legacy))
    assert list(ClusterPoolView(snap).idle_workers(KEY)) == []
    result = pool_pass(snap, OperatorSettings(min_idle=1), names())
    assert ObjectRef("v1", "Pod", "team-a", "cloudtty-fake-old") in result.deletes
    assert [o["kind"] for o in result.creates] == ["ServiceAccount"]


def test_surplus_is_trimmed_starting_workers_first_by_deleting_their_account() -> None:
    snap = fill(Snapshot(), OperatorSettings(min_idle=2))
    more = fill_pool(snap, KEY, OperatorSettings(min_idle=3), REGISTRY, name_source=lambda: "late")
    snap = more.put(*(p for p in snap.list("v1", "Pod")))  # the new one is still starting
    starting = [p for p in more.list("v1", "Pod") if p["metadata"]["name"].endswith("-late")]
    assert starting
    result = pool_pass(snap, OperatorSettings(min_idle=2), names())
    assert ObjectRef("v1", "ServiceAccount", "team-a", "cloudtty-fake-late") in result.deletes
    assert len([r for r in result.deletes if r.kind == "ServiceAccount"]) == 1
    after = apply_plan(snap, result)
    assert after.get("v1", "Pod", "team-a", "cloudtty-fake-late") is None  # GC and delete


def test_deleting_the_account_removes_an_idle_worker_entirely() -> None:
    snap = fill(Snapshot(), OperatorSettings(min_idle=1))
    (account,) = snap.list("v1", "ServiceAccount", "team-a")
    name = account["metadata"]["name"]
    snap = delete(snap, ObjectRef.of(account))
    for api_version, kind in (("v1", "Pod"), (RBAC, "Role"), (RBAC, "RoleBinding")):
        assert snap.get(api_version, kind, "team-a", name) is None


def test_namespace_overrides_and_cold_images_have_no_pool() -> None:
    settings = OperatorSettings(min_idle=1, min_idle_per_namespace={"team-a": 0})
    assert pool_pass(Snapshot(), settings).is_empty
    cold = fake_registry(image=FakeImageBackend(supports_warm_pool=False))
    assert plan_pool(
        KEY, Snapshot(), ClusterPoolView(Snapshot()), OperatorSettings(min_idle=2), cold
    ).is_empty
    missing = PoolKey("team-a", "not-installed", "x")
    assert plan_pool(
        missing, Snapshot(), ClusterPoolView(Snapshot()), OperatorSettings(min_idle=2), REGISTRY
    ).is_empty


def test_pool_keys_do_not_share_workers() -> None:
    other = PoolKey("team-a", IMAGE.name, "example.org/other:2")
    snap = fill(Snapshot(), OperatorSettings(min_idle=1))
    assert list(ClusterPoolView(snap).idle_workers(other)) == []
    assert plan_pool(
        other, snap, ClusterPoolView(snap), OperatorSettings(min_idle=0), REGISTRY
    ).is_empty
    assert KEY.hash != other.hash


def test_worker_names_stay_one_dns_label() -> None:
    long_backend = FakeImageBackend(name="b" * 80)
    registry = fake_registry(image=long_backend)
    key = PoolKey("team-a", long_backend.name, long_backend.default_image)
    result = plan_pool(
        key, Snapshot(), ClusterPoolView(Snapshot()), OperatorSettings(min_idle=1), registry
    )
    (account,) = result.creates
    assert len(account["metadata"]["name"]) <= 63


def test_a_large_refill_starts_a_batch_per_pass_and_still_reaches_min_idle() -> None:
    settings = OperatorSettings(min_idle=REFILL_BATCH + 7)
    first = pool_pass(Snapshot(), settings, names())
    assert len(first.creates) == REFILL_BATCH  # the rest in later passes
    snap = fill_pool(Snapshot(), KEY, settings, REGISTRY, name_source=names(), max_rounds=12)
    assert len(list(ClusterPoolView(snap).idle_workers(KEY))) == REFILL_BATCH + 7
