"""The HTTPRoute backend passes the exposure conformance kit, with schema checks of every
object it makes (Kubernetes kinds and the Gateway API CRDs), plus its own cases."""

from __future__ import annotations

import pytest
from cloudtty_gateway_httproute import CRDS, GATEWAY_API, HTTPRouteBackend
from cloudtty_gateway_httproute.plugin import cloudtty_register_backends

from cloudtty_core import (
    BackendRegistry,
    ExposureBackend,
    ExposureRequest,
    OperatorSettings,
    Snapshot,
    WorkerRef,
    shell_from_dict,
)
from cloudtty_core.testing import SchemaCheckedExposureTests, cloudshell, load_crds

GATEWAY = {
    "apiVersion": GATEWAY_API,
    "kind": "Gateway",
    "metadata": {"name": "shells", "namespace": "cloudtty"},
    "spec": {
        "gatewayClassName": "example",
        "listeners": [
            {"name": "http", "port": 80, "protocol": "HTTP", "hostname": "shells.example.com"}
        ],
    },
}
APIS = ((GATEWAY_API, "HTTPRoute"), (GATEWAY_API, "Gateway"))


class TestHTTPRouteConformance(SchemaCheckedExposureTests):
    """The kit's contract: ready with a URL, owned objects, idempotent, nothing left behind."""

    crds = load_crds(CRDS)

    @pytest.fixture
    def backend(self) -> ExposureBackend:
        return HTTPRouteBackend()

    @pytest.fixture
    def cluster(self) -> Snapshot:
        return Snapshot.with_default_node(GATEWAY).with_apis(*APIS)


WORKER = WorkerRef("pod-1", "team-a", 7681, "cloudshell-alice", {"cloudtty.io/shell": "alice"})
SHELL = shell_from_dict(cloudshell("alice", "team-a", exposureMode="HTTPRoute"))


def expose(cluster: Snapshot):
    return HTTPRouteBackend().expose(ExposureRequest(SHELL, WORKER, cluster, OperatorSettings()))


def test_url_is_the_gateway_host_and_the_shell_path() -> None:
    exposure = expose(Snapshot.of(GATEWAY, apis=APIS))
    assert exposure.url == "http://shells.example.com/team-a/alice/"
    assert exposure.base_path == "/team-a/alice/"
    route = next(o for o in exposure.owned if o["kind"] == "HTTPRoute")
    assert route["spec"]["hostnames"] == ["shells.example.com"]
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "cloudshell-alice", "port": 7681}]


def test_waits_with_a_reason_until_the_gateway_is_there() -> None:
    assert expose(Snapshot()).waiting.reason == "GatewayAPIMissing"
    assert expose(Snapshot.of(apis=APIS)).waiting.reason == "GatewayNotFound"
    bare = {
        **GATEWAY,
        "spec": {
            "gatewayClassName": "x",
            "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}],
        },
    }
    pending = expose(Snapshot.of(bare, apis=APIS))
    assert pending.url is None
    assert pending.waiting.reason == "GatewayAddressPending"
    addressed = {**bare, "status": {"addresses": [{"type": "IPAddress", "value": "203.0.113.9"}]}}
    assert expose(Snapshot.of(addressed, apis=APIS)).url == "http://203.0.113.9/team-a/alice/"


def test_gateway_is_named_namespace_slash_name() -> None:
    assert HTTPRouteBackend.for_gateway("gw/public") == HTTPRouteBackend("gw", "public")
    with pytest.raises(ValueError, match="namespace/name"):
        HTTPRouteBackend.for_gateway("public")


def test_the_plugin_registers_httproute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDTTY_HTTPROUTE_GATEWAY", "edge/main")
    registry = BackendRegistry()
    cloudtty_register_backends(registry)
    assert registry.exposure("HTTPRoute") == HTTPRouteBackend("edge", "main")
