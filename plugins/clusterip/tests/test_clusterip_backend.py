"""The ClusterIP backend: the conformance suite with schema checks, plus its own URL rules."""

from __future__ import annotations

import pytest
from cloudtty_clusterip import ClusterIPBackend, cluster_url
from cloudtty_clusterip.plugin import cloudtty_register_backends

from cloudtty_core import (
    BackendRegistry,
    ExposureBackend,
    ExposureRequest,
    OperatorSettings,
    PlanContext,
    Snapshot,
    WorkerRef,
    load_plugins,
    shell_from_dict,
)
from cloudtty_core.testing import SchemaCheckedExposureTests, cloudshell, converge


class TestClusterIPConformance(SchemaCheckedExposureTests):
    @pytest.fixture
    def backend(self) -> ExposureBackend:
        return ClusterIPBackend()

    def test_url_is_the_in_cluster_service_name(
        self, backend: ExposureBackend, cluster: Snapshot, context: PlanContext
    ) -> None:
        done = self.ready(cluster, backend, context)
        status = (done.shell(self.refs("alice")[0]) or {}).get("status") or {}
        assert status["accessUrl"] == "http://cloudshell-alice.team-a.svc.cluster.local:7681/"
        service = done.snapshot.get("v1", "Service", "team-a", "cloudshell-alice")
        assert service is not None
        assert service["spec"]["type"] == "ClusterIP"
        assert service["spec"]["ports"][0]["port"] == 7681


WORKER = WorkerRef("pod-1", "ns", 7681, "cloudshell-x", {"cloudtty.io/shell": "x"})


def test_url_needs_nothing_from_the_cluster() -> None:
    """No node, no Service observed yet: the cluster DNS name is known at once."""
    shell = shell_from_dict(cloudshell("x", "ns", exposureMode="ClusterIP"))
    exposure = ClusterIPBackend().expose(
        ExposureRequest(shell, WORKER, Snapshot(), OperatorSettings())
    )
    assert exposure.url == "http://cloudshell-x.ns.svc.cluster.local:7681/"
    assert exposure.waiting is None
    assert [o["kind"] for o in exposure.owned] == ["Service"]
    assert exposure.owned[0]["spec"]["selector"] == {"cloudtty.io/shell": "x"}


def test_cluster_url_takes_a_path() -> None:
    assert cluster_url(WORKER, "/a/") == "http://cloudshell-x.ns.svc.cluster.local:7681/a/"


def test_the_plugin_registers_clusterip() -> None:
    registry = BackendRegistry()
    cloudtty_register_backends(registry)
    assert registry.names("exposure") == ("ClusterIP",)


def test_the_entry_point_is_installed() -> None:
    loaded = load_plugins(environ={})
    assert loaded.registry.has("exposure", "ClusterIP")
    entry = loaded.registry.get("exposure", "ClusterIP")
    assert entry.distribution == "cloudtty-clusterip"


def test_shell_reaches_ready_through_the_planner() -> None:
    """Through the real planner, with only the entry-point plugins' backends."""
    suite = TestClusterIPConformance()
    backend = ClusterIPBackend()
    context = suite.make_context(backend, OperatorSettings(min_idle=0))
    start = suite.with_shells(Snapshot(), backend, "solo")
    done = converge(start, suite.refs("solo"), context)
    status = (done.shell(suite.refs("solo")[0]) or {})["status"]
    assert status["phase"] == "Ready"
