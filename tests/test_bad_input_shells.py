"""Bad input, in bulk: 10,000 hypothesis-generated broken CloudShells through the sandbox's
admission of the real CRD (structural schema, defaults, pruning, metadata rules -- the code the
sandbox's API server runs, called in-process) and then through the operator's own validation and
planner.

For every one: it is refused with 422 and every cause names a field the breakage touched, or
it is stored and the planner -- which must not raise -- makes it Failed with a condition naming
each problem, or it is valid per ``validate_shell`` (then only a missing backend or an auth mode
the image cannot enforce may fail it, and the condition names that field).

Deterministic: derandomized hypothesis, no example database.
"""

from __future__ import annotations

import copy
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from cloudtty_core import Snapshot, load_plugins
from cloudtty_core.crd import crd_manifest
from cloudtty_core.model import GROUP, PLURAL, VERSION
from cloudtty_core.phases import Phase
from cloudtty_core.plan import ClusterPoolView, PlanContext, plan
from cloudtty_core.testing.badinput import FAMILIES, BadShell, bad_cloudshells, path_related
from cloudtty_core.validation import validate_shell

sandbox_module = pytest.importorskip("cloudtty_sandbox")
from cloudtty_sandbox.errors import ApiError  # noqa: E402
from cloudtty_sandbox.sandbox import Sandbox  # noqa: E402

#: Examples per family; they add up to the 10,000 the suite promises.
SHARES = {family: 1500 if family == "mixed" else 850 for family in FAMILIES}

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PLUGINS = load_plugins()
EXPOSURES = tuple(PLUGINS.registry.names("exposure"))
# Base shells every installed backend accepts (webterm enforces every auth mode; basic and
# header need settings of their own), so that what fails is what the breakage did.
IMAGES = ("webterm",)
AUTHS = ("none", "token")

#: Why a valid spec may still end Failed, and the field each reason is about.
VALID_BUT_FAILED = {
    "BackendNotInstalled": ("spec.exposureMode", "spec.imageBackend", "spec.auth.mode"),
    "UnsupportedAuth": ("spec.auth.mode",),
    "InvalidAuth": ("spec.auth",),
}


class Admission:
    """The sandbox API server's create path for CloudShells, in-process (dry run)."""

    def __init__(self) -> None:
        sandbox = Sandbox(local_images={})  # never started: only its object layer is used
        self.cluster = sandbox.cluster
        registry = sandbox.registry
        self.cluster.create(
            registry.lookup("", "v1", "namespaces"), None, {"metadata": {"name": "default"}}
        )
        self.cluster.create(
            registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
            None,
            crd_manifest(),
        )
        self.rtype = registry.lookup(GROUP, VERSION, PLURAL)

    def create(
        self, manifest: dict[str, Any], *, strict: bool = False
    ) -> tuple[dict[str, Any] | None, ApiError | None]:
        """(the object as stored, None) or (None, the sandbox's refusal)."""
        try:
            stored = self.cluster.create(
                self.rtype, "default", copy.deepcopy(manifest), dry_run=True, strict=strict
            )
        except ApiError as refused:
            return None, refused
        return stored, None


@pytest.fixture(scope="module")
def admission() -> Admission:
    return Admission()


CONTEXT = PlanContext(registry=PLUGINS.registry, token_source=lambda: "t" * 32)
VIEW = Snapshot.with_default_node()
POOL = ClusterPoolView(VIEW)
TALLY: Counter[str] = Counter()


def _accepted_condition(status: Any) -> Any:
    return next((c for c in status.conditions if c.type == "Accepted"), None)


def examine(bad: BadShell, admission: Admission) -> str:
    """Send one bad shell through admission and the planner; the outcome's name."""
    stored, refused = admission.create(bad.manifest)
    if refused is not None:
        assert refused.code == 422, (refused.code, refused.message, bad)
        causes = (refused.details or {}).get("causes") or []
        assert causes, f"a 422 without causes: {refused.message}"
        for cause in causes:
            field = cause.get("field") or ""
            assert field, f"a cause naming no field: {cause} for {bad.touched}"
            assert any(path_related(field, t) for t in bad.touched), (
                f"refused for {field} ({cause.get('message')}), but the breakage was at "
                f"{bad.touched}"
            )
        return "refused-422"
    assert stored is not None
    if bad.family == "unknown-field":
        _strict_names_unknown_fields(bad, admission)
    problems = validate_shell(stored)
    result = plan(stored, VIEW, POOL, NOW, CONTEXT)  # must not raise, whatever it got
    status = result.status
    if problems:
        for problem in problems:
            assert any(path_related(problem.path, t) for t in bad.touched), (
                f"the stored shell has a problem the breakage did not make: {problem} "
                f"(breakage at {bad.touched})"
            )
        assert status is not None
        assert status.phase is Phase.FAILED, (status.phase, problems)
        accepted = _accepted_condition(status)
        assert accepted is not None
        assert (accepted.status, accepted.reason) == ("False", "SpecInvalid")
        for problem in problems:
            assert problem.path in accepted.message, (problem, accepted.message)
        return "failed-invalid-spec"
    if status is not None and status.phase is Phase.FAILED:
        accepted = _accepted_condition(status)
        assert accepted is not None
        assert accepted.reason in VALID_BUT_FAILED, accepted
        fields = VALID_BUT_FAILED[accepted.reason]
        assert any(f in accepted.message for f in fields), (
            f"Failed ({accepted.reason}) without naming the field: {accepted.message}"
        )
        return f"failed-{accepted.reason}"
    assert status is None or status.phase is not Phase.FAILED
    return "accepted-valid"


def _strict_names_unknown_fields(bad: BadShell, admission: Admission) -> None:
    """With ``fieldValidation=Strict`` (kubectl's default) the unknown fields the normal path
    pruned are a 400 naming them."""
    _, refused = admission.create(bad.manifest, strict=True)
    assert refused is not None, f"strict admission accepted unknown fields at {bad.touched}"
    assert refused.code == 400, refused.message
    assert "unknown field" in refused.message
    assert any(t in refused.message for t in bad.touched), (refused.message, bad.touched)


SETTINGS: dict[str, Any] = {
    "derandomize": True,
    "database": None,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_bad_shell_is_refused_naming_its_field_or_fails_naming_it(
    family: str, admission: Admission
) -> None:
    outcomes: Counter[str] = Counter()

    @settings(max_examples=SHARES[family], **SETTINGS)
    @given(
        bad_cloudshells(
            families=(family,), exposure_modes=EXPOSURES, image_backends=IMAGES, auth_modes=AUTHS
        )
    )
    def check(bad: BadShell) -> None:
        outcomes[examine(bad, admission)] += 1

    check()
    tried = sum(outcomes.values())
    TALLY.update({"tried": tried, **outcomes})
    print(f"bad input {family}: {tried} tried, {dict(outcomes)}")
    assert tried >= SHARES[family]
    # The family must exercise something: each breaks at least some shells.
    assert outcomes["accepted-valid"] < tried, outcomes


def test_the_shares_add_up_to_ten_thousand() -> None:
    assert sum(SHARES.values()) >= 10_000
