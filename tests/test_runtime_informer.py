"""Informers against the sandbox cluster with its fault injection: list then watch, resume a cut
stream without listing again, list again after a forced compaction (410) and report what
changed meanwhile, bookmarks, no polling, CRD-served kinds that appear and disappear, and the
write-through of the operator's own writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from cloudtty_core import KindRef, ObjectRef
from cloudtty_core.runtime.api import AsyncApi
from cloudtty_core.runtime.client import KubeClient, Resource
from cloudtty_core.runtime.informer import Informer, Informers, is_newer

pytest.importorskip("kubernetes")
sandbox_module = pytest.importorskip("cloudtty_sandbox")

CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps")
WIDGETS = KindRef("example.cloudtty.io/v1", "Widget", "widgets")
WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.cloudtty.io"},
    "spec": {
        "group": "example.cloudtty.io",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


@pytest.fixture
def sandbox_config() -> Any:
    return sandbox_module.SandboxConfig(
        pod_start_delay=0.05, bookmark_interval=0.2, local_images={}
    )


def configmap(name: str, value: str = "1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"value": value},
    }


async def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    with anyio.fail_after(timeout):
        while True:
            value = check()
            if value:
                return value
            await anyio.sleep(0.02)


def run_with_informer(
    sandbox: Any, body: Callable[[Informer, KubeClient, list[tuple[str, str]]], Awaitable[None]]
) -> None:
    """Run ``body`` with a running ConfigMap informer and a log of its events."""
    client = KubeClient.for_url(sandbox.url, sandbox.admin_token)

    async def main() -> None:
        informer = Informer(CONFIGMAPS, client, AsyncApi(client), namespace="default")
        seen: list[tuple[str, str]] = []
        informer.add_handler(lambda t, obj, old: seen.append((t, obj["metadata"]["name"])))
        async with anyio.create_task_group() as group:
            group.start_soon(informer.run)
            await informer.synced.wait()
            # Synced means listed; the watch that follows may still be on its way.
            await eventually(lambda: sandbox.call(lambda: sandbox.sandbox.api.open_watches) > 0)
            await body(informer, client, seen)
            group.cancel_scope.cancel()

    try:
        anyio.run(main)
    finally:
        client.close()


def test_list_then_watch_keeps_the_cache_current(sandbox: Any) -> None:
    client = KubeClient.for_url(sandbox.url, sandbox.admin_token)
    client.create(configmap("before"))

    async def body(informer: Informer, client: KubeClient, seen: list[tuple[str, str]]) -> None:
        assert informer.get("default", "before") is not None
        assert ("ADDED", "before") in seen
        client.create(configmap("after"))
        await eventually(lambda: informer.get("default", "after"))
        client.delete(ObjectRef("v1", "ConfigMap", "default", "before"))
        await eventually(lambda: informer.get("default", "before") is None)
        assert ("DELETED", "before") in seen
        listed = informer.list("default")
        assert [c["metadata"]["name"] for c in listed] == ["after"]
        assert listed[0]["apiVersion"] == "v1"
        assert listed[0]["kind"] == "ConfigMap"  # list items come without; the cache adds them
        assert informer.stats.lists == 1

    run_with_informer(sandbox, body)
    client.close()


def test_a_cut_watch_resumes_from_the_last_version_without_listing_again(sandbox: Any) -> None:
    async def body(informer: Informer, client: KubeClient, seen: list[tuple[str, str]]) -> None:
        client.create(configmap("one"))
        await eventually(lambda: informer.get("default", "one"))
        for round_ in range(3):
            watches = informer.stats.watches
            await anyio.to_thread.run_sync(sandbox.close_watches)
            # Changes made while the stream is down arrive once it resumes.
            client.create(configmap(f"during-{round_}"))
            await eventually(lambda r=round_: informer.get("default", f"during-{r}"))
            assert informer.stats.watches > watches
        assert informer.stats.lists == 1
        assert informer.stats.gone == 0
        assert [n for t, n in seen if t == "ADDED"].count("one") == 1  # nothing replayed twice

    run_with_informer(sandbox, body)


def test_watch_streams_ended_by_the_server_every_few_events_lose_nothing(sandbox: Any) -> None:
    async def body(informer: Informer, client: KubeClient, seen: list[tuple[str, str]]) -> None:
        await anyio.to_thread.run_sync(lambda: sandbox.set_faults(watch_max_events=2))
        await anyio.to_thread.run_sync(sandbox.close_watches)  # new streams get the fault
        await eventually(lambda: informer.stats.watches >= 2)
        renewed = informer.stats.watches
        for n in range(12):
            client.create(configmap(f"burst-{n}"))
        await eventually(lambda: len(informer.list("default")) == 12)
        assert informer.stats.watches > renewed  # the streams did end and were resumed
        assert informer.stats.lists == 1
        assert sorted(n for t, n in seen if t == "ADDED") == sorted(f"burst-{n}" for n in range(12))

    run_with_informer(sandbox, body)


def test_forced_compaction_makes_the_informer_list_again_and_report_what_changed(
    sandbox: Any,
) -> None:
    client = KubeClient.for_url(sandbox.url, sandbox.admin_token)
    client.create(configmap("stays"))
    client.create(configmap("goes"))
    client.create(configmap("changes"))

    async def body(informer: Informer, client: KubeClient, seen: list[tuple[str, str]]) -> None:
        # The watch goes down and cannot come back (every watch request fails)...
        failing = {"errors": [{"rate": 1.0, "verb": "watch", "codes": [500]}]}
        await anyio.to_thread.run_sync(lambda: sandbox.set_faults(failing))
        await anyio.to_thread.run_sync(sandbox.close_watches)
        await eventually(lambda: informer.stats.errors >= 1)
        version = informer.resource_version
        # ... while objects change and the history it would resume from is compacted away.
        client.delete(ObjectRef("v1", "ConfigMap", "default", "goes"))
        client.replace({**client.get(CONFIGMAPS, "default", "changes"), "data": {"value": "2"}})
        client.create(configmap("new"))
        await anyio.to_thread.run_sync(sandbox.compact)
        await anyio.to_thread.run_sync(sandbox.clear_faults)
        await eventually(lambda: informer.stats.gone >= 1)
        await eventually(lambda: informer.get("default", "new"))
        assert informer.stats.lists >= 2
        assert informer.get("default", "goes") is None
        assert ("DELETED", "goes") in seen  # a deletion missed while away is still reported
        changed = informer.get("default", "changes")
        assert changed is not None
        assert changed["data"] == {"value": "2"}
        assert informer.resource_version != version

    run_with_informer(sandbox, body)
    client.close()


def test_bookmarks_advance_the_resume_version_and_nothing_polls(sandbox: Any) -> None:
    async def body(informer: Informer, client: KubeClient, seen: list[tuple[str, str]]) -> None:
        client.create(configmap("a"))
        await eventually(lambda: informer.get("default", "a"))
        # Other kinds change: bookmarks carry the newer version without an event.
        client.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "s", "namespace": "default"},
            }
        )
        version = informer.resource_version
        await eventually(lambda: informer.stats.bookmarks >= 2)
        assert is_newer(informer.resource_version or "", version or "")
        before = await anyio.to_thread.run_sync(sandbox.counters)
        await anyio.sleep(0.6)
        after = await anyio.to_thread.run_sync(sandbox.counters)
        reads = ("get", "list")
        cm_before = before["byResource"].get("configmaps", {})
        cm_after = after["byResource"].get("configmaps", {})
        assert {v: cm_after.get(v, 0) for v in reads} == {v: cm_before.get(v, 0) for v in reads}

    run_with_informer(sandbox, body)


def test_the_operators_own_writes_show_at_once_and_the_watch_echo_is_ignored(
    sandbox: Any,
) -> None:
    async def body(informer: Informer, client: KubeClient, seen: list[tuple[str, str]]) -> None:
        written = client.create(configmap("mine"))
        assert informer.observe(written)
        assert informer.get("default", "mine") is written
        await anyio.sleep(0.5)  # the watch delivers the same version: no second event
        assert [n for t, n in seen if n == "mine"] == ["mine"]
        older = {**written, "metadata": {**written["metadata"], "resourceVersion": "1"}}
        assert not informer.observe(older)

    run_with_informer(sandbox, body)


def test_a_kind_served_by_a_crd_is_watched_when_the_crd_appears_and_dropped_when_it_goes(
    sandbox: Any,
) -> None:
    client = KubeClient.for_url(sandbox.url, sandbox.admin_token)

    async def main() -> None:
        informers = Informers(client, AsyncApi(client))
        informers.watch(WIDGETS, KindRef("v1", "ConfigMap", "configmaps"))
        changes: list[tuple[str, bool]] = []
        informers.on_kind(lambda kind, served: changes.append((kind.kind, served)))
        async with anyio.create_task_group() as group:
            await group.start(informers.run)
            await informers.wait_synced()
            assert not informers.serves(WIDGETS.api_version, "Widget")
            assert informers.serves("v1", "ConfigMap")
            client.create(WIDGET_CRD)
            await eventually(lambda: informers.serves(WIDGETS.api_version, "Widget"))
            widget = {
                "apiVersion": WIDGETS.api_version,
                "kind": "Widget",
                "metadata": {"name": "w", "namespace": "default"},
            }
            await anyio.sleep(0.1)
            client.create(widget)
            informer = informers.informer(WIDGETS.api_version, "Widget")
            assert informer is not None
            await eventually(lambda: informer.get("default", "w"))
            client.delete(
                ObjectRef(
                    "apiextensions.k8s.io/v1",
                    "CustomResourceDefinition",
                    None,
                    "widgets.example.cloudtty.io",
                )
            )
            await eventually(lambda: not informers.serves(WIDGETS.api_version, "Widget"))
            assert changes == [("Widget", True), ("Widget", False)]
            group.cancel_scope.cancel()

    try:
        anyio.run(main)
    finally:
        client.close()


def test_resource_versions_compare_as_numbers() -> None:
    assert is_newer("10", "9")
    assert not is_newer("9", "10")
    assert not is_newer("10", "10")
    assert is_newer("b", "a")  # opaque versions: any other version counts as newer
