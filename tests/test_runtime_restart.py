"""An operator stopped between any two of its writes, and a new one started: the shell
converges with no orphan and no duplicate (one worker, one Service, one kubeconfig, the pool
at minIdle) -- while provisioning and while deleting."""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio
import pytest

from cloudtty_core import OperatorSettings
from cloudtty_core.runtime.client import Resource
from cloudtty_core.runtime.testing import OperatorHarness, wait_for

pytest.importorskip("kubernetes")
sandbox_module = pytest.importorskip("cloudtty_sandbox")

PODS = Resource("v1", "Pod", "pods")
MIN_IDLE = 2


@pytest.fixture
def sandbox_config() -> Any:
    return sandbox_module.SandboxConfig(
        pod_start_delay=0.05, bookmark_interval=0.5, local_images={}
    )


class StopAfter:
    """A write hook that stops the operator right before its ``limit``-th write."""

    def __init__(self, harness: OperatorHarness, limit: int) -> None:
        self.harness = harness
        self.limit = limit
        self.seen: list[str] = []
        self.armed = False

    async def __call__(self, verb: str, what: str) -> None:
        if not self.armed:
            return
        self.seen.append(f"{verb} {what}")
        if len(self.seen) >= self.limit:
            running = self.harness.running
            assert running is not None
            running.operator.stop()
            await anyio.sleep_forever()  # cancelled here: the write never happens

    @property
    def stopped(self) -> bool:
        return len(self.seen) >= self.limit


def new_harness(sandbox: Any, *, always_finalize: bool = False) -> OperatorHarness:
    settings = OperatorSettings(
        cluster_server=sandbox.url, min_idle=MIN_IDLE, always_finalize=always_finalize
    )
    return OperatorHarness(sandbox.url, sandbox.admin_token, settings=settings)


def idle_workers(harness: OperatorHarness) -> list[dict[str, Any]]:
    return harness.idle_workers("default")


def assert_converged(harness: OperatorHarness, sandbox: Any, name: str, seen: list[str]) -> None:
    shell = harness.wait_phase(name, "Ready")
    uid = shell["metadata"]["uid"]
    made = Counter(kind for kind, _ in harness.made_for(uid))
    # One of each, and exactly one worker: the one the status names. A worker the shell made
    # itself (the pool was not Ready yet) brings its own ServiceAccount and RoleBinding.
    worker = shell["status"]["worker"]
    own_worker = ("ServiceAccount", worker) in harness.made_for(uid)
    assert made == Counter(
        {
            "Pod": 1,
            "Service": 1,
            "Secret": 2,
            "ServiceAccount": 1 + own_worker,
            "RoleBinding": 1 + own_worker,
        }
    ), (made, seen)
    pods = [n for kind, n in harness.made_for(uid) if kind == "Pod"]
    assert pods == [shell["status"]["worker"]]
    wait_for(lambda: len(idle_workers(harness)) == MIN_IDLE, what="the pool at minIdle")
    wait_for(lambda: sandbox.orphans() == [], what="no orphans")


def crash_and_restart(
    sandbox: Any, limit: int, action: Any, *, always_finalize: bool = False
) -> tuple[OperatorHarness, list[str]]:
    """Run ``action`` with an operator that stops before its ``limit``-th write, then start a
    fresh operator; returns it (running) and the writes made before the stop."""
    harness = new_harness(sandbox, always_finalize=always_finalize)
    hook = StopAfter(harness, limit)
    harness.start(write_hook=hook)
    wait_for(lambda: len(idle_workers(harness)) == MIN_IDLE, what="the pool filled")
    hook.armed = True
    action(harness)
    wait_for(lambda: hook.stopped, what=f"write {limit} reached")
    assert harness.running is not None
    wait_for(lambda: not harness.running.running, what="the operator stopped")  # type: ignore[union-attr]
    harness.stop()
    harness.start()
    return harness, hook.seen


@pytest.mark.parametrize("limit", range(1, 9))
def test_provisioning_converges_after_a_stop_before_any_write(sandbox: Any, limit: int) -> None:
    name = f"crash-{limit}"
    harness, seen = crash_and_restart(sandbox, limit, lambda h: h.create_shell(name))
    try:
        assert_converged(harness, sandbox, name, seen)
    finally:
        harness.stop()


@pytest.mark.parametrize("limit", range(1, 6))
def test_deletion_converges_after_a_stop_before_any_write(sandbox: Any, limit: int) -> None:
    # With the finalizer the operator tears the shell down itself, write by write.
    first = new_harness(sandbox, always_finalize=True)
    with first:
        first.create_shell("doomed", auth={"mode": "token"})
        uid = first.wait_phase("doomed", "Ready")["metadata"]["uid"]
    harness, seen = crash_and_restart(
        sandbox, limit, lambda h: h.delete_shell("doomed"), always_finalize=True
    )
    try:
        harness.wait_gone("doomed")
        wait_for(lambda: harness.made_for(uid) == [], what=f"nothing left after {seen}")
        wait_for(lambda: len(idle_workers(harness)) == MIN_IDLE, what="the pool at minIdle")
        wait_for(lambda: sandbox.orphans() == [], what="no orphans")
    finally:
        harness.stop()
