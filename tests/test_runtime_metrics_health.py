"""Metrics, /healthz and /readyz over real HTTP on 127.0.0.1, and the API-request counting
against the sandbox through the official client."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cloudtty_core.runtime.health import (
    CheckResult,
    HealthServer,
    HealthState,
    Role,
    watch_event_loop,
)
from cloudtty_core.runtime.metrics import (
    OperatorMetrics,
    PoolSample,
    classify_request,
    instrument,
)


def get(url: str, accept: str = "") -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers["Content-Type"]


@pytest.fixture
def served() -> Iterator[tuple[HealthServer, HealthState, OperatorMetrics]]:
    state, metrics = HealthState(), OperatorMetrics()
    server = HealthServer(state, metrics, host="127.0.0.1", port=0).start()
    try:
        yield server, state, metrics
    finally:
        server.stop()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_endpoint_exposes_what_the_runtime_reports(served):
    server, _, metrics = served
    metrics.reconciled("shell", "success", 0.02)
    metrics.reconciled("shell", "error", 0.5)
    metrics.reconcile_failed("shell", TimeoutError())
    metrics.queue_added("shells")
    metrics.watch_queue("shells", lambda: 7)
    metrics.watch_cache("pods", lambda: 12)
    metrics.watch_pool(lambda: [PoolSample("team-a", "p1", idle=3, claimed=2, min_idle=3)])
    metrics.watch_shells(lambda: {"Ready": 2, "Pending": 1})
    metrics.shell_seen("uid-1", at=10.0)
    assert metrics.shell_ready("uid-1", warm=True, at=10.05) == pytest.approx(0.05)
    metrics.api_request("create", "pods", 201, 0.01)
    metrics.watch_restarted("pods", "expired")
    status, body, content_type = get(server.url + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    found = samples(body)
    assert found[("cloudtty_reconciles_total", (("kind", "shell"), ("result", "success")))] == 1
    assert (
        found[("cloudtty_reconcile_errors_total", (("error", "TimeoutError"), ("kind", "shell")))]
        == 1
    )
    assert found[("cloudtty_workqueue_depth", (("queue", "shells"),))] == 7
    assert found[("cloudtty_cache_objects", (("resource", "pods"),))] == 12
    pool = (("namespace", "team-a"), ("pool", "p1"))
    assert found[("cloudtty_pool_workers", (*pool, ("state", "idle")))] == 3
    assert found[("cloudtty_pool_workers", (*pool, ("state", "claimed")))] == 2
    assert found[("cloudtty_pool_min_idle", pool)] == 3
    assert found[("cloudtty_shells", (("phase", "Ready"),))] == 2
    assert (
        found[("cloudtty_shell_time_to_ready_seconds_bucket", (("le", "0.1"), ("path", "warm")))]
        == 1
    )
    assert found[
        ("cloudtty_shell_time_to_ready_seconds_bucket", (("le", "0.05"), ("path", "warm")))
    ] in (0, 1)
    assert (
        found[
            (
                "cloudtty_api_requests_total",
                (("code", "201"), ("resource", "pods"), ("verb", "create")),
            )
        ]
        == 1
    )
    assert (
        found[("cloudtty_watch_restarts_total", (("reason", "expired"), ("resource", "pods")))] == 1
    )
    assert ("cloudtty_build_info", (("version", metrics.build_info._value["version"]),)) in found


def test_openmetrics_when_the_scraper_asks(served):
    server, _, _ = served
    status, body, content_type = get(
        server.url + "/metrics", accept="application/openmetrics-text; version=1.0.0"
    )
    assert status == 200
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith("# EOF")


def test_a_broken_metric_source_does_not_break_the_scrape(served):
    server, _, metrics = served
    metrics.watch_queue("broken", lambda: 1 // 0)
    metrics.watch_queue("fine", lambda: 2)
    status, body, _ = get(server.url + "/metrics")
    assert status == 200
    assert 'cloudtty_workqueue_depth{queue="fine"} 2.0' in body
    assert 'queue="broken"' not in body


def test_time_to_ready_counts_from_the_first_sighting_and_forgets_gone_shells():
    metrics = OperatorMetrics()
    metrics.shell_seen("u", at=1.0)
    metrics.shell_seen("u", at=5.0)  # seen again by a later event: the clock keeps running
    assert metrics.shell_ready("u", warm=False, at=3.0) == 2.0
    assert metrics.shell_ready("u", warm=False) is None  # observed once
    metrics.shell_seen("v")
    metrics.shell_gone("v")
    assert metrics.shells_waiting == 0
    assert metrics.value("cloudtty_shell_time_to_ready_seconds_count", {"path": "cold"}) == 1


def test_leader_gauge_counts_changes_only():
    metrics = OperatorMetrics()
    metrics.set_leading(False)  # starting as a standby
    assert metrics.value("cloudtty_leadership_changes_total", {"state": "standby"}) is None
    for leading in (True, True, False, True):
        metrics.set_leading(leading)
    assert metrics.value("cloudtty_leader") == 1
    assert metrics.value("cloudtty_leadership_changes_total", {"state": "leading"}) == 2
    assert metrics.value("cloudtty_leadership_changes_total", {"state": "standby"}) == 1


def test_two_operators_in_one_process_keep_separate_counts():
    first, second = OperatorMetrics(), OperatorMetrics()
    first.reconciled("shell", "success")
    assert first.value("cloudtty_reconciles_total", {"kind": "shell", "result": "success"}) == 1
    assert second.value("cloudtty_reconciles_total", {"kind": "shell", "result": "success"}) is None


def test_healthz_fails_when_a_loop_stops_beating(served):
    server, state, _ = served
    status, body, _ = get(server.url + "/healthz")
    assert (status, body) == (200, "ok\n")
    loop = state.loop("informer-pods", stall_after=0.05)
    loop.last_beat -= 1.0  # as if it had been silent for a second
    status, body, _ = get(server.url + "/healthz")
    assert status == 503
    assert "[-]loop-informer-pods failed: no progress for" in body
    loop.beat()
    assert get(server.url + "/healthz")[0] == 200
    loop.last_beat -= 1.0
    loop.close()  # a loop that ended on purpose is not stuck
    assert get(server.url + "/healthz")[0] == 200
    status, body, _ = get(server.url + "/healthz?verbose")
    assert "[+]ping ok" in body
    assert body.endswith("healthz check passed\n")


def test_a_blocked_event_loop_fails_liveness():
    state = HealthState()

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: watch_event_loop(state, interval=0.01, stall_after=0.2))
            await anyio.sleep(0.05)
            assert all(result.ok for result in state.liveness())
            time.sleep(0.5)  # the loop is blocked: no beat
            assert not all(result.ok for result in state.liveness())
            await anyio.sleep(0.05)
            assert all(result.ok for result in state.liveness())
            group.cancel_scope.cancel()

    anyio.run(main)
    assert [result.name for result in state.liveness()] == ["ping"]


@pytest.mark.parametrize(
    ("role", "synced", "ready", "detail"),
    [
        (Role.STARTING, False, False, "[-]leader-election failed: starting"),
        (Role.CANDIDATE, False, False, "[-]leader-election failed: candidate"),
        (Role.STANDBY, False, True, "[+]leader-election ok: standing by for other"),
        (Role.LEADER, False, False, "[-]caches failed: initial list not finished"),
        (Role.LEADER, True, True, "[+]caches ok: synced"),
        (Role.STOPPING, True, False, "[-]leader-election failed: stopping"),
    ],
)
def test_readyz_follows_role_and_caches(served, role, synced, ready, detail):
    server, state, _ = served
    state.set_role(role, "other" if role is Role.STANDBY else None)
    state.set_caches_synced(synced)
    status, body, _ = get(server.url + "/readyz?verbose")
    assert status == (200 if ready else 503)
    assert detail in body


def test_extra_readiness_checks(served):
    server, state, _ = served
    state.set_role(Role.LEADER)
    state.set_caches_synced(True)
    state.add_ready_check("plugins", lambda: CheckResult("plugins", False, "webterm missing"))
    status, body, _ = get(server.url + "/readyz")
    assert status == 503
    assert "[-]plugins failed: webterm missing" in body
    state.add_ready_check("plugins", lambda: True)
    assert get(server.url + "/readyz")[0] == 200


def test_unknown_paths_are_404_and_a_taken_port_is_a_clear_error(served):
    server, state, _ = served
    assert get(server.url + "/nope")[0] == 404
    with pytest.raises(
        OSError, match=f"cannot serve health and metrics on 127.0.0.1:{server.port}"
    ):
        HealthServer(state, host="127.0.0.1", port=server.port).start()


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/v1/namespaces/a/pods", ("list", "pods")),
        ("GET", "/api/v1/namespaces/a/pods?watch=true&resourceVersion=5", ("watch", "pods")),
        ("GET", "/api/v1/namespaces/a/pods/p", ("get", "pods")),
        ("POST", "/api/v1/namespaces/a/pods", ("create", "pods")),
        (
            "PUT",
            "/apis/cloudshell.cloudtty.io/v1alpha1/namespaces/d/cloudshells/x/status",
            ("update", "cloudshells/status"),
        ),
        ("PATCH", "/api/v1/namespaces/a/services/s", ("patch", "services")),
        ("DELETE", "/api/v1/namespaces/a/pods/p", ("delete", "pods")),
        ("DELETE", "/api/v1/namespaces/a/pods", ("deletecollection", "pods")),
        (
            "POST",
            "/api/v1/namespaces/a/serviceaccounts/sa/token",
            ("create", "serviceaccounts/token"),
        ),
        ("GET", "/api/v1/nodes", ("list", "nodes")),
        ("GET", "/api/v1/namespaces/kube-system", ("get", "namespaces")),
        ("GET", "/apis/coordination.k8s.io/v1/namespaces/k/leases/l", ("get", "leases")),
        ("GET", "/apis", ("get", "")),
    ],
)
def test_requests_are_classified_as_the_api_server_counts_them(method, path, expected):
    assert classify_request(method, "https://10.0.0.1:6443" + path) == expected


def test_instrumented_client_counts_every_request_it_sends(sandbox, sandbox_api_client):
    from kubernetes import client

    metrics = OperatorMetrics()
    instrument(sandbox_api_client, metrics)
    instrument(sandbox_api_client, metrics)  # twice changes nothing
    core = client.CoreV1Api(sandbox_api_client)
    sandbox.reset_counters()
    core.list_namespaced_pod("default")
    core.create_namespaced_config_map("default", {"metadata": {"name": "m"}, "data": {"a": "b"}})
    with pytest.raises(client.ApiException):
        core.read_namespaced_config_map("missing", "default")
    core.delete_namespaced_config_map("m", "default")
    count = metrics.value
    assert (
        count("cloudtty_api_requests_total", {"verb": "list", "resource": "pods", "code": "200"})
        == 1
    )
    assert (
        count(
            "cloudtty_api_requests_total",
            {"verb": "create", "resource": "configmaps", "code": "201"},
        )
        == 1
    )
    assert (
        count(
            "cloudtty_api_requests_total", {"verb": "get", "resource": "configmaps", "code": "404"}
        )
        == 1
    )
    assert (
        count(
            "cloudtty_api_requests_total",
            {"verb": "delete", "resource": "configmaps", "code": "200"},
        )
        == 1
    )
    assert count("cloudtty_api_request_duration_seconds_count", {"verb": "list"}) == 1
    # The sandbox saw exactly the requests the metrics counted.
    assert sandbox.counters()["total"] == 4


def test_requests_around_the_rest_layer_are_counted_with_their_duration(sandbox):
    import asyncio

    from cloudtty_core.runtime.api import AsyncApi
    from cloudtty_core.runtime.client import KubeClient, NotFound

    metrics = OperatorMetrics()
    kube = KubeClient.for_url(sandbox.url, sandbox.admin_token, on_request=metrics.observe_request)
    configmaps = kube.resource("v1", "ConfigMap")

    async def main() -> None:
        api = AsyncApi(kube)  # requests written and read by the event loop
        await api.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "counted", "namespace": "default"},
            }
        )
        with pytest.raises(NotFound):
            await api.get(configmaps, "default", "missing")
        api.close()

    asyncio.run(main())
    kube.get(configmaps, "default", "counted")  # and by the synchronous client
    kube.close()
    count = metrics.value
    assert (
        count(
            "cloudtty_api_requests_total",
            {"verb": "create", "resource": "configmaps", "code": "201"},
        )
        == 1
    )
    assert (
        count(
            "cloudtty_api_requests_total", {"verb": "get", "resource": "configmaps", "code": "404"}
        )
        == 1
    )
    assert (
        count(
            "cloudtty_api_requests_total", {"verb": "get", "resource": "configmaps", "code": "200"}
        )
        == 1
    )
    assert count("cloudtty_api_request_duration_seconds_count", {"verb": "get"}) == 2
    assert count("cloudtty_api_request_duration_seconds_sum", {"verb": "get"}) > 0
