"""Watch: initial state, resume from a resourceVersion, bookmarks, 410 Gone after compaction,
timeoutSeconds, selector transitions, cut streams and resume."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException


def _stream(url: str, timeout: float = 30) -> list[dict]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return [json.loads(line) for line in resp.read().splitlines() if line.strip()]


def _cm(name: str, labels: dict | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}}


def test_watch_without_version_starts_with_current_state(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_config_map("default", _cm("a"))
    core.create_namespaced_config_map("default", _cm("b"))
    events = list(
        watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=1)
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]


def test_watch_resume_from_resource_version(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    listing = core.list_namespaced_config_map("default")
    core.create_namespaced_config_map("default", _cm("a"))
    core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    core.delete_namespaced_config_map("a", "default")
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=listing.metadata.resource_version,
            timeout_seconds=1,
        )
    )
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(versions)
    assert len(set(versions)) == 3


def test_live_events_reach_an_open_watch(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    seen: list[tuple[str, str]] = []
    w = watch.Watch()

    def consume() -> None:
        for event in w.stream(
            core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5
        ):
            seen.append((event["type"], event["object"].metadata.name))
            if len(seen) == 2:
                w.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    core.create_namespaced_config_map("default", _cm("live"))
    core.delete_namespaced_config_map("live", "default")
    thread.join(60)
    assert seen == [("ADDED", "live"), ("DELETED", "live")]


def test_label_selector_transitions_become_added_and_deleted(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", _cm("x"))
    core.patch_namespaced_config_map("x", "default", {"metadata": {"labels": {"pick": "yes"}}})
    core.patch_namespaced_config_map("x", "default", {"data": {"a": "b"}})
    core.patch_namespaced_config_map("x", "default", {"metadata": {"labels": {"pick": None}}})
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=rv,
            label_selector="pick=yes",
            timeout_seconds=1,
        )
    )
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]


def test_bookmarks_when_allowed(sandbox):
    url = (
        f"{sandbox.url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1"
        "&allowWatchBookmarks=true&timeoutSeconds=2"
    )
    events = _stream(url)
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks
    assert bookmarks[-1]["object"]["kind"] == "ConfigMap"
    assert int(bookmarks[-1]["object"]["metadata"]["resourceVersion"]) >= 1
    plain = _stream(
        f"{sandbox.url}/api/v1/namespaces/default/configmaps?watch=true"
        "&resourceVersion=1&timeoutSeconds=1"
    )
    assert not [e for e in plain if e["type"] == "BOOKMARK"]


def test_send_initial_events_ends_with_a_marked_bookmark(sandbox_api_client, sandbox):
    client.CoreV1Api(sandbox_api_client).create_namespaced_config_map("default", _cm("a"))
    events = _stream(
        f"{sandbox.url}/api/v1/namespaces/default/configmaps?watch=true"
        "&sendInitialEvents=true&allowWatchBookmarks=true"
        "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1"
    )
    assert events[0]["type"] == "ADDED"
    marker = events[1]
    assert marker["type"] == "BOOKMARK"
    assert marker["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_timeout_seconds_ends_the_stream(sandbox):
    events = _stream(
        f"{sandbox.url}/api/v1/namespaces/default/pods?watch=1&resourceVersion=1&timeoutSeconds=1",
        timeout=10,
    )
    assert events == []


def test_resume_below_the_window_after_compaction_is_410(sandbox, sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    old = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", _cm("a"))
    sandbox.compact()
    with pytest.raises(ApiException) as err:
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=old, timeout_seconds=1
            )
        )
    assert err.value.status == 410
    events = _stream(
        f"{sandbox.url}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={old}"
    )
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410
    assert events[0]["object"]["reason"] == "Expired"
    # after a fresh list, watching works again
    fresh = core.list_namespaced_config_map("default").metadata.resource_version
    assert (
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map,
                "default",
                resource_version=fresh,
                timeout_seconds=1,
            )
        )
        == []
    )


def test_window_overflow_gives_410(sandbox_config, tmp_path):
    import attrs
    from cloudtty_sandbox import run_sandbox_in_thread

    with run_sandbox_in_thread(
        attrs.evolve(sandbox_config, watch_window=5, work_dir=tmp_path)
    ) as sb:
        core = client.CoreV1Api(sb.api_client())
        start = core.list_namespaced_config_map("default").metadata.resource_version
        for i in range(20):
            core.create_namespaced_config_map("default", _cm(f"c{i}"))
        events = _stream(
            f"{sb.url}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={start}"
        )
        assert events[0]["object"]["code"] == 410


def test_watch_cut_after_events_and_resume(sandbox, sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    for i in range(5):
        core.create_namespaced_config_map("default", _cm(f"c{i}"))
    sandbox.set_faults(watch_max_events=2)
    got: list[str] = []
    resume = rv
    for _ in range(10):
        events = _stream(
            f"{sandbox.url}/api/v1/namespaces/default/configmaps?watch=1"
            f"&resourceVersion={resume}&timeoutSeconds=1"
        )
        if not events:
            break
        assert len(events) <= 2  # the stream was cut after two events
        got.extend(e["object"]["metadata"]["name"] for e in events)
        resume = events[-1]["object"]["metadata"]["resourceVersion"]
    assert got == [f"c{i}" for i in range(5)]


def test_legacy_watch_path_and_field_selector_name(sandbox, sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_config_map("default", _cm("one"))
    core.create_namespaced_config_map("default", _cm("two"))
    events = _stream(
        f"{sandbox.url}/api/v1/watch/namespaces/default/configmaps/two?timeoutSeconds=1"
    )
    assert [e["object"]["metadata"]["name"] for e in events] == ["two"]
    events = _stream(
        f"{sandbox.url}/api/v1/namespaces/default/configmaps?watch=1"
        "&fieldSelector=metadata.name%3Done&timeoutSeconds=1"
    )
    assert [e["object"]["metadata"]["name"] for e in events] == ["one"]
