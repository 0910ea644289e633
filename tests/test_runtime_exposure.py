"""Every exposure mode whose plugin is installed brings a shell to Ready with an access URL on
the sandbox cluster; a VirtualService shell waits until Istio's CRDs appear and goes on as
soon as they do, without an operator restart."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
import yaml

from cloudtty_core import load_plugins
from cloudtty_core.runtime.client import Resource
from cloudtty_core.runtime.testing import OperatorHarness, wait_for

pytest.importorskip("kubernetes")
sandbox_module = pytest.importorskip("cloudtty_sandbox")

INGRESSES = Resource("networking.k8s.io/v1", "Ingress", "ingresses")
SERVICES = Resource("v1", "Service", "services")
ISTIO = "networking.istio.io/v1"
GATEWAYS = Resource(ISTIO, "Gateway", "gateways")
VIRTUAL_SERVICES = Resource(ISTIO, "VirtualService", "virtualservices")

INSTALLED = set(load_plugins().registry.names("exposure"))


def needs(mode: str) -> Any:
    return pytest.mark.skipif(mode not in INSTALLED, reason=f"the {mode} plugin is not installed")


@pytest.fixture
def sandbox_config() -> Any:
    return sandbox_module.SandboxConfig(
        pod_start_delay=0.05, bookmark_interval=0.5, local_images={}
    )


@pytest.fixture
def harness(sandbox: Any) -> Iterator[OperatorHarness]:
    with OperatorHarness(sandbox.url, sandbox.admin_token) as running:
        yield running


@needs("NodePort")
def test_nodeport_gives_a_node_address_and_the_allocated_port(harness: OperatorHarness) -> None:
    harness.create_shell("np", exposureMode="NodePort")
    shell = harness.wait_phase("np", "Ready")
    service = harness.client.get(SERVICES, "default", "cloudshell-np")
    port = service["spec"]["ports"][0]["nodePort"]
    assert shell["status"]["accessUrl"] == f"http://127.0.0.1:{port}/"


@needs("ClusterIP")
def test_clusterip_gives_the_in_cluster_address(harness: OperatorHarness) -> None:
    harness.create_shell("cip", exposureMode="ClusterIP")
    shell = harness.wait_phase("cip", "Ready")
    service = harness.client.get(SERVICES, "default", "cloudshell-cip")
    assert service["spec"]["type"] == "ClusterIP"
    assert "cloudshell-cip.default.svc" in shell["status"]["accessUrl"]


@needs("Ingress")
def test_ingress_of_its_own_routes_the_shell(harness: OperatorHarness) -> None:
    harness.create_shell("ing", exposureMode="Ingress", ingressConfig={"host": "shells.localhost"})
    shell = harness.wait_phase("ing", "Ready")
    url = shell["status"]["accessUrl"]
    assert url.startswith("http://shells.localhost")
    owned = [
        i
        for i in harness.items(INGRESSES, "default")
        if any(
            o["uid"] == shell["metadata"]["uid"] for o in i["metadata"].get("ownerReferences") or ()
        )
    ]
    assert len(owned) == 1
    paths = [p["path"] for r in owned[0]["spec"]["rules"] for p in r["http"]["paths"]]
    assert any(url.endswith((path, path + "/")) for path in paths)


@needs("Ingress")
def test_a_shared_ingress_gets_one_path_per_shell_and_loses_it_on_deletion(
    harness: OperatorHarness,
) -> None:
    config = {"ingressName": "shells", "host": "shells.localhost"}
    for name in ("left", "right"):
        harness.create_shell(name, exposureMode="Ingress", ingressConfig=config)
    urls = {harness.wait_phase(n, "Ready")["status"]["accessUrl"] for n in ("left", "right")}
    assert len(urls) == 2

    def paths() -> list[str]:
        ingress = harness.client.get(INGRESSES, "default", "shells")
        return sorted(p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"])

    assert len(paths()) == 2
    harness.delete_shell("left")
    harness.wait_gone("left")
    remaining = wait_for(lambda: len(paths()) == 1 and paths(), what="left's path removed")
    assert "left" not in remaining[0]
    assert harness.wait_phase("right", "Ready")


@needs("VirtualService")
def test_a_virtualservice_shell_waits_for_istio_and_goes_on_when_its_crds_appear(
    harness: OperatorHarness,
) -> None:
    harness.create_shell(
        "mesh",
        exposureMode="VirtualService",
        virtualServiceConfig={"gateway": "default/public"},
    )

    def waiting() -> dict[str, Any] | None:
        shell = harness.shell("mesh") or {}
        condition = harness.condition(shell, "RouteReady")
        return (
            condition if condition and condition["reason"] == "VirtualServiceCRDMissing" else None
        )

    assert wait_for(waiting, what="waiting for the VirtualService CRD")["status"] == "False"

    crds = resources.files("cloudtty_istio") / "crds"
    for name in ("gateway.yaml", "virtualservice.yaml"):
        harness.client.create(yaml.safe_load((crds / name).read_text()))
    wait_for(lambda: _served(harness), what="the Istio kinds served")
    harness.client.create(
        {
            "apiVersion": ISTIO,
            "kind": "Gateway",
            "metadata": {"name": "public", "namespace": "default"},
            "spec": {
                "selector": {"istio": "ingressgateway"},
                "servers": [
                    {
                        "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                        "hosts": ["mesh.localhost"],
                    }
                ],
            },
        }
    )
    shell = harness.wait_phase("mesh", "Ready")
    assert shell["status"]["accessUrl"].startswith("http://mesh.localhost/")
    routes = harness.items(VIRTUAL_SERVICES, "default")
    assert len(routes) == 1
    assert routes[0]["metadata"]["ownerReferences"][0]["uid"] == shell["metadata"]["uid"]


def _served(harness: OperatorHarness) -> bool:
    return harness.client.serves(ISTIO, "VirtualService") and harness.client.serves(
        ISTIO, "Gateway"
    )
