"""The test kit for plugin authors and embedders: fakes, an API simulation, strategies and the
exposure conformance suite.

Needs ``pytest`` and ``hypothesis`` (test dependencies, not dependencies of the core).
"""

from cloudtty_core.simulation.api import (
    AlreadyExists,
    ApiError,
    Conflict,
    NotFound,
    apply_plan,
    create,
    delete,
    merge_patch,
)
from cloudtty_core.simulation.converge import (
    NOW,
    Converged,
    NotConverging,
    converge,
    fill_pool,
    shell_ref,
)
from cloudtty_core.simulation.kubelet import end_pod, fail_pod, start_pods
from cloudtty_core.testing.exposure import ExposureBackendTests
from cloudtty_core.testing.fakes import (
    FakeAuthBackend,
    FakeExposureBackend,
    FakeImageBackend,
    fake_registry,
)
from cloudtty_core.testing.manifests import TEST_KUBECONFIG, cloudshell, kubeconfig_secret
from cloudtty_core.testing.pss import (
    PssViolation,
    assert_restricted,
    baseline_violations,
    restricted_violations,
)
from cloudtty_core.testing.schema import (
    KUBERNETES_VERSIONS,
    SchemaCheckedExposureTests,
    SchemaViolation,
    check_manifest,
    load_crds,
    validate_custom_resource,
    validate_kubernetes_object,
    validate_metadata,
)
from cloudtty_core.testing.shared import SharedRouteTests
from cloudtty_core.testing.strategies import (
    cloudshell_dicts,
    cloudshell_specs,
    dns_labels,
    kubeconfig_sources,
)

__all__ = [
    "KUBERNETES_VERSIONS",
    "NOW",
    "TEST_KUBECONFIG",
    "AlreadyExists",
    "ApiError",
    "Conflict",
    "Converged",
    "ExposureBackendTests",
    "FakeAuthBackend",
    "FakeExposureBackend",
    "FakeImageBackend",
    "NotConverging",
    "NotFound",
    "PssViolation",
    "SchemaCheckedExposureTests",
    "SchemaViolation",
    "SharedRouteTests",
    "apply_plan",
    "assert_restricted",
    "baseline_violations",
    "check_manifest",
    "cloudshell",
    "cloudshell_dicts",
    "cloudshell_specs",
    "converge",
    "create",
    "delete",
    "dns_labels",
    "end_pod",
    "fail_pod",
    "fake_registry",
    "fill_pool",
    "kubeconfig_secret",
    "kubeconfig_sources",
    "load_crds",
    "merge_patch",
    "restricted_violations",
    "shell_ref",
    "start_pods",
    "validate_custom_resource",
    "validate_kubernetes_object",
    "validate_metadata",
]
