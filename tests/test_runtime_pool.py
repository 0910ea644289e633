"""The warm pool on the sandbox cluster: workers are provisioned before any shell asks, claims
stay exclusive when 50 shells arrive at once, a worker serves one shell and is never reused,
and the pool refills in the background."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from cloudtty_core import OperatorSettings, PoolKey
from cloudtty_core.runtime.client import Resource
from cloudtty_core.runtime.testing import WARM_IMAGE, OperatorHarness, wait_for
from cloudtty_core.testing import FakeImageBackend

pytest.importorskip("kubernetes")
sandbox_module = pytest.importorskip("cloudtty_sandbox")

PODS = Resource("v1", "Pod", "pods")
SECRETS = Resource("v1", "Secret", "secrets")
SERVICES = Resource("v1", "Service", "services")
SHELL_COUNT = 50
MIN_IDLE = 6
BURST_POOL = SHELL_COUNT + 5


@pytest.fixture
def sandbox_config() -> Any:
    return sandbox_module.SandboxConfig(
        pod_start_delay=0.05, bookmark_interval=0.5, local_images={}
    )


def start(sandbox: Any, min_idle: int) -> OperatorHarness:
    settings = OperatorSettings(cluster_server=sandbox.url, min_idle=min_idle)
    return OperatorHarness(
        sandbox.url, sandbox.admin_token, settings=settings, config={"workers": 8}
    )


@pytest.fixture
def harness(sandbox: Any) -> Iterator[OperatorHarness]:
    with start(sandbox, MIN_IDLE) as running:
        yield running


def pool_label() -> str:
    image = FakeImageBackend(name=WARM_IMAGE).default_image
    return PoolKey("default", WARM_IMAGE, image).hash


def sessions(harness: OperatorHarness, state: str) -> dict[str, dict[str, Any]]:
    """Workers' session Secrets in ``state`` (idle: the pool's; claimed: serving a shell), by
    worker name: a worker's state lives on its session Secret, which a claim writes."""
    found = harness.items(SECRETS, "default", {"cloudtty.io/state": state})
    return {s["metadata"]["labels"]["cloudtty.io/worker"]: s for s in found}


def idle_ready(harness: OperatorHarness) -> list[dict[str, Any]]:
    return [
        p
        for p in harness.idle_workers("default")
        if p["metadata"]["labels"].get("cloudtty.io/pool") == pool_label()
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (p.get("status") or {}).get("conditions") or ()
        )
    ]


def workers(harness: OperatorHarness) -> list[dict[str, Any]]:
    return [
        p
        for p in harness.items(PODS, "default", {"cloudtty.io/role": "worker"})
        if not p["metadata"].get("deletionTimestamp")
    ]


def test_the_pool_is_filled_before_any_shell_asks(harness: OperatorHarness) -> None:
    idle = wait_for(lambda: len(idle_ready(harness)) == MIN_IDLE and idle_ready(harness))
    for pod in idle:
        owners = pod["metadata"].get("ownerReferences") or ()
        assert [o for o in owners if o["kind"] == "CloudShell"] == []  # nobody's yet
        assert pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "cloudtty"
    # A shell created now is served by one of them: no pod has to start for it.
    before = {p["metadata"]["name"] for p in idle}
    harness.create_shell("first")
    shell = harness.wait_phase("first", "Ready")
    assert shell["status"]["worker"] in before
    # ... and the pool is back at minIdle with a new worker.
    wait_for(lambda: len(idle_ready(harness)) == MIN_IDLE, what="the pool refilled")
    assert shell["status"]["worker"] not in {p["metadata"]["name"] for p in idle_ready(harness)}


def test_a_shell_made_ready_is_not_planned_again_for_the_echoes_of_its_own_writes(
    harness: OperatorHarness,
) -> None:
    wait_for(lambda: len(idle_ready(harness)) == MIN_IDLE, what="the pool filled")
    harness.client.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "team-kubeconfig", "namespace": "default"},
            "stringData": {"config": "apiVersion: v1\nkind: Config\n"},
        }
    )
    before = harness.stats()["passes"]["shell"]
    # With its kubeconfig at hand, a Ready worker in the pool and a URL known in advance, one
    # pass takes the shell to Ready: the claim, the Service and the status. (A node port
    # would take a second pass: its number comes from the server.)
    harness.create_shell("quiet", exposureMode="ClusterIP", secretRef={"name": "team-kubeconfig"})
    harness.wait_phase("quiet", "Ready")
    # The watch echoes those writes within moments; none of them is a reason to plan the
    # shell again.
    time.sleep(1.0)
    assert harness.stats()["passes"]["shell"] - before == 1
    passes = harness.stats()["passes"]["shell"]
    # A change by someone else is: the shell is planned again and puts its label back.
    service = harness.client.get(SERVICES, "default", "cloudshell-quiet")
    del service["metadata"]["labels"]["cloudtty.io/shell-uid"]
    harness.client.replace(service)
    wait_for(
        lambda: (
            "cloudtty.io/shell-uid"
            in harness.client.get(SERVICES, "default", "cloudshell-quiet")["metadata"]["labels"]
        ),
        what="the Service's label restored",
    )
    assert harness.stats()["passes"]["shell"] > passes


def burst(harness: OperatorHarness, names: list[str]) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda name: harness.create_shell(name), names))
    return [harness.wait_phase(name, "Ready", timeout=60) for name in names]


def assert_exclusive(harness: OperatorHarness, shells: list[dict[str, Any]]) -> set[str]:
    """Every shell has its own worker, serving exactly that shell; the workers' uids."""
    bound = Counter(s["status"]["worker"] for s in shells)
    assert len(bound) == len(shells), [w for w, n in bound.items() if n > 1]
    by_name = {p["metadata"]["name"]: p for p in workers(harness)}
    claimed = sessions(harness, "claimed")
    served = set()
    for shell in shells:
        worker = shell["status"]["worker"]
        pod = by_name[worker]
        session = claimed[worker]
        # The shell owns the worker's session Secret; a pool worker's pod is owned by that
        # Secret, a worker made for the shell (the pool was empty) by the shell itself.
        assert [(o["kind"], o["uid"]) for o in session["metadata"]["ownerReferences"]] == [
            ("CloudShell", shell["metadata"]["uid"])
        ]
        assert session["metadata"]["labels"]["cloudtty.io/shell-uid"] == shell["metadata"]["uid"]
        pod_owner = session if "cloudtty.io/pool" in session["metadata"]["labels"] else shell
        assert [o["uid"] for o in pod["metadata"]["ownerReferences"]] == [
            pod_owner["metadata"]["uid"]
        ]
        served.add(pod["metadata"]["uid"])
    assert len(claimed) == len(shells)  # no stray claimed worker, no duplicate
    return served


def test_50_concurrent_shells_claim_50_different_warm_workers(sandbox: Any) -> None:
    with start(sandbox, BURST_POOL) as harness:
        wait_for(lambda: len(idle_ready(harness)) == BURST_POOL, timeout=60, what="pool filled")
        shells = burst(harness, [f"warm-{n}" for n in range(SHELL_COUNT)])
        assert_exclusive(harness, shells)
        # All of them took a worker of the pool (the warm path), none made its own.
        on_demand = [s for s in shells if s["status"]["worker"].startswith("cloudshell-")]
        assert on_demand == []
        wait_for(lambda: len(idle_ready(harness)) == BURST_POOL, timeout=60, what="refilled")


def test_two_replicas_racing_for_the_same_workers_never_share_one(sandbox: Any) -> None:
    # Leader election off on purpose: both replicas plan every shell and race for every idle
    # worker; only the resourceVersion precondition of the claim keeps them apart.
    with start(sandbox, 20) as first, start(sandbox, 20):
        wait_for(lambda: len(idle_ready(first)) == 20, timeout=60, what="pool filled")
        shells = burst(first, [f"race-{n}" for n in range(20)])
        # Let both replicas settle, then check nothing is shared. A replica whose cache had not
        # yet seen the other's claim may claim a second worker for the same shell; the shell's
        # next plan deletes the one it is not bound to.
        wait_for(lambda: len(idle_ready(first)) >= 20, timeout=60, what="refilled")
        wait_for(
            lambda: len(sessions(first, "claimed")) == len(shells),
            timeout=30,
            what="one claimed worker per shell",
        )
        assert_exclusive(first, [first.wait_phase(s["metadata"]["name"], "Ready") for s in shells])


def test_workers_are_never_reused_and_the_pool_refills(harness: OperatorHarness) -> None:
    wait_for(lambda: len(idle_ready(harness)) == MIN_IDLE, what="the pool filled")
    names = [f"burst-{n}" for n in range(SHELL_COUNT)]
    shells = burst(harness, names)
    served_uids = assert_exclusive(harness, shells)
    served_names = [s["status"]["worker"] for s in shells]
    wait_for(lambda: len(idle_ready(harness)) == MIN_IDLE, what="the pool refilled")

    # Half of the shells end: their workers go away instead of returning to the pool.
    for name in names[: SHELL_COUNT // 2]:
        harness.delete_shell(name)
    for name in names[: SHELL_COUNT // 2]:
        harness.wait_gone(name)
    wait_for(
        lambda: (
            len([p for p in workers(harness) if p["metadata"]["uid"] in served_uids])
            == SHELL_COUNT - SHELL_COUNT // 2
        ),
        what="the workers of deleted shells deleted",
    )
    # ... and with them their accounts (the pool deletes what is left of a claimed worker once
    # its shell is gone).
    accounts = Resource("v1", "ServiceAccount", "serviceaccounts")
    served = set(served_names)
    wait_for(
        lambda: (
            len([a for a in harness.items(accounts, "default") if a["metadata"]["name"] in served])
            == SHELL_COUNT - SHELL_COUNT // 2
        ),
        what="the accounts of deleted shells' workers deleted",
    )
    # New shells never get a worker that served before.
    again = [f"again-{n}" for n in range(10)]
    for name in again:
        harness.create_shell(name)
    for name in again:
        shell = harness.wait_phase(name, "Ready", timeout=60)
        pod = {p["metadata"]["name"]: p for p in workers(harness)}[shell["status"]["worker"]]
        assert pod["metadata"]["uid"] not in served_uids
    wait_for(lambda: len(idle_ready(harness)) == MIN_IDLE, what="the pool refilled again")
    assert len(sessions(harness, "idle")) == MIN_IDLE  # refilled, never overfilled


def test_an_idle_worker_that_fails_is_replaced(harness: OperatorHarness, sandbox: Any) -> None:
    idle = wait_for(lambda: len(idle_ready(harness)) == MIN_IDLE and idle_ready(harness))
    victim = idle[0]["metadata"]["name"]
    assert sandbox.exit_container("default", victim, 1, "crashed")

    def replaced() -> bool:
        names = {p["metadata"]["name"] for p in idle_ready(harness)}
        return len(names) == MIN_IDLE and victim not in names

    wait_for(replaced, what="the failed idle worker replaced")
    wait_for(
        lambda: all(p["metadata"]["name"] != victim for p in harness.items(PODS, "default")),
        what="the failed worker deleted",
    )


def test_the_operator_keeps_only_the_pools_own_workers_decoded(harness: OperatorHarness) -> None:
    """Claimed workers are their shells': the caches keep them encoded (the pool pass reads
    only its own), and the pool's metrics count them from the claims."""
    idle = wait_for(lambda: len(idle_ready(harness)) == MIN_IDLE and idle_ready(harness))
    for name in ("enc-1", "enc-2", "enc-3"):
        harness.create_shell(name)
    served = [
        harness.wait_phase(name, "Ready")["status"]["worker"]
        for name in ("enc-1", "enc-2", "enc-3")
    ]
    wait_for(lambda: len(idle_ready(harness)) == MIN_IDLE, what="the pool refilled")
    unclaimed = [p["metadata"]["name"] for p in idle_ready(harness)]
    running = harness.running
    assert running is not None
    operator = running.operator
    kinds = [("v1", "Pod"), ("v1", "ServiceAccount")] + [
        ("rbac.authorization.k8s.io/v1", kind) for kind in ("Role", "RoleBinding")
    ]

    def decoded(names: list[str]) -> set[bool | None]:
        informers = operator.informers
        return {
            informers.informer(*kind).kept_decoded("default", name)
            for kind in kinds
            for name in names
        }

    # Encoded a moment after the claims, once no shell waits to be planned.
    wait_for(lambda: running.call(decoded, served) == {False}, what="claimed workers encoded")
    assert running.call(decoded, unclaimed) == {True}
    assert {w["metadata"]["name"] for w in idle} & set(served)  # claimed from the pool
    key = PoolKey("default", WARM_IMAGE, FakeImageBackend(name=WARM_IMAGE).default_image)
    ready, starting, claimed = running.call(operator.controller.pool_counts, key)
    assert (ready, starting, claimed) == (MIN_IDLE, 0, 3)
