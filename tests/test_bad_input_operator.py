"""Bad input through the real thing: a few hundred hypothesis-generated broken CloudShells sent
over HTTP to the sandbox API server (official client) while a real ``cloudtty run`` process
reconciles them.

Each one is refused with 422 naming a field it broke, or stored and then either Failed by the
operator with an Accepted condition naming every problem (or the backend field it cannot
serve), or valid per ``validate_shell`` and provisioned. The operator does not crash: the
process is still running, every reconcile error it counted is an API answer, its log holds no
traceback. Deterministic: derandomized hypothesis.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from cloudtty_core.crd import crd_manifest
from cloudtty_core.model import API_VERSION, KIND, PLURAL
from cloudtty_core.testing.badinput import BadShell, bad_cloudshells, path_related
from cloudtty_core.testing.chaos import API_ERRORS, OperatorProcess, crash_lines, reconcile_errors
from cloudtty_core.validation import validate_shell

pytest.importorskip("kubernetes")
sandbox_module = pytest.importorskip("cloudtty_sandbox")

from cloudtty_core.runtime.client import ApiError, KubeClient, Resource  # noqa: E402

EXAMPLES = 300
SHELLS = Resource(API_VERSION, KIND, PLURAL)
VALID_BUT_FAILED = {
    "BackendNotInstalled": ("spec.exposureMode", "spec.imageBackend", "spec.auth.mode"),
    "UnsupportedAuth": ("spec.auth.mode",),
    "InvalidAuth": ("spec.auth",),
}


@pytest.fixture
def sandbox_config(tmp_path: Path) -> Any:
    return sandbox_module.SandboxConfig(
        pod_start_delay=0.05,
        bookmark_interval=0.5,
        local_images={},
        forward_node_ports=False,
        max_grace_seconds=0.2,
        work_dir=tmp_path / "sandbox",
    )


def _post(client: KubeClient, manifest: dict[str, Any]) -> tuple[dict[str, Any] | None, Any]:
    try:
        created = client.request(
            "POST", SHELLS.path("default"), body=manifest, verb="create", resource=PLURAL
        )
    except ApiError as refused:
        return None, refused
    return created, None


def _verdict(shell: dict[str, Any]) -> dict[str, Any] | None:
    """The shell's status once the operator has looked at its current generation."""
    status = shell.get("status") or {}
    observed = status.get("observedGeneration") == shell["metadata"].get("generation")
    accepted = any(c.get("type") == "Accepted" for c in status.get("conditions") or ())
    return status if observed and accepted and status.get("phase") else None


@pytest.mark.slow
def test_bad_shells_over_http_are_refused_or_failed_naming_the_field_and_nothing_crashes(
    sandbox: Any, tmp_path: Path
) -> None:
    client = KubeClient.for_url(sandbox.url, sandbox.admin_token)
    client.create(crd_manifest())
    operator = OperatorProcess(
        [
            "--kubeconfig",
            str(sandbox.kubeconfig_path),
            "--min-idle",
            "0",
            "--metrics-host",
            "127.0.0.1",
            "--metrics-port",
            "0",
        ],
        tmp_path / "operator.log",
        "bad-input",
    ).start()
    outcomes: Counter[str] = Counter()
    stored: dict[str, BadShell] = {}
    try:

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(bad_cloudshells())
        def send(bad: BadShell) -> None:
            manifest = json.loads(json.dumps(bad.manifest))
            metadata = manifest.get("metadata")
            if isinstance(metadata, dict) and "metadata.name" not in bad.touched:
                metadata["name"] = f"bad-{sum(outcomes.values())}"
            created, refused = _post(client, manifest)
            if refused is not None:
                if refused.reason == "AlreadyExists":  # a broken name that is valid after all
                    outcomes["duplicate-name"] += 1
                    return
                assert refused.status == 422, (refused, bad)
                causes = refused.details.get("causes") or []
                assert causes, refused
                for cause in causes:
                    field = cause.get("field") or ""
                    assert any(path_related(field, t) for t in bad.touched), (cause, bad.touched)
                outcomes["refused-422"] += 1
                return
            assert created is not None
            stored[created["metadata"]["name"]] = bad
            outcomes["stored"] += 1

        send()
        assert sum(outcomes.values()) >= EXAMPLES

        deadline = time.monotonic() + 120
        pending = set(stored)
        verdicts: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                shell = sandbox.get_object(f"{PLURAL}.cloudshell.cloudtty.io", "default", name)
                status = _verdict(shell) if shell is not None else None
                if status is not None:
                    verdicts[name] = (shell, status)
                    pending.discard(name)
            assert operator.alive, "\n".join(operator.log_lines()[-20:])
            time.sleep(0.2)
        assert not pending, f"no verdict from the operator for {sorted(pending)[:10]}"

        for name, (shell, status) in sorted(verdicts.items()):
            bad = stored[name]
            accepted = next(c for c in status["conditions"] if c["type"] == "Accepted")
            problems = validate_shell(shell)
            if problems:
                assert status["phase"] == "Failed", (name, problems)
                assert accepted["reason"] == "SpecInvalid", accepted
                for problem in problems:
                    assert problem.path in accepted["message"], (problem, accepted)
                    assert any(path_related(problem.path, t) for t in bad.touched), problem
                outcomes["failed-invalid-spec"] += 1
            elif status["phase"] == "Failed":
                fields = VALID_BUT_FAILED[accepted["reason"]]
                assert any(f in accepted["message"] for f in fields), accepted
                outcomes[f"failed-{accepted['reason']}"] += 1
            else:
                outcomes[f"accepted-{status['phase']}"] += 1

        errors = reconcile_errors(operator.metrics())
        assert set(errors) <= API_ERRORS, errors
        assert operator.alive
        assert not crash_lines(operator.log_lines()), crash_lines(operator.log_lines())[:5]
        print(f"bad input over HTTP: {dict(outcomes)}; reconcile errors {dict(errors)}")
    finally:
        operator.stop()
        client.close()
