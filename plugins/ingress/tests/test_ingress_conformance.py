"""The Ingress backend against the conformance kit: per-shell and shared Ingresses, with every
object checked against the Kubernetes schema, and shells coming and going in any order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from cloudtty_ingress import IngressBackend

from cloudtty_core import ExposureBackend, Manifest, PlanContext, Snapshot
from cloudtty_core.testing import SchemaCheckedExposureTests, SharedRouteTests


def ingress_class(
    name: str, default: bool = False, created: str = "2024-01-01T00:00:00Z"
) -> Manifest:
    """An IngressClass, marked as the cluster default when ``default``."""
    meta: dict[str, Any] = {"name": name, "creationTimestamp": created}
    if default:
        meta["annotations"] = {"ingressclass.kubernetes.io/is-default-class": "true"}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": meta,
        "spec": {"controller": f"example.com/{name}"},
    }


def ingress_paths(
    snapshot: Snapshot, namespace: str, name: str
) -> list[tuple[str | None, str, str]]:
    """(host, path, backend service) of every path of an Ingress."""
    ingress = snapshot.get("networking.k8s.io/v1", "Ingress", namespace, name)
    if ingress is None:
        return []
    return [
        (rule.get("host"), entry["path"], entry["backend"]["service"]["name"])
        for rule in ingress["spec"].get("rules") or ()
        for entry in (rule.get("http") or {}).get("paths") or ()
    ]


class TestPerShellIngress(SchemaCheckedExposureTests):
    @pytest.fixture
    def backend(self) -> ExposureBackend:
        return IngressBackend()

    @pytest.fixture
    def cluster(self) -> Snapshot:
        return Snapshot.with_default_node(ingress_class("nginx", default=True))

    def shell_spec(self, backend: ExposureBackend, name: str) -> dict[str, Any]:
        return {
            **super().shell_spec(backend, name),
            "pathPrefix": "/team-a",
            "ingressConfig": {"host": "shells.example.com", "tlsSecretName": "shells-tls"},
        }

    def test_each_shell_has_its_own_ingress_and_an_https_url(
        self, backend: ExposureBackend, cluster: Snapshot, context: PlanContext
    ) -> None:
        done = self.ready(cluster, backend, context)
        for name in self.shell_names:
            ingress = done.snapshot.get(
                "networking.k8s.io/v1", "Ingress", self.namespace, f"cloudshell-{name}"
            )
            assert ingress is not None
            assert ingress["spec"]["ingressClassName"] == "nginx"
            assert ingress["spec"]["tls"] == [
                {"hosts": ["shells.example.com"], "secretName": "shells-tls"}
            ]
            annotations = ingress["metadata"]["annotations"]
            assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
            path = f"/team-a/apis/v1alpha1/cloudshell/{name}"
            assert ingress_paths(done.snapshot, self.namespace, f"cloudshell-{name}") == [
                ("shells.example.com", path, f"cloudshell-{name}")
            ]
            status = (done.shell(self.refs(name)[0]) or {})["status"]
            assert status["accessUrl"] == f"https://shells.example.com{path}/"


class TestPerShellIngressInAnotherNamespace(SchemaCheckedExposureTests):
    """The Ingress lives in another namespace: an ExternalName Service there forwards to the
    shell's Service (an Ingress reaches only Services of its own namespace)."""

    @pytest.fixture
    def backend(self) -> ExposureBackend:
        return IngressBackend()

    @pytest.fixture
    def cluster(self) -> Snapshot:
        return Snapshot.with_default_node(ingress_class("nginx", default=True))

    def shell_spec(self, backend: ExposureBackend, name: str) -> dict[str, Any]:
        return {
            **super().shell_spec(backend, name),
            "ingressConfig": {"namespace": "edge", "host": "*.shells.example.com"},
        }

    def test_the_backend_is_an_external_name_service_in_the_ingress_namespace(
        self, backend: ExposureBackend, cluster: Snapshot, context: PlanContext
    ) -> None:
        done = self.ready(cluster, backend, context)
        ((host, path, service),) = ingress_paths(done.snapshot, "edge", "cloudshell-alice")
        assert host == "alice-team-a.shells.example.com"
        forward = done.snapshot.get("v1", "Service", "edge", service)
        assert forward is not None
        assert forward["spec"]["type"] == "ExternalName"
        assert forward["spec"]["externalName"] == "cloudshell-alice.team-a.svc.cluster.local"
        status = (done.shell(self.refs("alice")[0]) or {})["status"]
        assert status["accessUrl"] == f"http://alice-team-a.shells.example.com{path}/"


class _SharedIngressTests(SharedRouteTests):
    ingress_namespace = "team-a"
    config: dict[str, Any] = {}

    @pytest.fixture
    def backend(self) -> ExposureBackend:
        return IngressBackend()

    @pytest.fixture
    def cluster(self) -> Snapshot:
        return Snapshot.with_default_node(ingress_class("nginx", default=True))

    def shell_spec(self, backend: ExposureBackend, name: str) -> dict[str, Any]:
        return {
            **super().shell_spec(backend, name),
            "ingressConfig": {"ingressName": "shells", **self.config},
        }

    def route_shells(self, snapshot: Snapshot) -> Sequence[str]:
        found = []
        for _, _, service in ingress_paths(snapshot, self.ingress_namespace, "shells"):
            if service.startswith("cloudshell-"):
                found.append(
                    service.removeprefix("cloudshell-").rsplit("-", 1)[0]
                    if self.ingress_namespace != self.namespace
                    else service.removeprefix("cloudshell-")
                )
        return found

    def foreign_routes(self, snapshot: Snapshot) -> Sequence[Any]:
        return [
            entry
            for entry in ingress_paths(snapshot, self.ingress_namespace, "shells")
            if not entry[2].startswith("cloudshell-")
        ]


class TestSharedIngress(_SharedIngressTests):
    config = {"host": "shells.example.com", "tlsSecretName": "shells-tls"}


class TestSharedIngressWithWildcardHost(_SharedIngressTests):
    config = {"host": "*.shells.example.com"}


class TestSharedIngressInAnotherNamespace(_SharedIngressTests):
    ingress_namespace = "edge"
    config = {"namespace": "edge", "host": "shells.example.com"}


class TestSharedIngressAnAdministratorWrote(_SharedIngressTests):
    """The shared Ingress exists before any shell, with routes of its own that must stay."""

    config = {"host": "shells.example.com"}

    @pytest.fixture
    def cluster(self) -> Snapshot:
        admin: Manifest = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": "shells",
                "namespace": "team-a",
                "resourceVersion": "5",
                "annotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "7200"},
            },
            "spec": {
                "ingressClassName": "nginx",
                "rules": [
                    {
                        "host": "shells.example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {
                                        "service": {"name": "portal", "port": {"number": 80}}
                                    },
                                }
                            ]
                        },
                    }
                ],
            },
        }
        return Snapshot.with_default_node(ingress_class("nginx", default=True), admin)

    def test_the_administrators_timeout_is_not_overwritten(
        self, backend: ExposureBackend, cluster: Snapshot, context: PlanContext
    ) -> None:
        done = self.ready(cluster, backend, context)
        ingress = done.snapshot.get("networking.k8s.io/v1", "Ingress", "team-a", "shells")
        assert ingress is not None
        annotations = ingress["metadata"]["annotations"]
        assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "7200"
        assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
        assert "ownerReferences" not in ingress["metadata"]
