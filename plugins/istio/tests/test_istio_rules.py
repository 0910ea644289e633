"""The VirtualService backend's own rules: missing CRD or Gateway, URLs from Gateways and load
balancers, shared routes, and the CRDs written for the tests."""

from __future__ import annotations

from typing import Any

import pytest
from cloudtty_istio import (
    GATEWAY_CRD,
    ISTIO_API,
    PLACEHOLDER_ROUTE,
    VIRTUAL_SERVICE_CRD,
    VirtualServiceBackend,
    route_path,
    split_gateway,
    with_route,
    without_route,
)
from cloudtty_istio.plugin import cloudtty_register_backends

from cloudtty_core import (
    BackendRegistry,
    ExposureRequest,
    Manifest,
    OperatorSettings,
    Snapshot,
    WorkerRef,
    load_plugins,
    shell_from_dict,
)
from cloudtty_core.testing import (
    SchemaViolation,
    check_manifest,
    cloudshell,
    load_crds,
    validate_custom_resource,
    validate_kubernetes_object,
)

CRDS = load_crds(VIRTUAL_SERVICE_CRD, GATEWAY_CRD)
WORKER = WorkerRef("pod-1", "ns", 7681, "cloudshell-x", {"cloudtty.io/shell": "x"})
APIS = ((ISTIO_API, "VirtualService"), (ISTIO_API, "Gateway"))


def gateway(
    *hosts: str, protocol: str = "HTTP", number: int = 80, namespace: str = "istio-system"
) -> Manifest:
    return {
        "apiVersion": ISTIO_API,
        "kind": "Gateway",
        "metadata": {"name": "gw", "namespace": namespace},
        "spec": {
            "selector": {"istio": "ingressgateway"},
            "servers": [
                {
                    "port": {"number": number, "name": "web", "protocol": protocol},
                    "hosts": list(hosts),
                }
            ],
        },
    }


def shell(name: str = "x", **config: Any) -> Any:
    spec: dict[str, Any] = {"exposureMode": "VirtualService"}
    spec["virtualServiceConfig"] = {"gateway": "istio-system/gw", **config}
    return shell_from_dict(cloudshell(name, "ns", **spec))


def expose(cluster: Snapshot, **config: Any) -> Any:
    request = ExposureRequest(shell(**config), WORKER, cluster, OperatorSettings())
    return VirtualServiceBackend().expose(request)


def release(cluster: Snapshot, **config: Any) -> tuple[Manifest, ...]:
    request = ExposureRequest(shell(**config), WORKER, cluster, OperatorSettings())
    return VirtualServiceBackend().release(request)


def stored(obj: Manifest) -> Manifest:
    return {**obj, "metadata": {**obj["metadata"], "resourceVersion": "9"}}


def routed(cluster: Snapshot, **config: Any) -> Snapshot:
    """``cluster`` after the shell's per-shell VirtualService was created."""
    (vs,) = [o for o in expose(cluster, **config).owned if o["kind"] == "VirtualService"]
    return cluster.put(stored(vs))


PATH = "/apis/v1alpha1/cloudshell/x"


# Waiting instead of failing ----------------------------------------------------------------


def test_without_the_crd_the_shell_waits_saying_so() -> None:
    exposure = expose(Snapshot.of(gateway("h.example.com")))
    assert exposure.url is None
    assert exposure.waiting.reason == "VirtualServiceCRDMissing"
    assert "install Istio" in exposure.waiting.message
    assert [o["kind"] for o in exposure.owned] == ["Service"]
    assert release(Snapshot(), virtualServiceName="shared") == ()


def test_a_gateway_is_required_and_must_exist() -> None:
    cluster = Snapshot.of(apis=APIS)
    request = ExposureRequest(
        shell_from_dict(cloudshell("x", "ns", exposureMode="VirtualService")),
        WORKER,
        cluster,
        OperatorSettings(),
    )
    assert VirtualServiceBackend().expose(request).waiting.reason == "GatewayNotSet"
    missing = expose(cluster)
    assert missing.waiting.reason == "GatewayNotFound"
    assert "istio-system/gw" in missing.waiting.message


def test_a_bare_gateway_name_is_looked_up_in_the_virtual_service_namespace() -> None:
    assert split_gateway("gw", "edge") == ("edge", "gw")
    assert split_gateway("istio-system/gw", "edge") == ("istio-system", "gw")


# The route and the URL ---------------------------------------------------------------------


def test_the_cloudtty_example_keeps_its_path_and_settings() -> None:
    """The VirtualService example of CloudTTY's documentation, unchanged."""
    example = cloudshell(
        "vs-demo",
        "cloudtty-system",
        configmapName="my-kubeconfig",
        exposureMode="VirtualService",
        pathPrefix="/apis/cloudtty.io/",
        virtualServiceConfig={
            "virtualServiceName": "cloudshell-vs-demo",
            "namespace": "cloudtty-system",
            "gateway": "istio-system/istio-gateway",
            "export_to": "istio-system",
        },
    )
    s = shell_from_dict(example)
    assert route_path(s) == "/apis/cloudtty.io/apis/v1alpha1/cloudshell/vs-demo"
    worker = WorkerRef("p", "cloudtty-system", 7681, "cloudshell-vs-demo", {"a": "b"})
    cluster = Snapshot.of(apis=APIS).put(
        {**gateway("*"), "metadata": {"name": "istio-gateway", "namespace": "istio-system"}}
    )
    (vs,) = (
        VirtualServiceBackend()
        .expose(ExposureRequest(s, worker, cluster, OperatorSettings()))
        .shared
    )
    assert vs["metadata"] == {
        "name": "cloudshell-vs-demo",
        "namespace": "cloudtty-system",
        "labels": {"app.kubernetes.io/managed-by": "cloudtty"},
    }
    assert vs["spec"]["exportTo"] == ["istio-system"]
    assert vs["spec"]["gateways"] == ["istio-system/istio-gateway"]
    check_manifest(vs, CRDS)


def test_url_from_a_concrete_gateway_host_once_routed() -> None:
    cluster = Snapshot.of(gateway("istio-system/shells.example.com"), apis=APIS)
    first = expose(cluster)
    assert first.url is None
    assert first.waiting.reason == "VirtualServicePending"
    assert first.waiting.transient
    assert expose(routed(cluster)).url == f"http://shells.example.com{PATH}/"


def test_a_wildcard_gateway_host_gives_the_shell_its_own_host_and_https() -> None:
    cluster = Snapshot.of(gateway("*.shells.example.com", protocol="HTTPS", number=443), apis=APIS)
    assert expose(routed(cluster)).url == f"https://x-ns.shells.example.com{PATH}/"


def test_a_catch_all_gateway_uses_its_load_balancer_address_and_port() -> None:
    """As in the sandbox: the gateway workload's Service publishes 127.0.0.1 on a high port."""
    lb: Manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"istio": "ingressgateway", "app": "gw"},
            "ports": [{"name": "http", "port": 18080, "targetPort": 8080}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}},
    }
    cluster = Snapshot.of(gateway("*", number=8080), apis=APIS)
    pending = expose(routed(cluster))
    assert pending.url is None
    assert pending.waiting.reason == "GatewayAddressPending"
    assert expose(routed(cluster.put(lb))).url == f"http://127.0.0.1:18080{PATH}/"


def test_a_concrete_host_of_the_virtual_service_wins() -> None:
    cluster = Snapshot.of(gateway("*"), apis=APIS)
    vs = {
        "apiVersion": ISTIO_API,
        "kind": "VirtualService",
        "metadata": {"name": "shared", "namespace": "ns", "resourceVersion": "4"},
        "spec": {"hosts": ["term.example.com"], "gateways": ["istio-system/gw"], "http": []},
    }
    (updated,) = expose(cluster.put(vs), virtualServiceName="shared").shared
    assert (
        expose(cluster.put(updated), virtualServiceName="shared").url
        == f"http://term.example.com{PATH}/"
    )


# Shared VirtualServices --------------------------------------------------------------------


def shared_vs(*routes: Manifest) -> Manifest:
    return {
        "apiVersion": ISTIO_API,
        "kind": "VirtualService",
        "metadata": {"name": "shared", "namespace": "ns", "resourceVersion": "12"},
        "spec": {"hosts": ["*"], "gateways": ["istio-system/gw"], "http": list(routes)},
    }


OTHER = {
    "name": "cloudshell.ns.other",
    "match": [{"uri": {"prefix": "/o/"}}],
    "route": [{"destination": {"host": "o.ns.svc.cluster.local"}}],
}


def test_adding_appends_only_this_shells_route() -> None:
    cluster = Snapshot.of(gateway("h.example.com"), shared_vs(OTHER), apis=APIS)
    (updated,) = expose(cluster, virtualServiceName="shared").shared
    assert updated["metadata"]["resourceVersion"] == "12"
    assert [r["name"] for r in updated["spec"]["http"]] == [
        "cloudshell.ns.other",
        "cloudshell.ns.x",
    ]
    assert updated["spec"]["http"][0] == OTHER
    again = expose(cluster.put(updated), virtualServiceName="shared")
    assert again.shared == ()
    assert again.url == f"http://h.example.com{PATH}/"


def test_a_path_another_route_holds_is_a_conflict() -> None:
    squatter = {**OTHER, "name": "portal", "match": [{"uri": {"prefix": f"{PATH}/"}}]}
    cluster = Snapshot.of(gateway("h.example.com"), shared_vs(squatter), apis=APIS)
    exposure = expose(cluster, virtualServiceName="shared")
    assert exposure.shared == ()
    assert exposure.waiting.reason == "PathConflict"
    assert "portal" in exposure.waiting.message


def test_the_last_route_leaves_a_placeholder_istio_accepts_and_the_next_shell_replaces_it() -> None:
    cluster = Snapshot.of(gateway("h.example.com"), shared_vs(OTHER), apis=APIS)
    (with_x,) = expose(cluster, virtualServiceName="shared").shared
    only_x = without_route(with_x, "cloudshell.ns.other")
    (emptied,) = release(cluster.put(only_x), virtualServiceName="shared")
    assert [r["name"] for r in emptied["spec"]["http"]] == [PLACEHOLDER_ROUTE]
    assert emptied["spec"]["http"][0]["directResponse"] == {"status": 404}
    check_manifest(emptied, CRDS)
    assert release(cluster.put(emptied), virtualServiceName="shared") == ()
    refilled = with_route(emptied, with_x["spec"]["http"][1])
    assert [r["name"] for r in refilled["spec"]["http"]] == ["cloudshell.ns.x"]


def test_gateways_of_a_shared_virtual_service_are_only_added_to() -> None:
    vs = shared_vs(OTHER)
    vs["spec"]["gateways"] = ["mesh"]
    (updated,) = expose(
        Snapshot.of(gateway("h.example.com"), vs, apis=APIS), virtualServiceName="shared"
    ).shared
    assert updated["spec"]["gateways"] == ["mesh", "istio-system/gw"]


# The CRDs and the schema checks ------------------------------------------------------------


@pytest.mark.parametrize("crd", CRDS, ids=lambda c: c["metadata"]["name"])
def test_the_crds_are_valid_custom_resource_definitions(crd: Manifest) -> None:
    validate_kubernetes_object(crd)
    assert [v["name"] for v in crd["spec"]["versions"] if v["storage"]] == ["v1beta1"]


def test_custom_resources_are_checked_strictly_against_the_crd() -> None:
    vs = shared_vs(OTHER)
    validate_custom_resource(vs, CRDS)
    typo = shared_vs({**OTHER, "rout": []})
    with pytest.raises(SchemaViolation, match=r"spec\.http\[0\].*rout"):
        validate_custom_resource(typo, CRDS)
    two_matches = shared_vs({**OTHER, "match": [{"uri": {"prefix": "/a", "exact": "/a"}}]})
    with pytest.raises(SchemaViolation, match="uri"):
        validate_custom_resource(two_matches, CRDS)
    wrong_type = shared_vs(
        {**OTHER, "route": [{"destination": {"host": "h", "port": {"number": "80"}}}]}
    )
    with pytest.raises(SchemaViolation, match="number"):
        validate_custom_resource(wrong_type, CRDS)
    with pytest.raises(SchemaViolation, match="no CRD"):
        validate_custom_resource({**vs, "kind": "DestinationRule"}, CRDS)


def test_names_and_labels_are_checked_as_the_api_server_would() -> None:
    bad_name = {**shared_vs(OTHER), "metadata": {"name": "Shared_VS", "namespace": "ns"}}
    with pytest.raises(SchemaViolation, match="DNS-1123 subdomain"):
        check_manifest(bad_name, CRDS)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "1abc", "namespace": "ns", "labels": {"a": "x" * 64}},
        "spec": {"ports": [{"port": 80}]},
    }
    with pytest.raises(SchemaViolation, match="DNS-1035") as error:
        check_manifest(service)
    assert "label value" in str(error.value)


def test_kubernetes_objects_are_checked_for_every_version() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s", "namespace": "ns"},
        "spec": {"ports": [{"port": 80}], "typo": True},
    }
    with pytest.raises(SchemaViolation, match=r"Kubernetes 1\.28.*spec.*typo"):
        validate_kubernetes_object(service)
    with pytest.raises(SchemaViolation, match="has no kind"):
        validate_kubernetes_object({**service, "apiVersion": "v9"})


def test_the_plugin_registers_virtual_service() -> None:
    registry = BackendRegistry()
    cloudtty_register_backends(registry)
    assert registry.names("exposure") == ("VirtualService",)
    assert (
        load_plugins(environ={}).registry.get("exposure", "VirtualService").distribution
        == "cloudtty-istio"
    )
    assert {k.kind for k in VirtualServiceBackend().watched_kinds} == {"VirtualService", "Gateway"}
