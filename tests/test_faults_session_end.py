"""A session that ended must end its shell even when the write recording it fails.

The ended worker is the only evidence that a session ended. The planner therefore records the
ending (phase Completed) before it tears the worker down; were the worker deleted first, a failed
status write or finalizer removal (a 500, a conflict, the operator killed there) would leave a
shell whose worker looks lost, and a ``once`` shell would be served again, a ``cleanup`` shell
never go. These tests fail exactly that one write.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cloudtty_core import OperatorSettings
from cloudtty_core.runtime.client import ApiError
from cloudtty_core.runtime.testing import OperatorHarness, wait_for

pytest.importorskip("kubernetes")
sandbox_module = pytest.importorskip("cloudtty_sandbox")


@pytest.fixture
def sandbox_config() -> Any:
    return sandbox_module.SandboxConfig(
        pod_start_delay=0.05, bookmark_interval=0.5, local_images={}, max_grace_seconds=0
    )


class FailOnce:
    """A write hook failing the first write whose ``verb what`` starts with ``prefix`` once
    armed (a 500, as the API server's fault injection answers)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.armed = False
        self.failed: list[str] = []

    async def __call__(self, verb: str, what: str) -> None:
        write = f"{verb} {what}"
        if self.armed and not self.failed and write.startswith(self.prefix):
            self.failed.append(write)
            raise ApiError(500, "InternalError", f"{verb} {what} failed (test fault)")


@pytest.fixture
def harness(sandbox: Any) -> Iterator[OperatorHarness]:
    settings = OperatorSettings(cluster_server=sandbox.url, min_idle=1)
    with OperatorHarness(sandbox.url, sandbox.admin_token, settings=settings) as running:
        yield running


def _end_session_with_a_failing_write(
    harness: OperatorHarness, sandbox: Any, name: str, prefix: str, **spec: Any
) -> FailOnce:
    hook = FailOnce(prefix)
    assert harness.running is not None
    harness.running.operator.applier.write_hook = hook  # type: ignore[union-attr]
    harness.create_shell(name, once=True, **spec)
    worker = harness.wait_phase(name, "Ready")["status"]["worker"]
    hook.armed = True
    assert sandbox.exit_container("default", worker, 0, "once")
    wait_for(lambda: hook.failed, what="the write recording the ending failed once")
    return hook


def test_a_once_shell_completes_when_the_status_write_after_its_session_ended_fails(
    harness: OperatorHarness, sandbox: Any
) -> None:
    _end_session_with_a_failing_write(
        harness, sandbox, "ends", "update CloudShell default/ends status"
    )
    harness.wait_phase("ends", "Completed", timeout=8)

    def released() -> bool:
        shell = harness.shell("ends") or {}
        return not (shell.get("status") or {}).get("worker")

    wait_for(released, timeout=8, what="the ended worker released")
    assert harness.shell("ends")["status"]["phase"] == "Completed"  # type: ignore[index]


def test_a_cleanup_shell_goes_when_its_deletion_after_its_session_ended_fails(
    harness: OperatorHarness, sandbox: Any
) -> None:
    # Everything it made is owned, so it has no finalizer: the operator deletes it outright.
    _end_session_with_a_failing_write(
        harness, sandbox, "tidy", "delete CloudShell default/tidy", cleanup=True
    )
    harness.wait_gone("tidy", timeout=8)
