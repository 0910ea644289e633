"""The VirtualService and Gateway CRDs installed the real way into a sandbox cluster: what the
backend writes is accepted unchanged (nothing pruned), a malformed route is refused."""

from __future__ import annotations

from typing import Any

import pytest
from cloudtty_istio import GATEWAY_CRD, ISTIO_API, VIRTUAL_SERVICE_CRD, VirtualServiceBackend
from kubernetes import client
from kubernetes.client.rest import ApiException

from cloudtty_core import ExposureRequest, OperatorSettings, Snapshot, WorkerRef, shell_from_dict
from cloudtty_core.testing import cloudshell, load_crds

GROUP, VERSION = ISTIO_API.split("/")


@pytest.fixture
def istio(sandbox_api_client: Any) -> client.CustomObjectsApi:
    extensions = client.ApiextensionsV1Api(sandbox_api_client)
    for crd in load_crds(VIRTUAL_SERVICE_CRD, GATEWAY_CRD):
        created = extensions.create_custom_resource_definition(crd)
        conditions = {c.type: c.status for c in created.status.conditions}
        assert conditions["Established"] == "True"
    return client.CustomObjectsApi(sandbox_api_client)


def backend_virtual_service() -> dict[str, Any]:
    shell = shell_from_dict(
        cloudshell(
            "alice",
            "default",
            exposureMode="VirtualService",
            virtualServiceConfig={"gateway": "default/public", "export_to": "."},
        )
    )
    worker = WorkerRef("w", "default", 7681, "cloudshell-alice", {"cloudtty.io/shell": "alice"})
    gateway = {
        "apiVersion": ISTIO_API,
        "kind": "Gateway",
        "metadata": {"name": "public", "namespace": "default"},
        "spec": {
            "servers": [
                {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}
            ]
        },
    }
    cluster = Snapshot.of(gateway, apis=((ISTIO_API, "VirtualService"), (ISTIO_API, "Gateway")))
    exposure = VirtualServiceBackend().expose(
        ExposureRequest(shell, worker, cluster, OperatorSettings())
    )
    (vs,) = [o for o in exposure.owned if o["kind"] == "VirtualService"]
    return vs


def test_what_the_backend_writes_is_stored_unchanged(istio: client.CustomObjectsApi) -> None:
    vs = backend_virtual_service()
    created = istio.create_namespaced_custom_object(
        GROUP, VERSION, "default", "virtualservices", vs
    )
    assert created["spec"] == vs["spec"]
    for version in ("v1", "v1alpha3"):
        read = istio.get_namespaced_custom_object(
            GROUP, version, "default", "virtualservices", "cloudshell-alice"
        )
        assert read["spec"] == vs["spec"]


def test_a_malformed_route_is_refused(istio: client.CustomObjectsApi) -> None:
    vs = backend_virtual_service()
    vs["spec"]["http"][0]["route"][0]["destination"]["port"]["number"] = "7681"
    with pytest.raises(ApiException) as error:
        istio.create_namespaced_custom_object(GROUP, VERSION, "default", "virtualservices", vs)
    assert error.value.status == 422
