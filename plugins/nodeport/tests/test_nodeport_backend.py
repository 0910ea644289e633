"""The NodePort backend: conformance with schema checks, node address choice, waiting states."""

from __future__ import annotations

from typing import Any

import pytest
from cloudtty_nodeport import NodePortBackend, node_address, node_port
from cloudtty_nodeport.plugin import cloudtty_register_backends

from cloudtty_core import (
    BackendRegistry,
    ExposureBackend,
    ExposureRequest,
    Manifest,
    OperatorSettings,
    PlanContext,
    Snapshot,
    WorkerRef,
    load_plugins,
    shell_from_dict,
)
from cloudtty_core.testing import SchemaCheckedExposureTests, cloudshell, converge


def node(name: str, ready: bool = True, **addresses: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {
            "addresses": [{"type": t, "address": a} for t, a in addresses.items()],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def service(node_port_value: int | None) -> Manifest:
    port: dict[str, Any] = {"name": "http", "port": 7681, "targetPort": 7681}
    if node_port_value is not None:
        port["nodePort"] = node_port_value
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "cloudshell-x", "namespace": "ns"},
        "spec": {"type": "NodePort", "ports": [port]},
    }


WORKER = WorkerRef("pod-1", "ns", 7681, "cloudshell-x", {"cloudtty.io/shell": "x"})
SHELL = shell_from_dict(cloudshell("x", "ns"))


def expose(cluster: Snapshot, settings: OperatorSettings | None = None) -> Any:
    request = ExposureRequest(SHELL, WORKER, cluster, settings or OperatorSettings())
    return NodePortBackend().expose(request)


class TestNodePortConformance(SchemaCheckedExposureTests):
    @pytest.fixture
    def backend(self) -> ExposureBackend:
        return NodePortBackend()

    def test_url_uses_the_node_and_the_allocated_port(
        self, backend: ExposureBackend, cluster: Snapshot, context: PlanContext
    ) -> None:
        done = self.ready(cluster, backend, context)
        svc = done.snapshot.get("v1", "Service", "team-a", "cloudshell-alice")
        assert svc is not None
        assert svc["spec"]["type"] == "NodePort"
        port = svc["spec"]["ports"][0]["nodePort"]
        status = (done.shell(self.refs("alice")[0]) or {})["status"]
        assert status["accessUrl"] == f"http://127.0.0.1:{port}/"


class TestNodePortWithAnAddressSetting(SchemaCheckedExposureTests):
    """With ``node_address`` set the cluster needs no node at all."""

    @pytest.fixture
    def backend(self) -> ExposureBackend:
        return NodePortBackend()

    @pytest.fixture
    def cluster(self) -> Snapshot:
        return Snapshot()

    @pytest.fixture
    def settings(self) -> OperatorSettings:
        return OperatorSettings(min_idle=0, node_address="shells.example.com")


def test_the_setting_wins_over_nodes() -> None:
    cluster = Snapshot.of(node("n1", ExternalIP="203.0.113.5"), service(31000))
    exposure = expose(cluster, OperatorSettings(node_address="lb.example.com"))
    assert exposure.url == "http://lb.example.com:31000/"


def test_external_ip_of_any_ready_node_before_internal_ips() -> None:
    cluster = Snapshot.of(
        node("a-control", InternalIP="10.0.0.1"),
        node("b-worker", InternalIP="10.0.0.2", ExternalIP="203.0.113.7"),
        service(30080),
    )
    assert expose(cluster).url == "http://203.0.113.7:30080/"


def test_internal_ip_when_no_node_has_an_external_one() -> None:
    cluster = Snapshot.of(node("b", InternalIP="10.0.0.9"), node("a", InternalIP="10.0.0.8"))
    assert node_address(cluster) == "10.0.0.8"


def test_nodes_that_are_not_ready_are_skipped() -> None:
    cluster = Snapshot.of(
        node("a", ready=False, ExternalIP="203.0.113.1"), node("b", InternalIP="10.0.0.2")
    )
    assert node_address(cluster) == "10.0.0.2"


def test_ipv6_addresses_are_bracketed() -> None:
    cluster = Snapshot.of(node("a", InternalIP="fd00::10"), service(30001))
    assert expose(cluster).url == "http://[fd00::10]:30001/"


def test_no_ready_node_waits_with_a_condition_instead_of_failing() -> None:
    exposure = expose(Snapshot.of(node("a", ready=False, InternalIP="10.0.0.1"), service(30000)))
    assert exposure.url is None
    assert exposure.waiting is not None
    assert exposure.waiting.reason == "NoReadyNode"
    assert not exposure.waiting.transient
    assert "node_address" in exposure.waiting.message
    assert [o["spec"]["type"] for o in exposure.owned] == ["NodePort"]


def test_a_port_not_yet_allocated_is_a_transient_wait() -> None:
    exposure = expose(Snapshot.of(node("a", InternalIP="10.0.0.1"), service(None)))
    assert exposure.url is None
    assert exposure.waiting is not None
    assert exposure.waiting.reason == "NodePortPending"
    assert exposure.waiting.transient


def test_node_port_prefers_the_http_port() -> None:
    svc = service(30005)
    svc["spec"]["ports"].insert(0, {"name": "metrics", "port": 9000, "nodePort": 30004})
    assert node_port(svc) == 30005
    assert node_port(None) is None


def test_shell_without_ready_nodes_stays_provisioning_with_the_reason() -> None:
    suite = TestNodePortConformance()
    backend = NodePortBackend()
    context = suite.make_context(backend, OperatorSettings(min_idle=0))
    start = suite.with_shells(Snapshot(), backend, "lonely")
    done = converge(start, suite.refs("lonely"), context)
    status = (done.shell(suite.refs("lonely")[0]) or {})["status"]
    assert status["phase"] != "Ready"
    assert "accessUrl" not in status or not status["accessUrl"]
    route = [c for c in status["conditions"] if c["type"] == "RouteReady"]
    assert route
    assert route[0]["reason"] == "NoReadyNode"


def test_watched_kinds_include_nodes() -> None:
    assert [(k.kind, k.namespaced) for k in NodePortBackend().watched_kinds] == [("Node", False)]


def test_the_plugin_registers_nodeport() -> None:
    registry = BackendRegistry()
    cloudtty_register_backends(registry)
    assert registry.names("exposure") == ("NodePort",)
    loaded = load_plugins(environ={})
    assert loaded.registry.get("exposure", "NodePort").distribution == "cloudtty-nodeport"
