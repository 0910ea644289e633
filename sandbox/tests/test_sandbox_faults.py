"""Fault injection (latency, error rates, watch cuts, compaction) and request counters, set at
start and at run time through the admin endpoint."""

from __future__ import annotations

import json
import time
import urllib.request

import attrs
import pytest
from cloudtty_sandbox import FaultConfig, SandboxConfig, run_sandbox_in_thread
from kubernetes import client
from kubernetes.client.rest import ApiException


def test_counters_count_requests_per_verb_and_resource(sandbox, sandbox_api_client, raw_http):
    core = client.CoreV1Api(sandbox_api_client)
    sandbox.reset_counters()
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    core.read_namespaced_config_map("a", "default")
    core.list_namespaced_config_map("default")
    core.patch_namespaced_config_map("a", "default", {"data": {"x": "y"}})
    core.list_namespaced_pod("default")
    status, body, _ = raw_http(f"{sandbox.url}/sandbox/counters")
    assert status == 200
    assert body["byResource"]["configmaps"] == {"create": 1, "get": 1, "list": 1, "patch": 1}
    assert body["byResource"]["pods"] == {"list": 1}
    assert body["writes"] == 2
    raw_http(f"{sandbox.url}/sandbox/counters", "DELETE")
    assert sandbox.counters()["total"] == 0


def test_error_rate_one_fails_matching_verb_only(sandbox, sandbox_api_client, raw_http):
    core = client.CoreV1Api(sandbox_api_client)
    status, body, _ = raw_http(
        f"{sandbox.url}/sandbox/faults",
        "PUT",
        {
            "errors": [
                {
                    "rate": 1.0,
                    "verb": "create",
                    "resource": "configmaps",
                    "codes": [429],
                    "retryAfterSeconds": 2,
                }
            ]
        },
    )
    assert status == 200
    assert body["errors"][0]["codes"] == [429]
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    assert err.value.status == 429
    assert err.value.headers["Retry-After"] == "2"
    assert json.loads(err.value.body)["reason"] == "TooManyRequests"
    core.list_namespaced_config_map("default")  # other verbs are untouched
    core.create_namespaced_secret("default", {"metadata": {"name": "s"}})  # other resources too
    raw_http(f"{sandbox.url}/sandbox/faults", "DELETE")
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})


def test_injected_errors_have_no_side_effect_and_follow_the_rate(sandbox, sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    sandbox.set_faults({"errors": [{"rate": 0.3, "codes": [500, 409]}], "seed": 7})
    codes = []
    for i in range(100):
        try:
            core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
        except ApiException as exc:
            codes.append(exc.status)
    assert set(codes) <= {500, 409}
    failures = len(codes)
    sandbox.clear_faults()
    stored = len(core.list_namespaced_config_map("default").items)
    assert stored == 100 - failures
    assert 10 <= failures <= 55


def test_latency_is_added(sandbox, sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    sandbox.set_faults(latency_ms=200)
    started = time.monotonic()
    core.list_namespaced_pod("default")
    assert time.monotonic() - started >= 0.2  # a lower bound: the delay was really added


def test_watch_cut_after_seconds(sandbox):
    sandbox.set_faults(watch_max_seconds=0.5)
    # without the fault this watch would stay open until the client's 30 s timeout
    with urllib.request.urlopen(
        f"{sandbox.url}/api/v1/pods?watch=1&resourceVersion=1", timeout=30
    ) as resp:
        assert resp.read() == b""


def test_faults_at_start_and_bad_config_refused(tmp_path, raw_http):
    config = SandboxConfig(
        work_dir=tmp_path,
        faults=FaultConfig.from_dict({"errors": [{"rate": 1, "verb": "list", "codes": [503]}]}),
    )
    with run_sandbox_in_thread(config) as sb:
        core = client.CoreV1Api(sb.api_client())
        with pytest.raises(ApiException) as err:
            core.list_namespaced_pod("default")
        assert err.value.status == 503
        status, body, _ = raw_http(f"{sb.url}/sandbox/faults", "PUT", {"errors": [{"rate": 2}]})
        assert status == 400
        assert "rate" in body["message"]
        status, body, _ = raw_http(
            f"{sb.url}/sandbox/faults", "PUT", {"errors": [{"rate": 0.5, "codes": [418]}]}
        )
        assert status == 400


def test_compaction_through_admin_endpoint(sandbox, sandbox_api_client, raw_http):
    core = client.CoreV1Api(sandbox_api_client)
    rv = core.list_namespaced_pod("default").metadata.resource_version
    status, body, _ = raw_http(f"{sandbox.url}/sandbox/compact", "POST")
    assert status == 200
    assert body["compactedThrough"] > int(rv)
    with urllib.request.urlopen(
        f"{sandbox.url}/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}", timeout=10
    ) as resp:
        event = json.loads(resp.readline())
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410


def test_close_watches_cuts_open_streams(sandbox, raw_http):
    import threading

    done = threading.Event()

    def watch() -> None:
        with urllib.request.urlopen(
            f"{sandbox.url}/api/v1/pods?watch=1&resourceVersion=1", timeout=30
        ) as resp:
            resp.read()
        done.set()

    thread = threading.Thread(target=watch)
    thread.start()
    deadline = time.monotonic() + 10
    while sandbox.call(lambda: sandbox.sandbox.info()["openWatches"]) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    raw_http(f"{sandbox.url}/sandbox/watches/close", "POST")
    assert done.wait(10)
    thread.join()


def test_admin_info_and_exit_endpoint(sandbox, sandbox_api_client, raw_http, wait):
    status, info, _ = raw_http(f"{sandbox.url}/sandbox/info")
    assert info["url"] == sandbox.url
    assert info["ingressPort"] == sandbox.ingress_port
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "w"},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]},
        },
    )
    wait(lambda: core.read_namespaced_pod("w", "default").status.phase == "Running")
    status, _, _ = raw_http(
        f"{sandbox.url}/sandbox/pods/default/w/exit", "POST", {"exitCode": 0, "message": "ttl"}
    )
    assert status == 200
    wait(lambda: core.read_namespaced_pod("w", "default").status.phase == "Succeeded")
    status, _, _ = raw_http(f"{sandbox.url}/sandbox/pods/default/nope/exit", "POST", {})
    assert status == 404


def test_config_evolve_keeps_types():
    config = attrs.evolve(SandboxConfig(), faults=FaultConfig(latency_ms=5))
    assert config.faults.to_dict()["latencyMs"] == 5
