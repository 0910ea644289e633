"""The operator as a whole on the sandbox cluster: two replicas with one active and a
fail-over, an object the API server refuses (the shell fails naming it), the configuration
flags, and a graceful stop that leaves no stream or thread behind."""

from __future__ import annotations

import argparse
import threading
from typing import Any

import attrs
import pytest

from cloudtty_core import Exposure, ExposureRequest, KindRef, Manifest, hookimpl, worker_service
from cloudtty_core.registry import BackendRegistry
from cloudtty_core.runtime.client import Resource
from cloudtty_core.runtime.config import RuntimeConfig, add_arguments, config_from_args
from cloudtty_core.runtime.testing import OperatorHarness, TestImages, wait_for

pytest.importorskip("kubernetes")
sandbox_module = pytest.importorskip("cloudtty_sandbox")

PODS = Resource("v1", "Pod", "pods")
FAST_LEASE = {"lease_duration": 1.5, "renew_deadline": 1.0, "retry_period": 0.2}


@pytest.fixture
def sandbox_config() -> Any:
    return sandbox_module.SandboxConfig(
        pod_start_delay=0.05, bookmark_interval=0.5, local_images={}
    )


# --------------------------------------------------------------------------------------------
# Two replicas
# --------------------------------------------------------------------------------------------


def replica(sandbox: Any, name: str, **extra: Any) -> OperatorHarness:
    config = {"leader_election": True, "identity": name, **FAST_LEASE, **extra}
    return OperatorHarness(sandbox.url, sandbox.admin_token, config=config)


def test_two_replicas_one_active_and_the_standby_takes_over(sandbox: Any) -> None:
    first, second = replica(sandbox, "first"), replica(sandbox, "second")
    first.start()
    second.start(wait=False)
    try:
        assert second.running is not None
        wait_for(lambda: second.running.operator.synced.is_set(), what="standby caches synced")  # type: ignore[union-attr]
        first.create_shell("one")
        first.wait_phase("one", "Ready")
        assert not second.running.operator.ready.is_set()
        assert second.stats()["writes"] == 0  # the standby never wrote

        first.stop()  # releases the Lease
        wait_for(lambda: second.running.operator.ready.is_set(), what="the standby leads")  # type: ignore[union-attr]
        second.create_shell("two")
        second.wait_phase("two", "Ready")
        assert second.stats()["writes"] > 0
    finally:
        first.stop()
        second.stop()


def test_a_replica_that_dies_without_releasing_is_replaced_after_the_lease_runs_out(
    sandbox: Any,
) -> None:
    # The first replica dies without a word: its Lease is not released.
    first = replica(sandbox, "first", release_lease=False)
    second = replica(sandbox, "second")
    first.start()
    second.start(wait=False)
    try:
        first.stop()
        assert second.running is not None
        assert not second.running.operator.ready.is_set()
        wait_for(lambda: second.running.operator.ready.is_set(), timeout=20, what="fail-over")  # type: ignore[union-attr]
        second.create_shell("after")
        second.wait_phase("after", "Ready")
    finally:
        first.stop()
        second.stop()


# --------------------------------------------------------------------------------------------
# An object the API server refuses
# --------------------------------------------------------------------------------------------


@attrs.frozen
class BrokenExposure:
    """An exposure backend with a bug: its Service has a port no API server accepts."""

    name: str = "Broken"

    @property
    def watched_kinds(self) -> tuple[KindRef, ...]:
        return ()

    def expose(self, request: ExposureRequest) -> Exposure:
        service = worker_service(request.worker)
        service["spec"]["ports"][0]["port"] = 99999
        return Exposure(owned=(service,), url="http://example.invalid/")

    def release(self, request: ExposureRequest) -> tuple[Manifest, ...]:
        return ()


class BrokenPlugin:
    @hookimpl
    def cloudtty_register_backends(self, registry: BackendRegistry) -> None:
        registry.add_exposure(BrokenExposure())


def test_an_object_the_api_server_refuses_fails_the_shell_naming_the_field(sandbox: Any) -> None:
    plugins = (("test-images", TestImages()), ("broken", BrokenPlugin()))
    with OperatorHarness(sandbox.url, sandbox.admin_token, plugins=plugins) as harness:
        harness.create_shell("refused", exposureMode="Broken")
        shell = harness.wait_phase("refused", "Failed")
        accepted = harness.condition(shell, "Accepted")
        assert accepted is not None
        assert accepted["reason"] == "PermanentError"
        assert "spec.ports[0].port" in accepted["message"]
        uid = shell["metadata"]["uid"]
        wait_for(lambda: harness.made_for(uid) == [], what="what it made removed")


# --------------------------------------------------------------------------------------------
# Stopping
# --------------------------------------------------------------------------------------------


def test_a_graceful_stop_closes_every_watch_and_thread(sandbox: Any) -> None:
    before = {t.ident for t in threading.enumerate()}
    with OperatorHarness(sandbox.url, sandbox.admin_token) as harness:
        harness.create_shell("quiet")
        harness.wait_phase("quiet", "Ready")
        assert sandbox.call(lambda: sandbox.sandbox.api.open_watches) > 0

    wait_for(lambda: sandbox.call(lambda: sandbox.sandbox.api.open_watches) == 0, what="no watch")
    wait_for(
        lambda: (
            not [
                t
                for t in threading.enumerate()
                if t.ident not in before and t.is_alive() and not t.name.startswith("AnyIO worker")
            ]
        ),
        what="no thread of the operator left",
    )


# --------------------------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------------------------


def parse(*argv: str) -> RuntimeConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    parser.add_argument("--block", action="append", default=[])
    parser.add_argument("--no-autoload", action="store_true")
    parser.add_argument("--strict", action="store_true")
    return config_from_args(parser.parse_args(list(argv)))


def test_flags_become_the_runtime_configuration() -> None:
    config = parse(
        "--namespace=team-a",
        "--workers=3",
        "--min-idle=2",
        "--min-idle-namespace=team-b=5",
        "--cluster-role=shell-reader",
        "--node-address=shells.example.com",
        "--image=webterm=registry.example.com/webterm:1",
        "--leader-elect",
        "--lease-name=cloudtty",
        "--no-metrics",
        "--block=cloudtty-istio",
        "--no-finalize-always",
    )
    settings = config.settings
    assert config.namespace == "team-a"
    assert config.workers == 3
    assert settings.min_idle == 2
    assert settings.min_idle_for("team-b") == 5
    assert settings.cluster_role == "shell-reader"
    assert settings.node_address == "shells.example.com"
    assert settings.images == {"webterm": "registry.example.com/webterm:1"}
    assert settings.always_finalize is False
    assert config.leader_election is True
    assert config.effective_lease_namespace() == "team-a"
    assert config.metrics_port is None
    assert config.blocked_plugins == ("cloudtty-istio",)
    assert config.effective_pool_namespaces() == ("team-b", "team-a")
    defaults = parse()
    assert defaults.settings.cluster_role == "view"
    assert defaults.metrics_port == 8080
    assert defaults.leader_election is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--min-idle-namespace=team-a"], "--min-idle-namespace: expected KEY=VALUE"),
        (["--min-idle-namespace=team-a=many"], "--min-idle-namespace: bad value"),
        (["--min-idle=-1"], "must not be negative"),
        (["--workers=0"], "workers must be at least 1"),
    ],
)
def test_bad_flags_are_errors_naming_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(*argv)


def test_configuration_checks_its_values() -> None:
    with pytest.raises(ValueError, match="events_api"):
        RuntimeConfig(events_api="v2")
    with pytest.raises(ValueError, match="backoff_cap"):
        RuntimeConfig(backoff_base=2.0, backoff_cap=1.0)
