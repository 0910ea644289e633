"""The informers' compact copies: the planner sees the same fields (and plans the same), bulky
fields are gone, keys are shared between objects, objects written back keep their content, and
no mutable part is shared."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtty_core import (
    LABEL_ROLE,
    LABEL_SHELL_UID,
    LABEL_STATE,
    ClusterPoolView,
    ObjectRef,
    PlanContext,
    PoolKey,
    Snapshot,
    plan,
    plan_pool,
)
from cloudtty_core.backends import OperatorSettings
from cloudtty_core.plan.names import ShellIdentity
from cloudtty_core.plan.objects import diff_objects, merge
from cloudtty_core.plan.worker import ending_reason, is_ready, observe_workers
from cloudtty_core.runtime.compact import LAST_APPLIED, POD_CONDITION_TYPES, compact, trimmed
from cloudtty_core.testing import (
    NOW,
    FakeImageBackend,
    apply_plan,
    cloudshell,
    create,
    end_pod,
    fail_pod,
    fake_registry,
    fill_pool,
    kubeconfig_secret,
    start_pods,
)

SHELL_API = "cloudshell.cloudtty.io/v1alpha1"

# ------------------------------------------------------------------------------ strategies
names = st.text("abcdefgh0123-", min_size=1, max_size=10).map(lambda s: "n" + s)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.text(max_size=30))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
extras = st.dictionaries(st.sampled_from(["zz1", "zz2", "priority", "hostname"]), json_values)
timestamps = st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z"])


@st.composite
def metadata(draw: st.DrawFn, namespace: str = "team-a") -> dict[str, Any]:
    labels = draw(
        st.dictionaries(
            st.sampled_from([LABEL_ROLE, LABEL_STATE, LABEL_SHELL_UID, "app", "cloudtty.io/pool"]),
            st.sampled_from(["worker", "claimed", "idle", "u-1", "x"]),
        )
    )
    meta: dict[str, Any] = {
        "name": draw(names),
        "namespace": namespace,
        "uid": draw(st.uuids()).hex,
        "resourceVersion": str(draw(st.integers(1, 10**6))),
        "creationTimestamp": draw(timestamps),
        "labels": labels,
        "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:x": {}}}],
    }
    annotations = draw(st.dictionaries(st.sampled_from(["a.io/x", LAST_APPLIED]), st.text()))
    if annotations:
        meta["annotations"] = annotations
    if draw(st.booleans()):
        meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "ServiceAccount", "name": "sa", "uid": "u-1"}
        ]
    if draw(st.booleans()):
        meta["deletionTimestamp"] = draw(timestamps)
    return meta


@st.composite
def container_statuses(draw: st.DrawFn) -> dict[str, Any]:
    state = draw(
        st.one_of(
            st.builds(lambda t: {"running": {"startedAt": t}}, timestamps),
            st.builds(
                lambda code, message: {
                    "terminated": {
                        "exitCode": code,
                        "message": message,
                        "reason": "Completed",
                        "startedAt": "2026-01-01T00:00:00Z",
                        "containerID": "sandbox://x",
                    }
                },
                st.integers(0, 3),
                st.sampled_from(["", "once\n", "idle", "ttl: expired"]),
            ),
            st.just({"waiting": {"reason": "ContainerCreating", "message": "..."}}),
            st.just({}),
        )
    )
    return {
        "name": draw(names),
        "image": "example.org/terminal:1",
        "imageID": "sandbox://example.org/terminal:1",
        "ready": draw(st.booleans()),
        "restartCount": draw(st.integers(0, 3)),
        "state": state,
        **draw(extras),
    }


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    meta = draw(metadata())
    if draw(st.booleans()):  # a worker of the shell ``observed`` looks at
        meta["labels"].update({LABEL_ROLE: "worker", LABEL_SHELL_UID: "u-1"})
    spec: dict[str, Any] = {
        "containers": [{"name": "terminal", "image": "example.org/terminal:1", "args": ["-x"]}],
        "volumes": [{"name": "kubeconfig", "secret": {"secretName": "k"}}],
        "dnsPolicy": "ClusterFirst",
        **draw(extras),
    }
    for key, values in (
        ("serviceAccountName", [meta["name"], "default"]),
        ("restartPolicy", ["Never", "Always"]),
        ("nodeName", ["node-1"]),
    ):
        if draw(st.booleans()):
            spec[key] = draw(st.sampled_from(values))
    status: dict[str, Any] = {"qosClass": "BestEffort", "startTime": draw(timestamps)}
    if draw(st.booleans()):
        status["phase"] = draw(st.sampled_from(["Pending", "Running", "Succeeded", "Failed"]))
    status["conditions"] = draw(
        st.lists(
            st.builds(
                lambda type_, value, t: {
                    "type": type_,
                    "status": value,
                    "lastTransitionTime": t,
                    "lastProbeTime": None,
                },
                st.sampled_from(["Ready", "PodScheduled", "ContainersReady"]),
                st.sampled_from(["True", "False"]),
                timestamps,
            ),
            max_size=3,
        )
    )
    status["containerStatuses"] = draw(st.lists(container_statuses(), max_size=2))
    if draw(st.booleans()):
        status.update(podIP="127.0.0.2", hostIP="127.0.0.1", podIPs=[{"ip": "127.0.0.2"}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


@st.composite
def written_back(draw: st.DrawFn) -> dict[str, Any]:
    """Objects the planner merges and PUTs back: Services, Secrets, accounts, RBAC, routes."""
    api_version, kind = draw(
        st.sampled_from(
            [
                ("v1", "Service"),
                ("v1", "Secret"),
                ("v1", "ServiceAccount"),
                ("v1", "ConfigMap"),
                ("rbac.authorization.k8s.io/v1", "Role"),
                ("rbac.authorization.k8s.io/v1", "RoleBinding"),
                ("networking.k8s.io/v1", "Ingress"),
                ("networking.istio.io/v1beta1", "VirtualService"),
            ]
        )
    )
    body = draw(st.dictionaries(st.sampled_from(["spec", "data", "rules", "status"]), json_values))
    return {"apiVersion": api_version, "kind": kind, "metadata": draw(metadata()), **body}


# ------------------------------------------------------------------------------ helpers
def without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"].pop("managedFields", None)
    return out


def containers(obj: Any) -> Iterator[Any]:
    """Every dict and list inside ``obj`` (itself included)."""
    if isinstance(obj, dict):
        yield obj
        for value in obj.values():
            yield from containers(value)
    elif isinstance(obj, list):
        yield obj
        for value in obj:
            yield from containers(value)


def shares_nothing_mutable(a: Any, b: Any) -> bool:
    return not {id(c) for c in containers(a)} & {id(c) for c in containers(b)}


POD_METADATA_READ = (
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "labels",
    "ownerReferences",
    "finalizers",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def pod_reads(pod: dict[str, Any]) -> dict[str, Any]:
    """Every pod field the operator reads (see cloudtty_core.runtime.compact), as read."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    return {
        "metadata": {
            **{k: meta.get(k) for k in POD_METADATA_READ},
            "annotations": annotations,
        },
        "spec": {k: spec.get(k) for k in ("serviceAccountName", "restartPolicy", "nodeName")},
        "status": {k: status.get(k) for k in ("phase", "reason", "message", "podIP", "hostIP")},
        "conditions": [
            (c.get("type"), c.get("status"))
            for c in status.get("conditions") or ()
            if c.get("type") in POD_CONDITION_TYPES
        ],
        "containers": [
            (
                s.get("name"),
                s.get("ready"),
                s.get("restartCount"),
                ((s.get("state") or {}).get("terminated") or {}).get("exitCode"),
                ((s.get("state") or {}).get("terminated") or {}).get("message"),
                ((s.get("state") or {}).get("waiting") or {}).get("reason"),
            )
            for s in status.get("containerStatuses") or ()
        ],
        "is_ready": is_ready(pod),
        "ending_reason": ending_reason(pod),
    }


def observed(pod: dict[str, Any]) -> tuple[Any, ...]:
    """How the planner sorts the pod among a shell's workers."""
    meta = pod["metadata"]
    ident = ShellIdentity({"name": "s", "namespace": meta["namespace"], "uid": "u-1"})
    found = observe_workers(ident, meta["name"], Snapshot.of(pod))
    names = [None if p is None else p["metadata"]["name"] for p in (found.pod, found.ended)]
    return (*names, len(found.stale))


def compacted(snap: Snapshot) -> Snapshot:
    return Snapshot({ref: compact(obj) for ref, obj in snap.objects.items()}, snap.apis)


# ------------------------------------------------------------------------------ pods
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(pods())
def test_a_compacted_pod_reads_the_same_on_every_field_the_operator_reads(
    pod: dict[str, Any],
) -> None:
    original = copy.deepcopy(pod)
    small = compact(pod)
    assert pod == original  # the object given is not changed
    assert pod_reads(small) == pod_reads(pod)
    assert observed(small) == observed(pod)
    assert shares_nothing_mutable(small, pod)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(pods(), written_back()))
def test_trimming_for_an_encoded_cache_keeps_what_compacting_keeps(obj: dict[str, Any]) -> None:
    """The informers trim objects in place before encoding them (no interning, no copy): the
    result equals the compact copy."""
    assert trimmed(copy.deepcopy(obj)) == compact(obj)


@settings(max_examples=50)
@given(pods())
def test_a_pod_loses_its_bulky_fields(pod: dict[str, Any]) -> None:
    pod["metadata"].setdefault("annotations", {})[LAST_APPLIED] = '{"kind": "Pod"}'
    small = compact(pod)
    assert "managedFields" not in small["metadata"]
    assert LAST_APPLIED not in small["metadata"].get("annotations", {})
    assert "creationTimestamp" not in small["metadata"]
    assert not {"containers", "volumes", "dnsPolicy"} & set(small["spec"])
    assert not {"qosClass", "startTime", "podIPs"} & set(small["status"])
    for condition in small["status"]["conditions"]:
        assert set(condition) <= {"type", "status"}
        assert condition["type"] == "Ready"
    for state in small["status"]["containerStatuses"]:
        assert not {"image", "imageID"} & set(state)
        assert "running" not in state["state"]
        assert "startedAt" not in (state["state"].get("terminated") or {})


def test_keys_and_repeated_values_are_shared_between_compacted_pods() -> None:
    def pod(name: str) -> dict[str, Any]:
        # Built apart, as two watch events would be: equal strings, distinct objects.
        return {
            "".join(["api", "Version"]): "v1",
            "kind": "Pod",
            "metadata": {
                "".join(["na", "me"]): name,
                "namespace": "".join(["team", "-a"]),
                "labels": {"".join(["cloudtty.io/", "role"]): "".join(["wor", "ker"])},
            },
            "status": {"phase": "".join(["Run", "ning"]), "conditions": [{"type": "Ready"}]},
        }

    a, b = compact(pod("one")), compact(pod("two"))
    for outer_a, outer_b in zip(containers(a), containers(b), strict=True):
        if isinstance(outer_a, dict):
            for key_a, key_b in zip(outer_a, outer_b, strict=True):
                assert key_a is key_b
    assert a["metadata"]["namespace"] is b["metadata"]["namespace"]
    assert (
        a["metadata"]["labels"]["cloudtty.io/role"] is b["metadata"]["labels"]["cloudtty.io/role"]
    )
    assert a["status"]["phase"] is b["status"]["phase"]
    assert shares_nothing_mutable(a, b)


# ------------------------------------------------------------------------------ other kinds
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(written_back(), st.dictionaries(st.sampled_from(["spec", "data", "rules"]), json_values))
def test_an_object_written_back_keeps_its_content_and_merges_the_same(
    obj: dict[str, Any], wanted_body: dict[str, Any]
) -> None:
    small = compact(obj)
    assert small == without_managed_fields(obj)  # annotations (last-applied too) included
    assert shares_nothing_mutable(small, obj)
    meta = obj["metadata"]
    wanted = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": {"x": "y"}},
        **wanted_body,
    }
    assert merge(small, wanted) == merge(without_managed_fields(obj), wanted)
    assert diff_objects(Snapshot.of(small), [wanted]) == diff_objects(
        Snapshot.of(without_managed_fields(obj)), [wanted]
    )


def test_a_cloudshell_drops_only_its_last_applied_annotation() -> None:
    shell = cloudshell("s1", imageBackend="fake")
    shell["metadata"].update(
        uid="u-1",
        resourceVersion="7",
        generation=3,
        finalizers=["cloudshell.cloudtty.io/finalizer"],
        annotations={LAST_APPLIED: '{"spec": {}}', "team": "a"},
        managedFields=[{"manager": "kubectl"}],
    )
    shell["status"] = {"phase": "Ready", "conditions": [{"type": "Ready", "status": "True"}]}
    small = compact(shell)
    expected = without_managed_fields(shell)
    expected["metadata"]["annotations"] = {"team": "a"}
    assert small == expected
    shell["metadata"]["annotations"] = {LAST_APPLIED: "{}"}
    assert "annotations" not in compact(shell)["metadata"]


def test_a_crd_keeps_what_says_which_versions_are_served() -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.io", "resourceVersion": "3"},
        "spec": {
            "group": "example.io",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {}}},
                }
            ],
        },
        "status": {
            "conditions": [{"type": "Established", "status": "True", "reason": "InitialNames"}],
            "acceptedNames": {"kind": "Widget"},
        },
    }
    small = compact(crd)
    assert small["spec"]["versions"] == [{"name": "v1", "served": True, "storage": True}]
    assert small["status"] == {"conditions": [{"type": "Established", "status": "True"}]}
    assert small["metadata"] == crd["metadata"]


# ------------------------------------------------------------------------------ the planner
IMAGE = FakeImageBackend()
KEY = PoolKey("default", IMAGE.name, IMAGE.default_image)
SPEC = {"exposureMode": "Fake", "imageBackend": "fake", "secretRef": {"name": "kubeconfig"}}


_calls = itertools.count(1)


def same_names() -> tuple[Callable[[], str], Callable[[], str]]:
    """Two name sources giving the same names, new ones on every call of this function: two
    plans of the same inputs are then equal, and each pass makes workers of fresh names."""
    call = next(_calls)

    def source() -> Callable[[], str]:
        counter = itertools.count(1)
        return lambda: f"c{call}x{next(counter)}"

    return source(), source()


def same_plans(snap: Snapshot, ctx: PlanContext, shells: list[str]) -> Snapshot:
    """Plan the pool and every shell on ``snap`` and on its compacted copy; the plans must be
    equal. Apply them; return the new snapshot."""
    first, second = same_names()
    pool_plan = plan_pool(KEY, snap, ClusterPoolView(snap), ctx.settings, ctx.registry, first)
    assert (
        plan_pool(
            KEY,
            compacted(snap),
            ClusterPoolView(compacted(snap)),
            ctx.settings,
            ctx.registry,
            second,
        )
        == pool_plan
    )
    snap = apply_plan(snap, pool_plan, now=NOW)
    for name in shells:
        raw = snap.get(SHELL_API, "CloudShell", "default", name)
        if raw is None:
            continue
        small = compacted(snap)
        first, second = same_names()
        wanted = plan(raw, snap, ClusterPoolView(snap), NOW, attrs.evolve(ctx, name_source=first))
        raw_small = small.get(SHELL_API, "CloudShell", "default", name)
        assert raw_small is not None
        again = plan(
            raw_small, small, ClusterPoolView(small), NOW, attrs.evolve(ctx, name_source=second)
        )
        assert again == wanted
        ref = ObjectRef(SHELL_API, "CloudShell", "default", name)
        snap = apply_plan(snap, wanted, shell=ref, now=NOW)
    return start_pods(snap)


def test_the_planner_plans_the_same_on_compacted_caches_through_a_shells_life() -> None:
    ctx = PlanContext(
        fake_registry(image=IMAGE),
        OperatorSettings(min_idle=2),
        token_source=lambda: "s3cr3t-token",
    )
    snap = create(Snapshot.with_default_node(), kubeconfig_secret())
    snap = fill_pool(snap, KEY, ctx.settings, ctx.registry)
    shells = ["s1", "s2", "s3"]
    snap = create(snap, *(cloudshell(name, **SPEC) for name in shells))
    for _ in range(4):
        snap = same_plans(snap, ctx, shells)

    def worker(name: str) -> ObjectRef:
        raw = snap.get(SHELL_API, "CloudShell", "default", name)
        assert raw is not None
        assert raw["status"]["phase"] == "Ready"
        return ObjectRef("v1", "Pod", "default", str(raw["status"]["worker"]))

    snap = end_pod(snap, worker("s1"), message="once")
    snap = fail_pod(snap, worker("s2"))
    for _ in range(4):
        snap = same_plans(snap, ctx, shells)
    phases = {
        name: (snap.get(SHELL_API, "CloudShell", "default", name) or {}).get("status", {})
        for name in shells
    }
    assert phases["s1"]["phase"] == "Completed"  # the scenario went where it should
    assert phases["s3"]["phase"] == "Ready"


# ------------------------------------------------------------------------------ the runtime
operations = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["u1", "u2", None])),
    max_size=25,
)


@settings(max_examples=60)
@given(operations)
def test_the_label_index_finds_what_a_scan_finds(steps: list[tuple[str, str | None]]) -> None:
    """Objects come, change labels and go; a list by an indexed label finds what a scan
    finds (the index keeps one key, or a set of several, per label value)."""
    from cloudtty_core.runtime.client import Resource
    from cloudtty_core.runtime.informer import Informer

    async def main() -> None:
        resource = Resource("v1", "ConfigMap", "configmaps")
        informer = Informer(resource, None, None, index_labels=[LABEL_SHELL_UID])  # type: ignore[arg-type]
        live: dict[str, str] = {}
        for version, (name, uid) in enumerate(steps, start=1):
            meta = {"name": name, "namespace": "default", "resourceVersion": str(version)}
            if uid is None:
                informer._deliver([{"type": "DELETED", "object": {"metadata": meta}}])
                live.pop(name, None)
                continue
            meta["labels"] = {LABEL_SHELL_UID: uid, "other": "x"}
            assert informer.observe({"metadata": meta})
            live[name] = uid
            for value in ("u1", "u2"):
                found = [
                    o["metadata"]["name"]
                    for o in informer.list("default", {LABEL_SHELL_UID: value})
                ]
                assert found == sorted(n for n, u in live.items() if u == value)
                assert informer.list("other", {LABEL_SHELL_UID: value}) == []
        assert len(informer) == len(live)

    anyio.run(main)


sandbox_module = pytest.importorskip("cloudtty_sandbox")


@pytest.fixture
def sandbox_config() -> Any:
    return sandbox_module.SandboxConfig(pod_start_delay=0.05, local_images={})


def test_the_informer_caches_compact_pods_and_the_status_write_keeps_metadata(
    sandbox: Any,
) -> None:
    """A pod in the cache is compacted; a CloudShell written back through its status
    subresource from its compacted copy (no last-applied annotation) keeps the annotation."""
    from cloudtty_core.crd import crd_manifest
    from cloudtty_core.runtime.api import AsyncApi
    from cloudtty_core.runtime.client import KubeClient, Resource
    from cloudtty_core.runtime.informer import Informer

    client = KubeClient.for_url(sandbox.url, sandbox.admin_token)
    pods = Resource("v1", "Pod", "pods")
    shells = Resource(SHELL_API, "CloudShell", "cloudshells")
    try:
        client.create(crd_manifest())
        client.register(shells)
        client.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p1", "namespace": "default", "labels": {"app": "x"}},
                "spec": {"containers": [{"name": "c", "image": "example.org/x:1"}]},
            }
        )
        shell = cloudshell("s1", imageBackend="fake")
        shell["metadata"]["annotations"] = {LAST_APPLIED: '{"kind": "CloudShell"}'}
        created = client.create(shell)

        async def cached_pod() -> Any:
            informer = Informer(pods, client, AsyncApi(client), namespace="default")
            async with anyio.create_task_group() as group:
                group.start_soon(informer.run)
                with anyio.fail_after(10):
                    await informer.synced.wait()
                found = informer.get("default", "p1")
                group.cancel_scope.cancel()
            return found

        pod = anyio.run(cached_pod)
        assert pod is not None
        assert pod["metadata"]["labels"] == {"app": "x"}
        assert "containers" not in pod["spec"]
        assert "managedFields" not in pod["metadata"]

        small = compact(created)
        assert "annotations" not in small["metadata"]
        body = {**small, "status": {"phase": "Pending"}}
        written = client.replace(body, subresource="status")
        assert written["status"] == {"phase": "Pending"}
        assert written["metadata"]["annotations"] == {LAST_APPLIED: '{"kind": "CloudShell"}'}
        stored = client.get(shells, "default", "s1")
        assert stored["metadata"]["annotations"] == {LAST_APPLIED: '{"kind": "CloudShell"}'}
    finally:
        client.close()
