"""Indexed label lookups agree with brute-force selection: the store's label index, labelled
lists, the Service selector index and the Endpoints the controller keeps through them."""

from __future__ import annotations

from typing import Any

import pytest
from cloudtty_sandbox.endpoints import pod_ready, selects, service_selector
from cloudtty_sandbox.labelindex import LabelIndex, SelectorIndex
from cloudtty_sandbox.sandbox import Sandbox
from cloudtty_sandbox.selectors import parse_label_selector
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes import client

KEYS = ("app", "role", "tier")
VALUES = ("a", "b", "")
NAMES = ("x0", "x1", "x2", "x3", "x4")
label_maps = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3)
selectors = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), min_size=1, max_size=3)
# (namespace, name, labels or None for a deletion)
changes = st.lists(
    st.tuples(st.sampled_from(("ns1", "ns2")), st.sampled_from(NAMES), st.none() | label_maps),
    max_size=30,
)


def _obj(labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"labels": labels}}


@settings(max_examples=200, deadline=None)
@given(changes, selectors, st.sampled_from(("ns1", "ns2")))
def test_label_index_matches_brute_force(
    steps: list[tuple[str, str, dict[str, str] | None]], selector: dict[str, str], ns: str
) -> None:
    index = LabelIndex()
    current: dict[tuple[str, str], dict[str, str]] = {}
    for namespace, name, labels in steps:
        index.update(namespace, name, _obj(labels) if labels is not None else None)
        if labels is None:
            current.pop((namespace, name), None)
        else:
            current[(namespace, name)] = labels
    expected = sorted(
        name
        for (namespace, name), labels in current.items()
        if namespace == ns and all(labels.get(k) == v for k, v in selector.items())
    )
    assert index.matching(ns, selector) == expected


def _service(selector: dict[str, str] | None) -> dict[str, Any]:
    return {"metadata": {}, "spec": {"selector": selector} if selector is not None else {}}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(NAMES), st.none() | st.just({}) | selectors, st.booleans()),
        max_size=30,
    ),
    label_maps,
)
def test_selector_index_matches_brute_force(
    steps: list[tuple[str, dict[str, str] | None, bool]], labels: dict[str, str]
) -> None:
    index = SelectorIndex(service_selector)
    services: dict[str, dict[str, Any]] = {}
    for name, selector, deleted in steps:
        if deleted:
            index.update("ns", name, None)
            services.pop(name, None)
        else:
            services[name] = _service(selector)
            index.update("ns", name, services[name])
    pod = {"metadata": {"labels": labels}}
    found = index.selecting("ns", labels)
    assert len(found) == len(set(found)), "a Service reported twice"
    assert sorted(found) == sorted(n for n, svc in services.items() if selects(svc, pod))
    assert index.selecting("other", labels) == []


def _cluster_with_namespaces() -> Sandbox:
    """A sandbox's object layer (store, strategies, controllers' listeners), not started."""
    sb = Sandbox()
    for ns in ("ns1", "ns2"):
        sb.cluster.create(
            sb.registry.lookup("", "v1", "namespaces"), None, {"metadata": {"name": ns}}
        )
    return sb


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(("ns1", "ns2")), st.sampled_from(NAMES), label_maps),
        max_size=15,
    ),
    st.sampled_from(("ns1", "ns2", None)),
    st.lists(
        st.tuples(
            st.sampled_from(KEYS), st.sampled_from(("=", "!=", " in ")), st.sampled_from(VALUES)
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_labelled_lists_match_a_scan(
    objects: list[tuple[str, str, dict[str, str]]],
    namespace: str | None,
    requirements: list[tuple[str, str, str]],
) -> None:
    sb = _cluster_with_namespaces()
    cms = sb.registry.lookup("", "v1", "configmaps")
    for ns, name, labels in objects:
        body = {"metadata": {"name": name, "labels": labels}}
        if sb.cluster.find("configmaps", ns, name) is None:
            sb.cluster.create(cms, ns, body)
        else:
            sb.cluster.update(cms, ns, name, body)
    text = ",".join(f"{k} in ({v})" if op == " in " else f"{k}{op}{v}" for k, op, v in requirements)
    matcher = parse_label_selector(text)
    assert matcher is not None
    listed = sb.cluster.list(cms, namespace, matcher)["items"]
    scanned = [
        o
        for o in sb.store.items("configmaps", namespace)
        if matcher(o["metadata"].get("labels") or {})
    ]
    assert [o["metadata"]["name"] for o in listed] == [o["metadata"]["name"] for o in scanned]
    assert [o["metadata"].get("namespace") for o in listed] == [
        o["metadata"].get("namespace") for o in scanned
    ]


# ------------------------------------------------------------------------------ Endpoints
def _expected_addresses(sb: Sandbox, svc: dict[str, Any]) -> dict[str, bool]:
    """Brute force: every pod of the namespace tested against the selector; IP -> ready."""
    out = {}
    for pod in sb.store.items("pods", svc["metadata"]["namespace"]):
        status = pod.get("status") or {}
        if (
            selects(svc, pod)
            and status.get("podIP")
            and not pod["metadata"].get("deletionTimestamp")
        ):
            out[status["podIP"]] = pod_ready(pod)
    return out


def _stored_addresses(sb: Sandbox, namespace: str, name: str) -> dict[str, bool] | None:
    ep = sb.store.get("endpoints", namespace, name)
    if ep is None:
        return None
    out = {}
    for subset in ep.get("subsets") or ():
        for a in subset.get("addresses") or ():
            out[a["ip"]] = True
        for a in subset.get("notReadyAddresses") or ():
            out[a["ip"]] = False
    return out


pod_steps = st.tuples(
    st.just("pod"),
    st.sampled_from(("ns1", "ns2")),
    st.sampled_from(NAMES),
    st.none() | label_maps,  # None: delete the pod
    st.booleans(),  # ready
)
service_steps = st.tuples(
    st.just("svc"),
    st.sampled_from(("ns1", "ns2")),
    st.sampled_from(NAMES),
    st.none() | st.just({}) | selectors,  # None: delete the Service; {}: no selector
    st.booleans(),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(pod_steps | service_steps, min_size=1, max_size=25))
def test_endpoints_controller_agrees_with_brute_force_selection(
    steps: list[tuple[str, str, str, dict[str, str] | None, bool]],
) -> None:
    """After every change, the Services the controller marks dirty and syncs hold exactly the
    pods a scan of every pod would select (a Service it failed to mark would stay stale)."""
    sb = _cluster_with_namespaces()
    cluster = sb.cluster
    pods = sb.registry.lookup("", "v1", "pods")
    services = sb.registry.lookup("", "v1", "services")
    from cloudtty_sandbox.endpoints import EndpointsController

    controller = EndpointsController(cluster)
    next_ip = iter(range(1, 10_000))
    for kind, ns, name, labels, ready in steps:
        if kind == "pod":
            existing = cluster.find("pods", ns, name)
            if labels is None:
                if existing is not None:
                    cluster.remove_now(pods, existing)
                continue
            if existing is None:
                body = {
                    "metadata": {"name": name, "labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "c",
                                "image": "x:1",
                                "ports": [{"containerPort": 80, "name": "http"}],
                            }
                        ]
                    },
                }
                cluster.create(pods, ns, body)
            else:
                relabelled = cluster.mutate(
                    "pods", ns, name, lambda p, lb=labels: p["metadata"].__setitem__("labels", lb)
                )
                assert relabelled is not None

            def status(p: dict[str, Any], ready: bool = ready) -> None:
                s = p.setdefault("status", {})
                s.setdefault("podIP", f"127.9.0.{next(next_ip)}")
                s["phase"] = "Running"
                s["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]

            assert cluster.mutate("pods", ns, name, status, subresource="status") is not None
        else:
            existing = cluster.find("services", ns, name)
            if labels is None:
                if existing is not None:
                    cluster.delete(services, ns, name)
                continue
            spec: dict[str, Any] = {"ports": [{"port": 80, "targetPort": "http"}]}
            if labels:
                spec["selector"] = labels
            if existing is None:
                cluster.create(services, ns, {"metadata": {"name": name}, "spec": spec})
            else:
                changed = cluster.mutate("services", ns, name, lambda s, sp=spec: s.update(spec=sp))
                assert changed is not None
        dirty, controller._dirty = controller._dirty, set()
        for key in dirty:
            controller.sync(*key)
        for svc in sb.store.items("services", None):
            m = svc["metadata"]
            if m["name"] == "kubernetes" or not service_selector(svc):
                continue
            stored = _stored_addresses(sb, m["namespace"], m["name"])
            assert stored == _expected_addresses(sb, svc), (m["namespace"], m["name"])


def test_the_status_of_an_unscheduled_pod_can_be_written() -> None:
    sb = _cluster_with_namespaces()
    pods = sb.registry.lookup("", "v1", "pods")
    sb.cluster.create(
        pods,
        "ns1",
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}},
    )
    current = sb.cluster.get(pods, "ns1", "p")
    body = {**current, "status": {**current["status"], "podIP": "127.9.0.9"}}
    updated = sb.cluster.update(pods, "ns1", "p", body, subresource="status")
    assert updated["status"]["podIP"] == "127.9.0.9"
    assert "nodeName" not in updated["spec"]


# ------------------------------------------------------------------------------ over HTTP
def _pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "example.org/app:1"}]},
    }


def _endpoint_pods(core: client.CoreV1Api, name: str) -> list[str]:
    ep = core.read_namespaced_endpoints(name, "default")
    return sorted(
        a.target_ref.name
        for s in ep.subsets or ()
        for a in (s.addresses or []) + (s.not_ready_addresses or [])
    )


@pytest.mark.usefixtures("sandbox")
def test_a_pod_relabelled_out_of_a_selector_leaves_the_endpoints(sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
    )
    for name in ("w1", "w2"):
        core.create_namespaced_pod("default", _pod(name, {"app": "web", "tier": "front"}))
    wait(lambda: _endpoint_pods(core, "web") == ["w1", "w2"])
    core.patch_namespaced_pod("w1", "default", {"metadata": {"labels": {"app": "other"}}})
    wait(lambda: _endpoint_pods(core, "web") == ["w2"])
    core.patch_namespaced_pod("w1", "default", {"metadata": {"labels": {"app": "web"}}})
    wait(lambda: _endpoint_pods(core, "web") == ["w1", "w2"])


@pytest.mark.usefixtures("sandbox")
def test_a_service_whose_selector_changes_picks_up_the_right_pods(sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_pod("default", _pod("a1", {"app": "a", "tier": "x"}))
    core.create_namespaced_pod("default", _pod("a2", {"app": "a", "tier": "y"}))
    core.create_namespaced_pod("default", _pod("b1", {"app": "b", "tier": "x"}))
    core.create_namespaced_service(
        "default",
        {"metadata": {"name": "svc"}, "spec": {"selector": {"app": "a"}, "ports": [{"port": 80}]}},
    )
    wait(lambda: _endpoint_pods(core, "svc") == ["a1", "a2"])
    core.patch_namespaced_service("svc", "default", {"spec": {"selector": {"app": "b"}}})
    wait(lambda: _endpoint_pods(core, "svc") == ["b1"])
    core.patch_namespaced_service(
        "svc", "default", {"spec": {"selector": {"app": None, "tier": "x"}}}
    )
    wait(lambda: _endpoint_pods(core, "svc") == ["a1", "b1"])
    # Labelled lists through the official client agree with the selector.
    listed = core.list_namespaced_pod("default", label_selector="tier=x,app!=b").items
    assert [p.metadata.name for p in listed] == ["a1"]
