"""The VirtualService backend against the conformance kit: per-shell and shared
VirtualServices, every object checked against the Kubernetes schema or the CRDs' schemas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from cloudtty_istio import (
    GATEWAY_CRD,
    ISTIO_API,
    PLACEHOLDER_ROUTE,
    VIRTUAL_SERVICE_CRD,
    VirtualServiceBackend,
)

from cloudtty_core import ExposureBackend, Manifest, PlanContext, Snapshot
from cloudtty_core.testing import SchemaCheckedExposureTests, SharedRouteTests, load_crds

CRDS = load_crds(VIRTUAL_SERVICE_CRD, GATEWAY_CRD)

GATEWAY: Manifest = {
    "apiVersion": ISTIO_API,
    "kind": "Gateway",
    "metadata": {"name": "public", "namespace": "istio-system"},
    "spec": {
        "selector": {"istio": "ingressgateway"},
        "servers": [
            {
                "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                "hosts": ["shells.example.com"],
            }
        ],
    },
}


def istio_cluster(*extra: Manifest) -> Snapshot:
    return Snapshot.with_default_node(GATEWAY, *extra).with_apis(
        (ISTIO_API, "VirtualService"), (ISTIO_API, "Gateway")
    )


def routes(snapshot: Snapshot, namespace: str, name: str) -> list[Manifest]:
    vs = snapshot.get(ISTIO_API, "VirtualService", namespace, name)
    return list(((vs or {}).get("spec") or {}).get("http") or [])


class TestPerShellVirtualService(SchemaCheckedExposureTests):
    crds = CRDS

    @pytest.fixture
    def backend(self) -> ExposureBackend:
        return VirtualServiceBackend()

    @pytest.fixture
    def cluster(self) -> Snapshot:
        return istio_cluster()

    def shell_spec(self, backend: ExposureBackend, name: str) -> dict[str, Any]:
        return {
            **super().shell_spec(backend, name),
            "pathPrefix": "/team-a",
            "virtualServiceConfig": {"gateway": "istio-system/public", "export_to": "istio-system"},
        }

    def test_each_shell_is_routed_to_its_service(
        self, backend: ExposureBackend, cluster: Snapshot, context: PlanContext
    ) -> None:
        done = self.ready(cluster, backend, context)
        vs = done.snapshot.get(ISTIO_API, "VirtualService", self.namespace, "cloudshell-alice")
        assert vs is not None
        assert vs["spec"]["gateways"] == ["istio-system/public"]
        assert vs["spec"]["exportTo"] == ["istio-system"]
        (route,) = vs["spec"]["http"]
        path = "/team-a/apis/v1alpha1/cloudshell/alice"
        assert route["match"] == [{"uri": {"prefix": f"{path}/"}}, {"uri": {"exact": path}}]
        assert route["route"] == [
            {
                "destination": {
                    "host": "cloudshell-alice.team-a.svc.cluster.local",
                    "port": {"number": 7681},
                }
            }
        ]
        assert "rewrite" not in route
        status = (done.shell(self.refs("alice")[0]) or {})["status"]
        assert status["accessUrl"] == f"http://shells.example.com{path}/"


class _SharedVirtualServiceTests(SharedRouteTests):
    crds = CRDS
    vs_namespace = "team-a"
    config: dict[str, Any] = {}

    @pytest.fixture
    def backend(self) -> ExposureBackend:
        return VirtualServiceBackend()

    @pytest.fixture
    def cluster(self) -> Snapshot:
        return istio_cluster()

    def shell_spec(self, backend: ExposureBackend, name: str) -> dict[str, Any]:
        return {
            **super().shell_spec(backend, name),
            "virtualServiceConfig": {
                "virtualServiceName": "shells",
                "gateway": "istio-system/public",
                **self.config,
            },
        }

    def route_shells(self, snapshot: Snapshot) -> Sequence[str]:
        prefix = f"cloudshell.{self.namespace}."
        return [
            r["name"].removeprefix(prefix)
            for r in routes(snapshot, self.vs_namespace, "shells")
            if r.get("name", "").startswith(prefix)
        ]

    def foreign_routes(self, snapshot: Snapshot) -> Sequence[Any]:
        return [
            r["name"]
            for r in routes(snapshot, self.vs_namespace, "shells")
            if not r.get("name", "").startswith("cloudshell.")
            and r.get("name") != PLACEHOLDER_ROUTE
        ]


class TestSharedVirtualService(_SharedVirtualServiceTests):
    pass


class TestSharedVirtualServiceInTheGatewayNamespace(_SharedVirtualServiceTests):
    vs_namespace = "istio-system"
    config = {"namespace": "istio-system", "export_to": "istio-system"}


class TestSharedVirtualServiceAnAdministratorWrote(_SharedVirtualServiceTests):
    @pytest.fixture
    def cluster(self) -> Snapshot:
        admin: Manifest = {
            "apiVersion": ISTIO_API,
            "kind": "VirtualService",
            "metadata": {"name": "shells", "namespace": "team-a", "resourceVersion": "3"},
            "spec": {
                "hosts": ["shells.example.com"],
                "gateways": ["istio-system/public"],
                "http": [
                    {
                        "name": "portal",
                        "match": [{"uri": {"prefix": "/portal/"}}],
                        "route": [{"destination": {"host": "portal.web.svc.cluster.local"}}],
                    }
                ],
            },
        }
        return istio_cluster(admin)
