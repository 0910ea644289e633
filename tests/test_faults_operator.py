"""The operator under faults: a real ``cloudtty run`` process (two with leader election)
against the sandbox cluster while 10 % of API calls fail with 500/429/409, every request takes
200 ms longer, watch streams are cut every two seconds, the watch history is compacted away,
the operator is SIGKILLed and restarted, or the leader is SIGKILLed -- each with a mixed
workload (every installed exposure mode, warm and cold images, generated and given kubeconfigs,
token auth, short ttls, once, cleanup, invalid specs, missing backends, a kubeconfig Secret that
appears late, shells deleted mid-flight, sessions ended, workers crashing).

Once the workload stops, the cluster must settle with every invariant of
:mod:`cloudtty_core.testing.invariants` holding (faults still on), and the operator must not have
crashed: it is still running, its reconcile errors are all API answers, and its log has no
traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudtty_core.testing.chaos import SCENARIOS, FaultRun, Scenario

pytest.importorskip("kubernetes")
sandbox_module = pytest.importorskip("cloudtty_sandbox")

SEED = 20240501


@pytest.fixture
def sandbox_config(tmp_path: Path) -> Any:
    # Simulated pods (no local processes), no node-port listeners, quick pod deletion.
    return sandbox_module.SandboxConfig(
        pod_start_delay=0.05,
        bookmark_interval=0.5,
        local_images={},
        forward_node_ports=False,
        max_grace_seconds=0.2,
        work_dir=tmp_path / "sandbox",
    )


@pytest.fixture
def fault_run(sandbox: Any, tmp_path: Path) -> Iterator[FaultRun]:
    run = FaultRun(sandbox, tmp_path / "operators", seed=SEED)
    with run.running():
        yield run


def _scenario(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_the_cluster_settles_with_every_invariant_after_faults(
    name: str, fault_run: FaultRun
) -> None:
    scenario = _scenario(name)
    result = fault_run.run(scenario, settle_timeout=90)
    figures = result.figures.as_dict()
    print(f"faults {name}: {json.dumps(figures, sort_keys=True)}")
    assert result.settled, result.summary()
    assert result.report.ok, result.summary()
    assert not result.crash_lines, result.summary()
    assert not result.crashes(), result.summary()
    assert all(o.alive for o in fault_run.operators), "an operator process died"
    # The scenario did what it says.
    assert figures["shells_created"] >= scenario.shells
    assert figures["shells_deleted"] > 0
    assert result.report.shells_checked >= scenario.shells
    if scenario.faults and scenario.faults.get("errors"):
        injected = figures["faults_injected"]
        assert {"500", "429", "409"} <= set(injected), injected
    if scenario.faults and scenario.faults.get("watchMaxSeconds"):
        assert figures["watch_requests"] > 20
    if scenario.compact_every:
        assert figures["compactions"] >= 3
    assert figures["kills"] == scenario.kills
    if scenario.replicas > 1:
        # A kill lands on the Lease holder; right after a fail-over there may be none yet, and
        # then a replica is picked at random.
        assert figures["leader_kills"] >= 1
