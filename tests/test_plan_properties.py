"""Properties of the planner over generated shells and cluster histories.

The central one: applying a plan to the observed cluster and planning again gives an empty
plan. The exceptions take exactly one more pass: a kubeconfig the runtime has just issued (the
planner must read the Secret the runtime wrote), and a session ending, which is recorded before
the ended worker is torn down.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from cloudtty_core import (
    API_VERSION,
    KIND,
    LABEL_ROLE,
    LABEL_SHELL_UID,
    ClusterPoolView,
    ObjectRef,
    OperatorSettings,
    Plan,
    PlanContext,
    PoolKey,
    Snapshot,
    plan,
    plan_pool,
    status_to_dict,
)
from cloudtty_core.plan import idle_pods
from cloudtty_core.testing import (
    NOW,
    FakeExposureBackend,
    FakeImageBackend,
    apply_plan,
    cloudshell_dicts,
    converge,
    create,
    delete,
    end_pod,
    fail_pod,
    fake_registry,
    kubeconfig_secret,
    shell_ref,
    start_pods,
)

NAMESPACES = ("default", "team-a")
TOKENS = itertools.count()


def make_context(
    exposure: FakeExposureBackend, warm: bool, min_idle: int
) -> tuple[PlanContext, list[str]]:
    issued: list[str] = []

    def token() -> str:
        value = f"secret-token-{next(TOKENS)}"
        issued.append(value)
        return value

    registry = fake_registry(exposure, FakeImageBackend(supports_warm_pool=warm))
    return PlanContext(registry, OperatorSettings(min_idle=min_idle), token_source=token), issued


def shells(exposure: str) -> st.SearchStrategy[dict[str, Any]]:
    return cloudshell_dicts(
        exposure_modes=(exposure,),
        image_backends=("fake",),
        auth_modes=("none", "token"),
        namespaces=NAMESPACES,
    )


class PlannerMachine(RuleBasedStateMachine):
    """A cluster where shells come and go while pods start, fail and end."""

    refs = Bundle("refs")

    def __init__(self) -> None:
        super().__init__()
        self.snapshot = Snapshot.with_default_node()
        self.now = NOW
        self.context, self.tokens = make_context(FakeExposureBackend(), True, 1)
        self.deleted: dict[ObjectRef, str] = {}
        self.served: dict[tuple[str, str], str] = {}  # (namespace, worker) -> shell uid
        self.texts: set[str] = set()

    @rule(warm=st.booleans(), min_idle=st.integers(0, 2))
    @precondition(lambda self: len(self.snapshot) == 1)
    def configure(self, warm: bool, min_idle: int) -> None:
        self.context, self.tokens = make_context(FakeExposureBackend(), warm, min_idle)

    @rule(target=refs, raw=shells("Fake"))
    def create_shell(self, raw: dict[str, Any]) -> ObjectRef:
        ref = shell_ref(raw["metadata"]["namespace"], raw["metadata"]["name"])
        if self.snapshot.get(API_VERSION, KIND, ref.namespace, ref.name) is None:
            self.snapshot = create(self.snapshot, raw, now=self.now)
        return ref

    @rule(namespace=st.sampled_from(NAMESPACES), name=st.sampled_from(["kubeconfig", "a", "b"]))
    def create_kubeconfig(self, namespace: str, name: str) -> None:
        if self.snapshot.get("v1", "Secret", namespace, name) is None:
            self.snapshot = create(self.snapshot, kubeconfig_secret(name, namespace))

    @rule()
    def kubelet(self) -> None:
        self.snapshot = start_pods(self.snapshot)

    @rule(namespace=st.sampled_from(NAMESPACES))
    def refill_pool(self, namespace: str) -> None:
        image = FakeImageBackend()
        key = PoolKey(namespace, image.name, image.default_image)
        # A worker takes three passes: its ServiceAccount, its idle session Secret, then its
        # pod, Role and RoleBinding. Then the pool is quiet.
        for _ in range(3):
            self._plan_pool(key)
        again = plan_pool(
            key,
            self.snapshot,
            ClusterPoolView(self.snapshot),
            self.context.settings,
            self.context.registry,
        )
        assert again.is_empty, again
        for pod in idle_pods(key, ClusterPoolView(self.snapshot)):
            assert pod["spec"]["serviceAccountName"] == pod["metadata"]["name"]

    def _plan_pool(self, key: PoolKey) -> None:
        result = plan_pool(
            key,
            self.snapshot,
            ClusterPoolView(self.snapshot),
            self.context.settings,
            self.context.registry,
        )
        self.snapshot = apply_plan(self.snapshot, result, now=self.now)

    @rule(ref=refs)
    def reconcile(self, ref: ObjectRef) -> None:
        raw = self.snapshot.get(API_VERSION, KIND, ref.namespace, ref.name)
        if raw is None:
            return
        first = self._plan(ref)
        self._check_no_secrets(first)
        uid = raw["metadata"].get("uid", "")
        self.snapshot = apply_plan(self.snapshot, first, shell=ref, now=self.now)
        if self.snapshot.get(API_VERSION, KIND, ref.namespace, ref.name) is None:
            self.deleted[ref] = uid
            return
        second = self._plan(ref)
        if first.issue_kubeconfig is not None or _records_an_ending(raw, first):
            self.snapshot = apply_plan(self.snapshot, second, shell=ref, now=self.now)
            if self.snapshot.get(API_VERSION, KIND, ref.namespace, ref.name) is None:
                self.deleted[ref] = uid
                return
            second = self._plan(ref)
        assert second.is_empty, f"planning again after applying wrote again: {second!r}"
        self._note_served()

    def _note_served(self) -> None:
        for raw in self.snapshot.list(API_VERSION, KIND):
            worker = (raw.get("status") or {}).get("worker")
            if worker:
                key = (raw["metadata"]["namespace"], worker)
                uid = raw["metadata"]["uid"]
                assert self.served.setdefault(key, uid) == uid, f"{key} served two shells"

    @rule(ref=consumes(refs))
    def delete_shell(self, ref: ObjectRef) -> None:
        raw = self.snapshot.get(API_VERSION, KIND, ref.namespace, ref.name)
        if raw is not None:
            self.snapshot = delete(self.snapshot, ref, now=self.now)
            self.reconcile(ref)
            if self.snapshot.get(API_VERSION, KIND, ref.namespace, ref.name) is None:
                self.deleted[ref] = raw["metadata"]["uid"]
            # A claimed worker went by garbage collection; the runtime hears of its pod's
            # deletion and plans the pool, which deletes the worker's spent account.
            image = FakeImageBackend()
            self._plan_pool(PoolKey(ref.namespace or "", image.name, image.default_image))

    @rule(data=st.data(), message=st.sampled_from(["once", "idle", "ttl", "exit"]))
    def session_ends(self, data: st.DataObject, message: str) -> None:
        pods = self._claimed_pods()
        if pods:
            ref = data.draw(st.sampled_from(pods))
            self.snapshot = end_pod(self.snapshot, ref, message)

    @rule(data=st.data())
    def worker_fails(self, data: st.DataObject) -> None:
        pods = self._claimed_pods()
        if pods:
            self.snapshot = fail_pod(self.snapshot, data.draw(st.sampled_from(pods)))

    @rule(seconds=st.integers(1, 8 * 24 * 3600))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    # Helpers -------------------------------------------------------------------------------

    def _plan(self, ref: ObjectRef) -> Plan:
        raw = self.snapshot.get(API_VERSION, KIND, ref.namespace, ref.name)
        assert raw is not None
        return plan(raw, self.snapshot, ClusterPoolView(self.snapshot), self.now, self.context)

    def _claimed_pods(self) -> list[ObjectRef]:
        return [
            ObjectRef.of(p)
            for p in self.snapshot.list("v1", "Pod")
            if _serves(self.snapshot, p) and (p.get("status") or {}).get("phase") == "Running"
        ]

    def _check_no_secrets(self, result: Plan) -> None:
        visible = json.dumps([e.message for e in result.events])
        if result.status is not None:
            visible += json.dumps(status_to_dict(result.status))
        for token in self.tokens:
            assert token not in visible
        assert "not-a-real-token" not in visible

    # Invariants ----------------------------------------------------------------------------

    @invariant()
    def ready_shells_have_a_url_and_a_live_worker_of_their_own(self) -> None:
        for raw in self.snapshot.list(API_VERSION, KIND):
            status = raw.get("status") or {}
            if status.get("phase") != "Ready":
                continue
            assert status.get("accessUrl")
            pod = self.snapshot.get("v1", "Pod", raw["metadata"]["namespace"], status["worker"])
            assert pod is not None
            assert _serves(self.snapshot, pod) == raw["metadata"]["uid"]

    @invariant()
    def a_worker_serves_at_most_one_shell(self) -> None:
        owners: dict[str, str] = {}
        for raw in self.snapshot.list(API_VERSION, KIND):
            worker = (raw.get("status") or {}).get("worker")
            if worker:
                key = f"{raw['metadata']['namespace']}/{worker}"
                assert key not in owners, f"{key} bound to two shells"
                owners[key] = raw["metadata"]["name"]
        for pod in self.snapshot.list("v1", "Pod", None, {LABEL_ROLE: "worker"}):
            owners_refs = pod["metadata"].get("ownerReferences") or []
            assert len([o for o in owners_refs if o.get("kind") == KIND]) <= 1
        for secret in self.snapshot.list("v1", "Secret", None, {LABEL_ROLE: "worker"}):
            owners_refs = secret["metadata"].get("ownerReferences") or []
            assert len([o for o in owners_refs if o.get("kind") == KIND]) <= 1

    @invariant()
    def deleted_shells_leave_nothing(self) -> None:
        gone = set(self.deleted.values())
        for uid in gone:
            for kind in ("Pod", "Secret", "Service", "ServiceAccount", "ConfigMap"):
                assert self.snapshot.list("v1", kind, None, {LABEL_SHELL_UID: uid}) == []
            for kind in ("Role", "RoleBinding"):
                rbac = "rbac.authorization.k8s.io/v1"
                assert self.snapshot.list(rbac, kind, None, {LABEL_SHELL_UID: uid}) == []
        # Nothing of a worker that served a deleted shell is left: not its pod, not its
        # ServiceAccount (the pool's, for a claimed worker), not its Role or RoleBinding.
        for (namespace, worker), uid in self.served.items():
            if uid in gone:
                for api_version, kind in (
                    ("v1", "Pod"),
                    ("v1", "ServiceAccount"),
                    ("rbac.authorization.k8s.io/v1", "Role"),
                    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
                ):
                    left = self.snapshot.get(api_version, kind, namespace, worker)
                    assert left is None, f"{kind} {worker} of a deleted shell is left"

    @invariant()
    def idle_workers_on_offer_can_read_only_their_own_session(self) -> None:
        pool = ClusterPoolView(self.snapshot)
        image = FakeImageBackend()
        for namespace in NAMESPACES:
            for pod in list(pool.idle_workers(PoolKey(namespace, image.name, image.default_image))):
                name = pod["metadata"]["name"]
                assert (namespace, name) not in self.served, f"{name} served before"
                assert pod["spec"]["serviceAccountName"] == name
                role = self.snapshot.get("rbac.authorization.k8s.io/v1", "Role", namespace, name)
                assert role is not None
                assert role["rules"][0]["resourceNames"] == [f"{name}-session"]


TestPlannerMachine = PlannerMachine.TestCase
TestPlannerMachine.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _serves(snapshot: Snapshot, pod: dict[str, Any]) -> str | None:
    """The uid of the shell a worker pod serves: its own label (a pod made for the shell) or
    its session Secret's (a claimed pool worker)."""
    uid = (pod["metadata"].get("labels") or {}).get(LABEL_SHELL_UID)
    if uid:
        return str(uid)
    session = snapshot.get(
        "v1", "Secret", pod["metadata"]["namespace"], f"{pod['metadata']['name']}-session"
    )
    owned = any(
        o.get("uid") == (session or {}).get("metadata", {}).get("uid")
        for o in pod["metadata"].get("ownerReferences") or ()
    )
    labels = ((session or {}).get("metadata") or {}).get("labels") or {}
    return str(labels[LABEL_SHELL_UID]) if owned and LABEL_SHELL_UID in labels else None


def _records_an_ending(raw: dict[str, Any], first: Any) -> bool:
    """Whether ``first`` only recorded that the session ended (teardown comes next pass)."""
    before = (raw.get("status") or {}).get("phase")
    after = first.status.phase.value if first.status and first.status.phase else None
    return after == "Completed" and before != "Completed" and not first.deletes


def _kubeconfig_for(raw: dict[str, Any]) -> list[dict[str, Any]]:
    spec, ns = raw["spec"], raw["metadata"]["namespace"]
    if "secretRef" in spec:
        ref = spec["secretRef"]
        return [kubeconfig_secret(ref["name"], ns, ref.get("key", "config"))]
    if "configmapName" in spec:
        data = {"config": "apiVersion: v1\nkind: Config\n"}
        meta = {"name": spec["configmapName"], "namespace": ns}
        return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}]
    return []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raws=st.lists(
        shells("Fake"),
        min_size=1,
        max_size=4,
        unique_by=lambda r: (r["metadata"]["namespace"], r["metadata"]["name"]),
    ),
    node_port=st.booleans(),
    shared=st.booleans(),
    warm=st.booleans(),
)
def test_every_shell_reaches_ready_and_then_planning_is_quiet(
    raws: list[dict[str, Any]], node_port: bool, shared: bool, warm: bool
) -> None:
    exposure = FakeExposureBackend(node_port=node_port, shared_route="routes" if shared else None)
    context, tokens = make_context(exposure, warm, 1)
    dependencies: dict[tuple[str, str, str], dict[str, Any]] = {}
    for raw in raws:
        for obj in _kubeconfig_for(raw):
            meta = obj["metadata"]
            key = (obj["kind"], meta["namespace"], meta["name"])
            if key in dependencies:  # two shells naming one Secret with different keys
                for field in ("stringData", "data"):
                    if field in obj:
                        dependencies[key][field] = {**dependencies[key][field], **obj[field]}
            else:
                dependencies[key] = obj
    start = create(Snapshot.with_default_node(), *dependencies.values(), *raws)
    refs = [shell_ref(r["metadata"]["namespace"], r["metadata"]["name"]) for r in raws]
    image = FakeImageBackend()
    pools = [PoolKey(ns, image.name, image.default_image) for ns in NAMESPACES]

    done = converge(start, refs, context, pools=pools, max_rounds=10)

    urls = set()
    for ref in refs:
        raw = done.shell(ref)
        assert raw is not None
        status = raw["status"]
        assert status["phase"] == "Ready", status
        urls.add(status["accessUrl"])
        assert plan(raw, done.snapshot, ClusterPoolView(done.snapshot), NOW, context).is_empty
    assert len(urls) == len(refs)
    visible = json.dumps([e.message for p in done.plans for e in p.events])
    assert not any(t in visible for t in tokens)
