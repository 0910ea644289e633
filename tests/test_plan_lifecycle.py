"""The planner through a shell's life: provisioning, waiting, failing, ending, being deleted."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import attrs
import pytest

from cloudtty_core import (
    LABEL_SHELL_UID,
    LABEL_STATE,
    LABEL_WORKER,
    ClusterPoolView,
    Event,
    ObjectRef,
    OperatorSettings,
    Phase,
    Plan,
    PlanContext,
    PoolKey,
    Snapshot,
    plan,
    plan_pool,
    shell_from_dict,
)
from cloudtty_core.plan import claimed_worker
from cloudtty_core.testing import (
    NOW,
    Conflict,
    FakeExposureBackend,
    FakeImageBackend,
    apply_plan,
    cloudshell,
    converge,
    create,
    delete,
    end_pod,
    fail_pod,
    fake_registry,
    fill_pool,
    kubeconfig_secret,
    shell_ref,
    start_pods,
)

IMAGE = FakeImageBackend()
KEY = PoolKey("default", IMAGE.name, IMAGE.default_image)
SPEC: dict[str, Any] = {
    "exposureMode": "Fake",
    "imageBackend": "fake",
    "secretRef": {"name": "kubeconfig"},
}


def context(
    exposure: FakeExposureBackend | None = None,
    image: FakeImageBackend | None = None,
    **settings: Any,
) -> PlanContext:
    return PlanContext(
        fake_registry(exposure, image),
        OperatorSettings(**{"min_idle": 1, **settings}),
        token_source=lambda: "s3cr3t-token",
    )


def cluster_with_pool(ctx: PlanContext, *extra: dict[str, Any]) -> Snapshot:
    snap = create(Snapshot.with_default_node(), kubeconfig_secret(), *extra)
    return fill_pool(snap, KEY, ctx.settings, ctx.registry)


def plan_once(snap: Snapshot, name: str, ctx: PlanContext, now: Any = NOW) -> Plan:
    raw = snap.get("cloudshell.cloudtty.io/v1alpha1", "CloudShell", "default", name)
    assert raw is not None, f"shell {name} is gone"
    return plan(raw, snap, ClusterPoolView(snap), now, ctx)


def step(snap: Snapshot, name: str, ctx: PlanContext, now: Any = NOW) -> tuple[Snapshot, Plan]:
    result = plan_once(snap, name, ctx, now)
    return apply_plan(snap, result, shell=("default", name), now=now), result


def status_of(snap: Snapshot, name: str) -> dict[str, Any]:
    raw = snap.get("cloudshell.cloudtty.io/v1alpha1", "CloudShell", "default", name)
    assert raw is not None
    return dict(raw.get("status") or {})


def condition(snap: Snapshot, name: str, type_: str) -> dict[str, Any]:
    found = [c for c in status_of(snap, name).get("conditions", []) if c["type"] == type_]
    assert found, f"no condition {type_}"
    return dict(found[0])


def test_warm_path_is_ready_in_one_plan_and_then_quiet() -> None:
    ctx = context()
    snap = create(cluster_with_pool(ctx), cloudshell("alice", **SPEC))
    idle = [p["metadata"]["name"] for p in snap.list("v1", "Pod", "default")]

    snap, first = step(snap, "alice", ctx)

    # The claim is the one write of the worker's session Secret; the pod is not written.
    assert [u["metadata"]["name"] for u in first.updates] == [f"{idle[0]}-session"]
    assert not first.patches  # everything is owned: garbage collection needs no finalizer
    status = status_of(snap, "alice")
    assert status["phase"] == "Ready"
    assert status["accessUrl"] == "http://cloudshell-alice.default.svc:7681/"
    assert status["worker"] == idle[0]
    assert status["observedGeneration"] == 1
    # Pending -> Ready in one status write: one Event.
    assert [e.reason for e in first.events] == ["RouteReady"]
    assert "from Pending" in first.events[0].message
    session = snap.get("v1", "Secret", "default", f"{idle[0]}-session")
    assert session is not None
    assert session["metadata"]["labels"][LABEL_STATE] == "claimed"
    assert [o["kind"] for o in session["metadata"]["ownerReferences"]] == ["CloudShell"]
    assert "session.json" in session["data"]
    worker = snap.get("v1", "Pod", "default", idle[0])
    assert worker is not None
    assert worker["metadata"]["ownerReferences"][0]["uid"] == session["metadata"]["uid"]
    assert plan_once(snap, "alice", ctx).is_empty


def test_session_secret_delivers_kubeconfig_command_and_base_path() -> None:
    ctx = context()
    shell = cloudshell("alice", commandAction="kubectl get pods", **SPEC)
    snap = create(cluster_with_pool(ctx), shell)
    snap, _ = step(snap, "alice", ctx)
    worker = status_of(snap, "alice")["worker"]
    secret = snap.get("v1", "Secret", "default", f"{worker}-session")
    assert secret is not None
    session = json.loads(base64.b64decode(secret["data"]["session.json"]))
    assert session["command"] == ["kubectl", "get", "pods"]
    assert "kubernetes.test" in session["kubeconfig"]
    assert session["basePath"] == "/"
    assert session["shell"] == {"namespace": "default", "name": "alice"}


def test_missing_kubeconfig_secret_waits_with_a_condition_naming_it_then_recovers() -> None:
    ctx = context()
    base = create(Snapshot.with_default_node())
    base = fill_pool(base, KEY, ctx.settings, ctx.registry)
    snap = create(base, cloudshell("bob", **{**SPEC, "secretRef": {"name": "bobs-config"}}))

    snap, first = step(snap, "bob", ctx)

    assert status_of(snap, "bob")["phase"] == "Provisioning"
    cond = condition(snap, "bob", "KubeconfigReady")
    assert cond["status"] == "False"
    assert "bobs-config" in cond["message"]
    assert not first.updates  # no worker claimed without a session to give it
    assert any(e.type == "Warning" and "bobs-config" in e.message for e in first.events)
    assert plan_once(snap, "bob", ctx).is_empty

    snap = create(snap, kubeconfig_secret("bobs-config"))
    snap, _ = step(snap, "bob", ctx)
    assert status_of(snap, "bob")["phase"] == "Ready"
    assert condition(snap, "bob", "KubeconfigReady")["status"] == "True"


def test_configmap_kubeconfig_of_cloudtty_v01_is_read() -> None:
    ctx = context()
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "my-kubeconfig", "namespace": "default"},
        "data": {"config": "apiVersion: v1\nkind: Config\n"},
    }
    spec = {"exposureMode": "Fake", "imageBackend": "fake", "configmapName": "my-kubeconfig"}
    snap = create(cluster_with_pool(ctx, configmap), cloudshell("old", **spec))
    snap, _ = step(snap, "old", ctx)
    assert status_of(snap, "old")["phase"] == "Ready"


def test_without_kubeconfig_a_service_account_with_the_configured_role_is_issued() -> None:
    ctx = context(cluster_role="edit")
    spec = {"exposureMode": "Fake", "imageBackend": "fake", "ttlSecondsAfterStarted": 7200}
    snap = create(cluster_with_pool(ctx), cloudshell("carol", **spec))

    snap, first = step(snap, "carol", ctx)

    kinds = {(c["kind"], c["metadata"]["name"]) for c in first.creates}
    assert ("ServiceAccount", "cloudshell-carol") in kinds
    binding = next(c for c in first.creates if c["kind"] == "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "edit",
    }
    assert binding["subjects"][0]["name"] == "cloudshell-carol"
    issue = first.issue_kubeconfig
    assert issue is not None
    assert issue.service_account == "cloudshell-carol"
    assert issue.expiration_seconds == 7200
    assert issue.owner_references[0]["name"] == "carol"

    snap, second = step(snap, "carol", ctx)
    assert second.issue_kubeconfig is None
    assert status_of(snap, "carol")["phase"] == "Ready"
    assert status_of(snap, "carol")["kubeconfigSecret"] == "cloudshell-carol-kubeconfig"


def test_invalid_spec_fails_naming_every_problem() -> None:
    ctx = context()
    bad = cloudshell("dave", exposureMode="Fake", ttl=-5, pathPrefix="no-slash", bogus=1)
    snap = create(Snapshot(), bad)
    snap, result = step(snap, "dave", ctx)
    assert status_of(snap, "dave")["phase"] == "Failed"
    message = condition(snap, "dave", "Accepted")["message"]
    for path in ("spec.ttl", "spec.pathPrefix", "spec.bogus"):
        assert path in message
    assert result.events[0].reason == Event.SPEC_INVALID.value
    assert result.events[0].type == "Warning"
    assert plan_once(snap, "dave", ctx).is_empty


@pytest.mark.parametrize(
    ("field", "value", "distribution"),
    [
        ("exposureMode", "NodePort", "cloudtty-nodeport"),
        ("exposureMode", "VirtualService", "cloudtty-istio"),
        ("imageBackend", "ttyd", "cloudtty-ttyd"),
    ],
)
def test_backend_not_installed_fails_naming_the_distribution(
    field: str, value: str, distribution: str
) -> None:
    ctx = context()
    snap = create(Snapshot(), kubeconfig_secret(), cloudshell("erin", **{**SPEC, field: value}))
    snap, _ = step(snap, "erin", ctx)
    assert status_of(snap, "erin")["phase"] == "Failed"
    cond = condition(snap, "erin", "Accepted")
    assert cond["reason"] == "BackendNotInstalled"
    assert f"pip install {distribution}" in cond["message"]


def test_auth_mode_the_image_cannot_enforce_fails() -> None:
    ctx = context(image=FakeImageBackend(supported_auth=frozenset({"none"})))
    spec = {**SPEC, "auth": {"mode": "token"}}
    snap = create(Snapshot(), kubeconfig_secret(), cloudshell("fay", **spec))
    snap, _ = step(snap, "fay", ctx)
    assert status_of(snap, "fay")["phase"] == "Failed"
    assert "token" in condition(snap, "fay", "Accepted")["message"]


def test_cold_pod_backend_gets_one_pod_with_the_kubeconfig_mounted() -> None:
    ctx = attrs.evolve(
        context(image=FakeImageBackend(supports_warm_pool=False)), name_source=lambda: "abc"
    )
    snap = create(Snapshot.with_default_node(), kubeconfig_secret(), cloudshell("gus", **SPEC))
    assert plan_pool(
        KEY, snap, ClusterPoolView(snap), ctx.settings, ctx.registry
    ).is_empty  # no pool for cold images

    snap, first = step(snap, "gus", ctx)
    worker = "cloudshell-gus-abc"
    # The pod runs as a ServiceAccount of its own (created first), with no token mounted and
    # no Role: a cold pod reads nothing through the API.
    made = [(c["kind"], c["metadata"]["name"]) for c in first.creates]
    assert made.index(("ServiceAccount", worker)) < made.index(("Pod", worker))
    assert not [kind for kind, _ in made if kind in ("Role", "RoleBinding")]
    account = next(c for c in first.creates if c["kind"] == "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    pod = next(c for c in first.creates if c["kind"] == "Pod")
    assert pod["spec"]["serviceAccountName"] == worker
    volume = pod["spec"]["volumes"][0]
    assert volume["secret"]["secretName"] == "kubeconfig"
    assert not any(c["metadata"]["name"].endswith("-session") for c in first.creates)
    assert status_of(snap, "gus")["phase"] == "Provisioning"
    assert status_of(snap, "gus")["worker"] == worker
    assert plan_once(snap, "gus", ctx).is_empty

    snap = start_pods(snap)
    snap, _ = step(snap, "gus", ctx)
    assert status_of(snap, "gus")["phase"] == "Ready"


def test_empty_pool_makes_a_worker_for_the_shell() -> None:
    ctx = attrs.evolve(context(min_idle=0), name_source=lambda: "xyz")
    snap = create(Snapshot.with_default_node(), kubeconfig_secret(), cloudshell("hal", **SPEC))
    snap, first = step(snap, "hal", ctx)
    made = {(c["kind"], c["metadata"]["name"]) for c in first.creates}
    worker = "cloudshell-hal-xyz"
    assert {
        ("ServiceAccount", worker),
        ("Pod", worker),
        ("Role", worker),
        ("RoleBinding", worker),
        ("Secret", f"{worker}-session"),
    } <= made
    role = next(c for c in first.creates if c["kind"] == "Role")
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": [f"{worker}-session"],
            "verbs": ["get", "watch"],
        }
    ]
    snap = start_pods(snap)
    snap, _ = step(snap, "hal", ctx)
    assert status_of(snap, "hal")["phase"] == "Ready"


def test_a_new_shell_of_the_same_name_never_gets_the_old_shells_worker_name() -> None:
    ctx = attrs.evolve(context(min_idle=0), name_source=lambda: "same")
    snap = create(Snapshot.with_default_node(), kubeconfig_secret(), cloudshell("ivy", **SPEC))
    snap, _ = step(snap, "ivy", ctx)
    first = status_of(snap, "ivy")["worker"]
    # The old pod lingers (terminating elsewhere); the source gives the same random part.
    snap = snap.remove(shell_ref("default", "ivy"))
    snap = create(snap, cloudshell("ivy", **SPEC))
    snap2 = attrs.evolve(ctx, name_source=iter(["same", "other"]).__next__)
    snap, _ = step(snap, "ivy", snap2)
    assert status_of(snap, "ivy")["worker"] not in (None, first)


def test_ttl_is_exact_and_ends_the_shell() -> None:
    ctx = context()
    snap = create(cluster_with_pool(ctx), cloudshell("ida", **{**SPEC, "ttl": 300}))
    snap, first = step(snap, "ida", ctx)
    assert first.requeue_after == 300
    status = status_of(snap, "ida")
    assert status["expiresAt"] == "2024-05-01T12:05:00Z"

    later = NOW + timedelta(seconds=120)
    assert plan_once(snap, "ida", ctx, later).requeue_after == 180

    end = NOW + timedelta(seconds=300)
    snap, done = step(snap, "ida", ctx, end)
    status = status_of(snap, "ida")
    assert status["phase"] == "Completed"
    assert "accessUrl" not in status
    assert "worker" not in status
    assert [e.reason for e in done.events] == ["TTLExpired"]
    uid = snap.get("cloudshell.cloudtty.io/v1alpha1", "CloudShell", "default", "ida")
    assert uid is not None
    left = snap.list("v1", "Pod", None, {LABEL_SHELL_UID: uid["metadata"]["uid"]})
    assert left == []
    assert snap.list("v1", "Service", "default") == []
    assert plan_once(snap, "ida", ctx, end).is_empty


def test_ttl_with_cleanup_deletes_the_shell() -> None:
    ctx = context()
    snap = create(cluster_with_pool(ctx), cloudshell("jo", **{**SPEC, "ttl": 60, "cleanup": True}))
    snap, _ = step(snap, "jo", ctx)
    end = NOW + timedelta(seconds=61)
    snap, done = step(snap, "jo", ctx, end)
    assert done.delete_shell
    assert [e.reason for e in done.events] == ["TTLExpired"]
    assert snap.get("cloudshell.cloudtty.io/v1alpha1", "CloudShell", "default", "jo") is None


@pytest.mark.parametrize(
    ("message", "reason"),
    [("once", "SessionEnded"), ("exit", "SessionEnded"), ("idle", "IdleTimeout")],
)
def test_session_end_completes_the_shell(message: str, reason: str) -> None:
    ctx = context()
    snap = create(cluster_with_pool(ctx), cloudshell("kim", **{**SPEC, "once": True}))
    snap, _ = step(snap, "kim", ctx)
    worker = status_of(snap, "kim")["worker"]
    snap = end_pod(snap, ObjectRef("v1", "Pod", "default", worker), message)
    snap, done = step(snap, "kim", ctx)
    assert status_of(snap, "kim")["phase"] == "Completed"
    assert [e.reason for e in done.events] == [reason]
    # The ending is recorded before anything is torn down: the ended worker is its evidence.
    assert not done.deletes
    assert snap.get("v1", "Pod", "default", worker) is not None
    snap, teardown = step(snap, "kim", ctx)
    assert ObjectRef("v1", "Pod", "default", worker) in teardown.deletes
    assert snap.get("v1", "Pod", "default", worker) is None
    assert status_of(snap, "kim").get("worker") is None
    assert plan_once(snap, "kim", ctx, NOW).is_empty


def test_lost_worker_is_replaced_and_the_shell_rebound() -> None:
    ctx = context(min_idle=2)
    snap = create(Snapshot.with_default_node(), kubeconfig_secret(), cloudshell("lou", **SPEC))
    snap = fill_pool(snap, KEY, ctx.settings, ctx.registry)
    snap, _ = step(snap, "lou", ctx)
    first_worker = status_of(snap, "lou")["worker"]
    service = snap.get("v1", "Service", "default", "cloudshell-lou")

    snap = fail_pod(snap, ObjectRef("v1", "Pod", "default", first_worker))
    snap, result = step(snap, "lou", ctx)

    status = status_of(snap, "lou")
    assert status["phase"] == "Ready"
    assert status["worker"] != first_worker
    assert [e.reason for e in result.events] == ["WorkerLost", "RouteReady"]
    assert ObjectRef("v1", "Pod", "default", first_worker) in result.deletes
    # The same Service (same address), now selecting the new worker.
    after = snap.get("v1", "Service", "default", "cloudshell-lou")
    assert service is not None
    assert after is not None
    assert after["metadata"]["uid"] == service["metadata"]["uid"]
    assert after["spec"]["clusterIP"] == service["spec"]["clusterIP"]
    assert after["spec"]["selector"][LABEL_WORKER] == status["worker"]


def test_deletion_releases_shared_routes_deletes_everything_then_the_finalizer() -> None:
    ctx = context(exposure=FakeExposureBackend(shared_route="routes"), min_idle=2)
    snap = create(cluster_with_pool(ctx), cloudshell("max", **SPEC), cloudshell("ned", **SPEC))
    snap, _ = step(snap, "max", ctx)
    snap, _ = step(snap, "ned", ctx)
    routes = snap.get("v1", "ConfigMap", "default", "routes")
    assert routes is not None
    assert set(routes["data"]) == {"default.max", "default.ned"}
    uid = snap.get("cloudshell.cloudtty.io/v1alpha1", "CloudShell", "default", "max")
    assert uid is not None

    snap = delete(snap, shell_ref("default", "max"))
    snap, result = step(snap, "max", ctx)

    assert [p.merge_patch["metadata"]["finalizers"] for p in result.final_patches] == [[]]
    assert snap.get("cloudshell.cloudtty.io/v1alpha1", "CloudShell", "default", "max") is None
    routes = snap.get("v1", "ConfigMap", "default", "routes")
    assert routes is not None
    assert set(routes["data"]) == {"default.ned"}
    for kind in ("Pod", "Secret", "Service"):
        assert snap.list("v1", kind, None, {LABEL_SHELL_UID: uid["metadata"]["uid"]}) == []
    assert status_of(snap, "ned")["phase"] == "Ready"


def test_token_auth_keeps_the_token_out_of_status_and_events() -> None:
    ctx = context()
    snap = create(cluster_with_pool(ctx), cloudshell("oli", **{**SPEC, "auth": {"mode": "token"}}))
    done = converge(snap, [shell_ref("default", "oli")], ctx)
    status = status_of(done.snapshot, "oli")
    assert status["accessSecret"] == "cloudshell-oli-access"
    assert "s3cr3t-token" not in json.dumps(status)
    for applied in done.plans:
        assert all("s3cr3t-token" not in e.message for e in applied.events)
    access = done.snapshot.get("v1", "Secret", "default", "cloudshell-oli-access")
    assert access is not None
    url = base64.b64decode(access["data"]["url"]).decode()
    assert url == f"{status['accessUrl']}?token=s3cr3t-token"
    worker = status["worker"]
    session = done.snapshot.get("v1", "Secret", "default", f"{worker}-session")
    assert session is not None
    body = json.loads(base64.b64decode(session["data"]["session.json"]))
    assert "s3cr3t-token" not in json.dumps(body)
    assert len(body["auth"]["tokenSha256"]) == 64


def test_a_claim_whose_status_write_was_lost_is_adopted_not_repeated() -> None:
    ctx = context(min_idle=2)
    snap = create(Snapshot.with_default_node(), kubeconfig_secret(), cloudshell("pat", **SPEC))
    snap = fill_pool(snap, KEY, ctx.settings, ctx.registry)
    first = plan_once(snap, "pat", ctx)
    claimed = claimed_worker(first.updates[0])
    assert claimed is not None
    # The runtime crashed after the writes but before the status.
    snap = apply_plan(snap, attrs.evolve(first, status=None, events=()), shell=("default", "pat"))
    again = plan_once(snap, "pat", ctx)
    assert not again.updates
    assert again.status is not None
    assert again.status.worker == claimed


def test_two_shells_racing_for_one_worker_never_share_it() -> None:
    ctx = context()
    snap = create(cluster_with_pool(ctx), cloudshell("quin", **SPEC), cloudshell("rae", **SPEC))
    a = plan_once(snap, "quin", ctx)
    b = plan_once(snap, "rae", ctx)
    assert a.updates[0]["metadata"]["name"] == b.updates[0]["metadata"]["name"]
    snap = apply_plan(snap, a, shell=("default", "quin"))
    with pytest.raises(Conflict):
        apply_plan(snap, b, shell=("default", "rae"))
    snap, _ = step(snap, "rae", ctx)
    assert status_of(snap, "rae")["worker"] != status_of(snap, "quin")["worker"]


def test_phase_changes_are_reported_to_the_hook_and_objects_adjusted() -> None:
    seen: list[tuple[Any, Any, Any]] = []

    class Hooks:
        def adjust_objects(self, shell: Any, objects: Any) -> list[dict[str, Any]]:
            out = []
            for obj in objects:
                obj = {**obj, "metadata": {**obj["metadata"]}}
                obj["metadata"]["annotations"] = {"example.org/team": "a"}
                out.append(obj)
            return out

        def phase_changed(self, shell: Any, old: Any, new: Any, event: Any) -> None:
            seen.append((old, new, event))

    base = context()
    ctx = PlanContext(base.registry, base.settings, base.token_source, Hooks())
    snap = create(cluster_with_pool(ctx), cloudshell("sam", **SPEC))
    snap, result = step(snap, "sam", ctx)
    assert seen == [
        (None, Phase.PROVISIONING, Event.SPEC_ACCEPTED),
        (Phase.PROVISIONING, Phase.READY, Event.ROUTE_READY),
    ]
    assert result.creates
    assert all(c["metadata"]["annotations"] == {"example.org/team": "a"} for c in result.creates)
    assert plan_once(snap, "sam", ctx).is_empty


def test_a_model_instance_plans_like_its_manifest() -> None:
    ctx = context()
    snap = create(cluster_with_pool(ctx), cloudshell("tia", **SPEC))
    raw = snap.get("cloudshell.cloudtty.io/v1alpha1", "CloudShell", "default", "tia")
    assert raw is not None
    from_raw = plan(raw, snap, ClusterPoolView(snap), NOW, ctx)
    from_model = plan(shell_from_dict(raw), snap, ClusterPoolView(snap), NOW, ctx)
    assert from_raw == from_model


def test_finalizer_only_when_needed_saves_a_write() -> None:
    ctx = context(always_finalize=False)
    snap = create(cluster_with_pool(ctx), cloudshell("uma", **SPEC))
    result = plan_once(snap, "uma", ctx)
    assert result.patches == ()
    shared = context(exposure=FakeExposureBackend(shared_route="routes"), always_finalize=False)
    assert plan_once(snap, "uma", shared).patches != ()


def test_a_session_left_by_a_worker_that_is_gone_is_deleted() -> None:
    # A second worker made for the shell from a stale cache (another replica, a lost status
    # write): its pod is gone, its session Secret is the shell's -- only the planner can tell
    # it serves nobody.
    ctx = context()
    snap = create(cluster_with_pool(ctx), cloudshell("vic", **SPEC))
    snap, _ = step(snap, "vic", ctx)
    raw = snap.get("cloudshell.cloudtty.io/v1alpha1", "CloudShell", "default", "vic")
    assert raw is not None
    ghost = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "cloudshell-vic-ghost-session",
            "namespace": "default",
            "labels": {
                LABEL_SHELL_UID: raw["metadata"]["uid"],
                "cloudtty.io/role": "worker",
                LABEL_WORKER: "cloudshell-vic-ghost",
                LABEL_STATE: "claimed",
            },
        },
    }
    snap = create(snap, ghost)
    result = plan_once(snap, "vic", ctx)
    assert result.deletes == (ObjectRef("v1", "Secret", "default", "cloudshell-vic-ghost-session"),)
    snap, _ = step(snap, "vic", ctx)
    assert snap.get("v1", "Secret", "default", "cloudshell-vic-ghost-session") is None
    assert status_of(snap, "vic")["phase"] == "Ready"
    assert plan_once(snap, "vic", ctx).is_empty


def test_a_claimed_worker_keeps_its_right_to_read_its_session_through_its_shell() -> None:
    # The pool pass leaves claimed workers to their shells: a Role or RoleBinding of a claimed
    # worker that goes missing is put back by the shell's pass, as the pool made it.
    ctx = context()
    snap = create(cluster_with_pool(ctx), cloudshell("wes", **SPEC))
    snap, _ = step(snap, "wes", ctx)
    worker = status_of(snap, "wes")["worker"]
    rbac = "rbac.authorization.k8s.io/v1"
    made = {kind: snap.get(rbac, kind, "default", worker) for kind in ("Role", "RoleBinding")}
    for kind in made:
        snap = snap.remove(ObjectRef(rbac, kind, "default", worker))
    pool_pass = plan_pool(KEY, snap, ClusterPoolView(snap), ctx.settings, ctx.registry)
    assert all(o["metadata"]["name"] != worker for o in pool_pass.creates)
    again = plan_once(snap, "wes", ctx)
    assert sorted(o["kind"] for o in again.creates) == ["Role", "RoleBinding"]
    for obj in again.creates:
        before = made[obj["kind"]]
        assert before is not None
        assert obj["metadata"]["labels"] == before["metadata"]["labels"]
        assert obj["metadata"]["ownerReferences"] == before["metadata"]["ownerReferences"]
        assert obj.get("rules") == before.get("rules")
        assert obj.get("subjects") == before.get("subjects")
    assert not again.updates
    snap = apply_plan(snap, again, shell=("default", "wes"))
    assert plan_once(snap, "wes", ctx).is_empty


def test_variables_from_elsewhere_get_a_worker_of_their_own_started_with_them() -> None:
    ctx = attrs.evolve(context(), name_source=lambda: "env")
    from_secret = {"secretKeyRef": {"name": "team-token", "key": "token"}}
    shell = cloudshell(
        "vera",
        env=[{"name": "TEAM_TOKEN", "valueFrom": from_secret}, {"name": "PLAIN", "value": "1"}],
        **SPEC,
    )
    snap = create(cluster_with_pool(ctx), shell)
    idle = {p["metadata"]["name"] for p in snap.list("v1", "Pod", "default")}

    snap, first = step(snap, "vera", ctx)

    # No pool worker is claimed: the kubelet started those before the shell existed.
    assert not [u for u in first.updates if u["kind"] == "Secret"]
    pods = [c for c in first.creates if c["kind"] == "Pod"]
    assert [p["metadata"]["name"] for p in pods] == ["cloudshell-vera-env"]
    assert pods[0]["metadata"]["name"] not in idle
    env = pods[0]["spec"]["containers"][0]["env"]
    assert {"name": "TEAM_TOKEN", "valueFrom": from_secret} in env
    assert "PLAIN" not in {var["name"] for var in env}  # plain values travel in the session
    snap = start_pods(snap)
    snap, _ = step(snap, "vera", ctx)
    assert status_of(snap, "vera")["phase"] == "Ready"
    assert status_of(snap, "vera")["worker"] == "cloudshell-vera-env"
