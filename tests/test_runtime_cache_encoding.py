"""Informers store objects encoded (compressed JSON) and decode them when read: what is read
is what was stored, through every change, relist and dictionary generation; the label index
and the echo of the operator's own writes behave as with plain dicts."""

from __future__ import annotations

import copy
import datetime
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtty_core import LABEL_POOL, LABEL_SHELL_UID
from cloudtty_core.runtime.client import Resource
from cloudtty_core.runtime.frozen import RETUNE_AT, Codec
from cloudtty_core.runtime.informer import ADDED, DELETED, MODIFIED, Informer


class Tagged(str):
    """A string with more to it than JSON keeps."""


CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps")

# ------------------------------------------------------------------------------ strategies
keys = st.text(max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=25,
)
names = st.sampled_from(["a", "b", "c", "d", "e"])
uids = st.sampled_from(["u1", "u2", "u3"])


@st.composite
def manifests(draw: st.DrawFn, name: str | None = None) -> dict[str, Any]:
    """A ConfigMap-like object: metadata the informer reads, anything else besides."""
    meta: dict[str, Any] = {
        "name": name or draw(names),
        "namespace": draw(st.sampled_from(["default", "team-a"])),
        "uid": draw(st.uuids()).hex,
        "labels": {LABEL_SHELL_UID: draw(uids), "app": draw(st.text(max_size=5))},
    }
    if draw(st.booleans()):
        meta["annotations"] = draw(st.dictionaries(keys, st.text(max_size=20), max_size=3))
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": draw(st.dictionaries(keys, st.text(max_size=60), max_size=4)),
        **draw(st.dictionaries(st.sampled_from(["spec", "status", "extra"]), json_values)),
    }


def informer(recent: int = 256) -> Informer:
    # Lists and watches are driven by hand here: no client is needed.
    return Informer(CONFIGMAPS, None, None, index_labels=[LABEL_SHELL_UID], recent_size=recent)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ the codec
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, json_values))
def test_a_json_object_decodes_to_what_was_encoded(obj: dict[str, Any]) -> None:
    codec = Codec()
    blob = codec.encode(obj)
    assert blob is not None
    decoded = codec.decode(blob)
    assert decoded == obj
    assert decoded is not obj


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(manifests(), min_size=1, max_size=8))
def test_blobs_of_every_dictionary_generation_still_decode(objects: list[dict[str, Any]]) -> None:
    """The codec learns new dictionaries as it goes; what it encoded before still reads."""
    codec = Codec()
    stored = []
    for i in range(RETUNE_AT[2] + 5):
        obj = copy.deepcopy(objects[i % len(objects)])
        obj["metadata"]["resourceVersion"] = str(i)
        blob = codec.encode(obj)
        assert blob is not None
        stored.append((blob, obj))
    assert codec.generation == 3
    assert {blob[0] for blob, _ in stored} == {0, 1, 2, 3}
    for blob, obj in stored:
        assert codec.decode(blob) == obj


def test_similar_objects_encode_small() -> None:
    """What the dictionary is for: the hundredth similar object costs a fraction of its
    JSON."""
    codec = Codec()
    sizes = []
    for i in range(100):
        obj = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"cloudshell-s{i}", "namespace": "team-a", "uid": f"u-{i:032}"},
            "spec": {"ports": [{"name": "terminal", "port": 7681, "targetPort": 7681}]},
        }
        blob = codec.encode(obj)
        assert blob is not None
        sizes.append(len(blob))
    assert sizes[-1] < len(str(obj)) / 2


@pytest.mark.parametrize(
    "odd",
    [
        {"big": 2**70},
        {"surrogate": "\udc80"},
        {1: "a key that is not a string"},
        {"when": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)},
        {"subclass": Tagged("a str that is more than a str")},
    ],
)
def test_what_json_cannot_carry_is_not_encoded_and_is_cached_as_it_is(
    odd: dict[Any, Any],
) -> None:
    assert Codec().encode(odd) is None
    cache = informer()
    obj = {"metadata": {"name": "odd", "namespace": "default", "resourceVersion": "1"}, **odd}
    assert cache.observe(obj)
    assert cache.get("default", "odd") == obj
    assert list(cache) == [obj]


# ------------------------------------------------------------------------------ the informer
events = st.lists(
    st.tuples(st.sampled_from([ADDED, MODIFIED, DELETED, "RELIST", "OBSERVE"]), manifests()),
    max_size=30,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(events, st.sampled_from([0, 1, 256]))
def test_the_informer_reads_back_what_it_was_given(
    steps: list[tuple[str, dict[str, Any]]], recent: int
) -> None:
    """Through watch events, relists and the operator's own writes, get / list / iterate /
    iteration return objects equal to the last version stored, however few are kept
    decoded; handlers see the previous version as it was."""
    cache = informer(recent)
    model: dict[tuple[str, str], dict[str, Any]] = {}
    seen: list[tuple[str, Any, Any]] = []
    cache.add_handler(lambda t, obj, old: seen.append((t, copy.deepcopy(obj), copy.deepcopy(old))))
    for version, (type_, obj) in enumerate(steps, start=1):
        obj["metadata"]["resourceVersion"] = str(version)
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        before = copy.deepcopy(model.get(key))
        given = copy.deepcopy(obj)
        seen.clear()
        if type_ == "RELIST":
            listed = [copy.deepcopy(o) for k, o in model.items() if k != key] + [given]
            cache._replace(listed, str(version))
            model = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in listed}
            continue
        if type_ == "OBSERVE":
            assert cache.observe(given)
        else:
            cache._deliver([{"type": type_, "object": given}])
        if type_ == DELETED:
            if before is not None:
                del model[key]
                assert seen == [(DELETED, obj, before)]
        else:
            model[key] = obj
            assert seen == [(ADDED if before is None else MODIFIED, obj, before)]
        for (ns, name), stored in model.items():
            assert cache.get(ns, name) == stored
    assert len(cache) == len(model)
    by_key = sorted(model)
    assert cache.list() == [model[k] for k in by_key]
    assert sorted(map(repr, cache)) == sorted(repr(model[k]) for k in model)
    for ns in ("default", "team-a"):
        assert cache.list(ns) == [model[k] for k in by_key if k[0] == ns]
        for uid in ("u1", "u2", "u3"):
            wanted = [
                model[k]
                for k in by_key
                if k[0] == ns and model[k]["metadata"]["labels"][LABEL_SHELL_UID] == uid
            ]
            assert cache.list(ns, {LABEL_SHELL_UID: uid}) == wanted
            assert cache.list(ns, {LABEL_SHELL_UID: uid, "app": "none"}) == [
                o for o in wanted if o["metadata"]["labels"]["app"] == "none"
            ]


@given(manifests(name="a"))
def test_the_echo_of_an_observed_write_is_ignored(obj: dict[str, Any]) -> None:
    """The operator's own write is cached as the very object it holds; the watch's echo of
    the same version changes nothing and calls no handler."""
    cache = informer()
    calls: list[str] = []
    cache.add_handler(lambda t, o, old: calls.append(t))
    obj["metadata"]["resourceVersion"] = "7"
    assert cache.observe(obj)
    ns = obj["metadata"]["namespace"]
    assert cache.get(ns, "a") is obj
    cache._deliver([{"type": MODIFIED, "object": copy.deepcopy(obj)}])
    assert calls == [ADDED]
    assert cache.get(ns, "a") is obj
    older = copy.deepcopy(obj)
    older["metadata"]["resourceVersion"] = "6"
    assert not cache.observe(older)
    assert cache.get(ns, "a") == obj


def test_an_evicted_object_is_decoded_equal_and_the_echo_is_still_ignored() -> None:
    cache = informer(recent=1)
    calls: list[str] = []
    cache.add_handler(lambda t, o, old: calls.append(t))
    first = {"metadata": {"name": "a", "namespace": "n", "resourceVersion": "3"}, "data": {}}
    second = {"metadata": {"name": "b", "namespace": "n", "resourceVersion": "4"}}
    assert cache.observe(first)
    assert cache.observe(second)  # pushes "a" out of the decoded ones
    read = cache.get("n", "a")
    assert read == first
    assert read is not first
    cache._deliver([{"type": MODIFIED, "object": copy.deepcopy(first)}])
    assert calls == [ADDED, ADDED]


def test_clear_reports_every_object_deleted_with_its_content() -> None:
    cache = informer(recent=0)
    gone: list[Any] = []
    cache.add_handler(lambda t, o, old: gone.append((t, o)) if t == DELETED else None)
    objs = [
        {"metadata": {"name": n, "namespace": "n", "resourceVersion": "1", "labels": {"x": n}}}
        for n in ("a", "b")
    ]
    for obj in objs:
        cache.observe(copy.deepcopy(obj))
    cache.clear()
    assert len(cache) == 0
    assert sorted(gone, key=repr) == sorted(
        [(DELETED, {"apiVersion": "v1", "kind": "ConfigMap", **o}) for o in objs], key=repr
    )


def test_the_informer_runs_against_the_sandbox_with_encoded_objects(sandbox: Any) -> None:
    """Listed and watched objects read back as the API server has them (but managedFields)."""
    from cloudtty_core.runtime.api import AsyncApi
    from cloudtty_core.runtime.client import KubeClient

    client = KubeClient.for_url(sandbox.url, sandbox.admin_token)
    try:
        for i in range(3):
            client.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"c{i}", "namespace": "default"},
                    "data": {"k": "v" * i},
                }
            )

        async def main() -> None:
            cache = Informer(CONFIGMAPS, client, AsyncApi(client), namespace="default")
            async with anyio.create_task_group() as group:
                group.start_soon(cache.run)
                with anyio.fail_after(10):
                    await cache.synced.wait()
                await anyio.to_thread.run_sync(
                    lambda: client.create(
                        {
                            "apiVersion": "v1",
                            "kind": "ConfigMap",
                            "metadata": {"name": "late", "namespace": "default"},
                            "data": {"k": "late"},
                        }
                    )
                )
                with anyio.fail_after(10):
                    while cache.get("default", "late") is None:
                        await anyio.sleep(0.02)
                group.cancel_scope.cancel()
            listed = await anyio.to_thread.run_sync(
                lambda: client.list(CONFIGMAPS, "default")["items"]
            )
            for item in listed:
                item["metadata"].pop("managedFields", None)
                cached = cache.get("default", item["metadata"]["name"])
                assert cached is not None
                assert cached["data"] == item["data"]
                assert cached["metadata"] == item["metadata"]

        anyio.run(main)
    finally:
        client.close()


sandbox_module = pytest.importorskip("cloudtty_sandbox")


@pytest.fixture
def sandbox_config() -> Any:
    return sandbox_module.SandboxConfig(pod_start_delay=0.05, local_images={})


def test_pool_workers_are_kept_decoded_and_change_to_encoded_with_their_labels() -> None:
    """The warm pool's objects, which each pool pass reads whole, are never encoded; an
    object that loses the pool label is encoded from then on, and reads the same."""
    cache = informer(recent=0)
    worker = {
        "metadata": {
            "name": "w",
            "namespace": "n",
            "resourceVersion": "1",
            "labels": {LABEL_POOL: "p1", LABEL_SHELL_UID: "u1"},
        },
        "data": {"k": "v"},
    }
    assert cache.observe(worker)
    assert cache.get("n", "w") is worker
    assert cache.list("n", {LABEL_POOL: "p1"}) == [worker]
    plain = copy.deepcopy(worker)
    plain["metadata"]["resourceVersion"] = "2"
    del plain["metadata"]["labels"][LABEL_POOL]
    assert cache.observe(plain)
    read = cache.get("n", "w")
    assert read == plain
    assert read is not plain  # decoded: nothing is kept decoded with recent=0
    assert cache.list("n", {LABEL_POOL: "p1"}) == []
    assert cache.list("n", {LABEL_SHELL_UID: "u1"}) == [plain]


def test_a_scrape_thread_reads_while_the_loop_writes() -> None:
    """The metrics are read from the HTTP server's thread: its reads decode correct objects
    and leave the recent ones to the event loop's thread."""
    cache = informer(recent=8)
    for i in range(50):
        cache.observe(
            {"metadata": {"name": f"o{i}", "namespace": "n", "resourceVersion": "1"}, "v": i}
        )
    stop = threading.Event()
    seen: list[int] = []

    def scrape() -> None:
        while not stop.is_set():
            for obj in cache.list("n"):
                assert (
                    obj["v"]
                    == int(obj["metadata"]["name"][1:])
                    + int(obj["metadata"]["resourceVersion"])
                    - 1
                )
            seen.append(len(cache._recent))

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(scrape) for _ in range(2)]
        for version in range(2, 40):
            for i in range(50):
                cache._deliver(
                    [
                        {
                            "type": MODIFIED,
                            "object": {
                                "metadata": {
                                    "name": f"o{i}",
                                    "namespace": "n",
                                    "resourceVersion": str(version),
                                },
                                "v": i + version - 1,
                            },
                        }
                    ]
                )
        stop.set()
        for future in futures:
            future.result()
    assert seen
    assert len(cache._recent) <= 8
    assert [o["v"] for o in cache.list("n")] == [
        i + 38 for i in sorted(range(50), key=lambda i: f"o{i}")
    ]
