"""The exposure conformance suite, run against the kit's own fake backends (as plugins will)."""

from __future__ import annotations

import attrs
import pytest

from cloudtty_core import (
    Exposure,
    ExposureBackend,
    ExposureRequest,
    Manifest,
    OperatorSettings,
    PlanContext,
    Snapshot,
)
from cloudtty_core.testing import ExposureBackendTests, FakeExposureBackend


class TestClusterIPLikeBackend(ExposureBackendTests):
    @pytest.fixture
    def backend(self) -> ExposureBackend:
        return FakeExposureBackend()


class TestNodePortLikeBackend(ExposureBackendTests):
    @pytest.fixture
    def backend(self) -> ExposureBackend:
        return FakeExposureBackend(name="FakeNodePort", node_port=True)


class TestSharedRouteBackend(ExposureBackendTests):
    checked: list[str]

    @pytest.fixture
    def backend(self) -> ExposureBackend:
        self.checked = []
        return FakeExposureBackend(name="FakeShared", shared_route="routes")

    def check_object(self, manifest: Manifest) -> None:
        super().check_object(manifest)
        self.checked.append(manifest["kind"])

    def test_check_object_sees_the_shared_route(
        self, backend: ExposureBackend, cluster: Snapshot, context: PlanContext
    ) -> None:
        self.test_objects_the_backend_makes_are_checked(backend, cluster, context)
        assert "ConfigMap" in self.checked
        assert "Service" in self.checked


class BrokenBackend(FakeExposureBackend):
    """Forgets to give back its shared route entries."""

    def release(self, request: ExposureRequest) -> tuple[Manifest, ...]:
        return ()


def test_the_suite_catches_a_backend_that_leaks_shared_entries() -> None:
    suite = ExposureBackendTests()
    backend = BrokenBackend(name="Leaky", shared_route="routes")
    context = suite.make_context(backend, OperatorSettings(min_idle=0))
    with pytest.raises(AssertionError):
        suite.test_deletion_leaves_nothing(backend, Snapshot.with_default_node(), context)


def test_the_suite_catches_a_backend_whose_url_ignores_the_observed_objects() -> None:
    class Liar(FakeExposureBackend):
        def expose(self, request: ExposureRequest) -> Exposure:
            return attrs.evolve(super().expose(request), url="http://example.invalid/")

    suite = ExposureBackendTests()
    backend = Liar(name="Liar", node_port=True)
    context = suite.make_context(backend, OperatorSettings(min_idle=0))
    with pytest.raises(AssertionError):
        suite.test_shells_become_ready_with_a_url(backend, Snapshot.with_default_node(), context)
