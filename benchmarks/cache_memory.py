"""What the operator's informer caches cost per object, kind by kind.

Starts the sandbox (its own process, short pod start), runs the operator in this process (so
its caches can be read), creates ``--shells`` cold shells (the test image backend that cannot
start warm: one pod per shell, no pool), waits until all are Ready, then walks every cache.

For each kind it reports two figures, both in bytes per cached object:

- ``cached``: what the informer holds now -- a deep ``sys.getsizeof`` over everything
  reachable from its store (the encoded objects, their names, the buckets) and its label index,
  each Python object counted once for the whole cache (a string shared by 10,000 pods costs its
  size once, the way it costs memory once); the objects it keeps decoded besides (the recent
  ones, a bounded number) are reported apart, as ``recent`` (KiB for the whole kind);
- ``as_sent``: the same walk over the objects as the API server lists them, each parsed from
  JSON on its own the way a watch event delivers it, with ``managedFields`` dropped (what the
  caches held before they were compacted) -- so the two columns compare like with like.

``--dump KIND`` prints one cached object of that kind, to see what is kept.
``--events`` adds the CPU time per watch event and per read of an informer fed the cached
objects again (added, modified twice, written by the operator and echoed).
``--pool-pass N`` only measures a pool pass over N idle workers read through informers (the
planner and the simulated API make the pool; no sandbox), with the pool's objects decoded and
with them encoded.
``--codecs`` adds, per kind, the JSON and encoded sizes and the microseconds to encode and to
decode one object (:mod:`cloudtty_core.runtime.frozen`), next to those of :func:`compact`
(what the cache did per event before it stored bytes) and of :func:`trimmed` (what it does now
before encoding), measured on the cached objects.
``--tracemalloc N`` traces the whole process's allocations from before the shells are created
until they are all Ready, and prints the N source lines whose live memory grew most, per shell
(caches, queue, metrics, anything that keeps memory per shell).

    .venv/bin/python benchmarks/cache_memory.py [--shells 300] [--dump Pod]
        [--tracemalloc 25] [--json]

The operator's RSS as shells accumulate comes from ``operator_bench.py --phases rss``.
Nothing here is a test: only figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
import timeit
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from sandbox_process import SandboxProcess  # beside this script

from cloudtty_core import (
    API_VERSION,
    KIND,
    LABEL_POOL,
    LABEL_SHELL,
    LABEL_SHELL_UID,
    LABEL_STATE,
    ClusterPoolView,
    PoolKey,
    Snapshot,
    plan_pool,
)
from cloudtty_core.backends import OperatorSettings, copy_json
from cloudtty_core.model import Manifest
from cloudtty_core.runtime.client import KubeClient, NotFound, Resource
from cloudtty_core.runtime.compact import compact, trimmed
from cloudtty_core.runtime.frozen import Codec
from cloudtty_core.runtime.informer import Informer, Informers
from cloudtty_core.runtime.testing import COLD_IMAGE, SHELLS, OperatorHarness, shell_manifest
from cloudtty_core.runtime.view import CacheView
from cloudtty_core.simulation.api import apply_plan
from cloudtty_core.simulation.kubelet import start_pods
from cloudtty_core.testing import FakeImageBackend, create, fake_registry, kubeconfig_secret

NAMESPACE = "mem"
KUBECONFIG_SECRET = "bench-kubeconfig"


def deep_size(roots: Iterable[Any], seen: set[int]) -> int:
    """Bytes of every object reachable from ``roots`` through dicts and lists, skipping
    objects in ``seen`` (and adding the ones it counts)."""
    total = 0
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple):
            stack.extend(obj)
    return total


def prepare_namespace(client: KubeClient) -> None:
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    client.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": KUBECONFIG_SECRET, "namespace": NAMESPACE},
            "stringData": {"config": "apiVersion: v1\nkind: Config\n"},
        }
    )


def create_shells(client: KubeClient, n: int, concurrency: int) -> None:
    manifests = [
        shell_manifest(
            f"m{i}",
            NAMESPACE,
            imageBackend=COLD_IMAGE,
            exposureMode="ClusterIP",
            secretRef={"name": KUBECONFIG_SECRET},
        )
        for i in range(n)
    ]
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(client.create, m) for m in manifests]:
            future.result()


def wait_ready(client: KubeClient, n: int, timeout: float) -> float:
    started = time.monotonic()
    while True:
        shells = client.list(SHELLS, NAMESPACE)["items"]
        ready = sum(1 for s in shells if (s.get("status") or {}).get("phase") == "Ready")
        if ready >= n:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{ready} of {n} shells Ready after {timeout}s")
        time.sleep(0.5)


def as_sent(client: KubeClient, informer: Informer) -> list[dict[str, Any]]:
    """The informer's kind as the API server lists it, without managedFields."""
    resource = informer.resource
    try:
        items = client.list(resource, informer.namespace)["items"]
    except NotFound:
        return []
    found = []
    for item in items:
        item.setdefault("apiVersion", resource.api_version)
        item.setdefault("kind", resource.kind)
        item["metadata"].pop("managedFields", None)
        # One document per object, as in a watch stream: a LIST response is one document, and
        # the JSON decoder shares the keys within a document.
        found.append(json.loads(json.dumps(item)))
    return found


def informers_of(harness: OperatorHarness) -> Iterator[Informer]:
    assert harness.running is not None
    informers = harness.running.operator.informers
    assert informers is not None
    crds = informers._crds  # the CRD informer is internal; its cache counts all the same
    if crds is not None:
        yield crds
    yield from informers.active()


def measure(harness: OperatorHarness, client: KubeClient) -> dict[str, dict[str, Any]]:
    """Bytes per object of every cache, live and as sent."""
    assert harness.running is not None

    def snapshot() -> list[tuple[Resource, int, list[Any], list[Any]]]:
        # On the operator's loop, where the caches change: a consistent copy of the stores
        # (the store and index are read by their private names: what they hold is the point).
        return [
            (i.resource, len(i), [i._objects, i._index], list(i._recent.values()))
            for i in informers_of(harness)
        ]

    cached = harness.running.call(snapshot)
    sent = {str(i.resource): as_sent(client, i) for i in informers_of(harness)}
    live_seen: set[int] = set()
    sent_seen: set[int] = set()
    report: dict[str, dict[str, Any]] = {}
    for resource, count, store, recent in cached:
        if not count:
            continue
        raw = sent.get(str(resource), [])
        live_bytes = deep_size(store, live_seen)
        recent_bytes = deep_size(recent, live_seen)
        raw_bytes = deep_size(raw, sent_seen)
        report[resource.kind] = {
            "objects": count,
            "cached_bytes_per_object": round(live_bytes / count),
            "as_sent_bytes_per_object": round(raw_bytes / len(raw)) if raw else None,
            "cached_total_kib": round(live_bytes / 1024, 1),
            "recent_objects": len(recent),
            "recent_total_kib": round(recent_bytes / 1024, 1),
            "as_sent_total_kib": round(raw_bytes / 1024, 1),
        }
    return report


def microseconds(call: Callable[[], Any], objects: int) -> float:
    """The best of five runs of ``call`` (which handles ``objects`` objects), per object."""
    return min(timeit.repeat(call, number=1, repeat=5)) / objects * 1e6


def trim_once(sent: list[dict[str, Any]]) -> float:
    """Seconds :func:`trimmed` takes over fresh copies of ``sent`` (it changes what it is
    given)."""
    copies = [copy_json(o) for o in sent]
    started = time.perf_counter()
    for obj in copies:
        trimmed(obj)
    return time.perf_counter() - started


def codec_figures(objects: list[dict[str, Any]], sent: list[dict[str, Any]]) -> dict[str, Any]:
    """Sizes and per-object microseconds of the encoding of ``objects`` (one kind, as cached),
    and of compacting or trimming them as the API server sends them (``sent``)."""
    codec = Codec()
    encoded = [b for b in (codec.encode(o) for o in objects) if b is not None]
    learnt = encoded[16:] or encoded  # after the first dictionary
    n = len(objects)
    # Steady state: the codec, its dictionary learnt, encodes them again.
    encode = microseconds(lambda: [codec.encode(o) for o in objects], n)
    decode = microseconds(lambda: [codec.decode(b) for b in encoded], n)
    sent = sent or objects
    trim = min(trim_once(sent) for _ in range(5)) / len(sent) * 1e6
    return {
        "objects": n,
        "json_bytes": round(sum(len(orjson.dumps(o)) for o in objects) / n),
        "encoded_bytes": round(sum(len(b) for b in learnt) / len(learnt)),
        "encode_us": round(encode, 1),
        "decode_us": round(decode, 1),
        "compact_us": round(microseconds(lambda: [compact(o) for o in sent], len(sent)), 1),
        "trimmed_us": round(trim, 1),
    }


def codecs(
    by_kind: dict[str, list[dict[str, Any]]], sent: dict[str, list[dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """:func:`codec_figures` of every kind with at least 20 cached objects."""
    return {
        k: codec_figures(v, sent.get(k, [])) for k, v in sorted(by_kind.items()) if len(v) >= 20
    }


def dump(harness: OperatorHarness, kind: str) -> Any:
    assert harness.running is not None
    for informer in informers_of(harness):
        if informer.resource.kind == kind:
            return harness.running.call(lambda cache=informer: next(iter(cache), None))
    return None


def objects_by_kind(harness: OperatorHarness) -> dict[str, list[dict[str, Any]]]:
    """Every cached object (decoded), by kind, in the order of the cache."""
    assert harness.running is not None

    def snapshot() -> dict[str, list[Any]]:
        return {i.resource.kind: [copy_json(o) for o in i] for i in informers_of(harness)}

    return harness.running.call(snapshot)


EVENT_KINDS = {
    "CloudShell": Resource(API_VERSION, KIND, "cloudshells"),
    "Pod": Resource("v1", "Pod", "pods"),
    "Service": Resource("v1", "Service", "services"),
}


def cpu_seconds(call: Callable[[], Any]) -> float:
    started = time.process_time()
    call()
    return time.process_time() - started


def event_costs(objects: list[dict[str, Any]], resource: Resource) -> dict[str, float]:
    """CPU microseconds per watch event and per read of an informer fed ``objects``: all
    added in one batch, then modified twice (each object's previous version no longer among
    the recent ones when there are more objects than ``recent_size``), then 200 written by
    the operator (:meth:`Informer.observe`) and echoed by the watch; reads of every object
    (most not recent) and of the 50 last (recent)."""
    cache = Informer(resource, None, None, index_labels=(LABEL_SHELL_UID, LABEL_SHELL))  # type: ignore[arg-type]
    cache.add_handler(lambda type_, obj, old: None)
    n = len(objects)

    def batch(version: int) -> list[dict[str, Any]]:
        out = []
        for i, obj in enumerate(objects):
            copied = copy_json(obj)
            copied["metadata"]["resourceVersion"] = str(version * 1_000_000 + i)
            out.append({"type": "MODIFIED" if version > 1 else "ADDED", "object": copied})
        return out

    figures: dict[str, float] = {}
    for version, name in ((1, "added"), (2, "modified"), (3, "modified again")):
        events = batch(version)
        figures[name] = cpu_seconds(lambda events=events: cache._deliver(events)) / n * 1e6
    keys = [(o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
    figures["read"] = cpu_seconds(lambda: [cache.get(ns, name) for ns, name in keys]) / n * 1e6
    last = keys[-50:] * 10
    figures["read recent"] = (
        cpu_seconds(lambda: [cache.get(ns, name) for ns, name in last]) / len(last) * 1e6
    )
    written = [event["object"] for event in batch(4)[:200]]
    figures["own write"] = (
        cpu_seconds(lambda: [cache.observe(o) for o in written]) / len(written) * 1e6
    )
    echoes = [{"type": "MODIFIED", "object": copy_json(o)} for o in written]
    figures["echo"] = cpu_seconds(lambda: cache._deliver(echoes)) / len(echoes) * 1e6
    return figures


def events(by_kind: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """:func:`event_costs` per kind (the best of five runs of each figure)."""
    report: dict[str, dict[str, float]] = {}
    for kind, resource in EVENT_KINDS.items():
        objects = by_kind.get(kind) or []
        if len(objects) < 50:
            continue
        best: dict[str, float] = {}
        for _ in range(5):
            for name, value in event_costs(objects, resource).items():
                best[name] = round(min(best.get(name, value), value), 1)
        report[kind] = best
    return report


def pool_pass(workers: int) -> dict[str, float]:
    """CPU milliseconds of one pool pass (:func:`plan_pool`, nothing to do) over ``workers``
    Ready idle workers read through informers, as the operator reads them: its objects kept
    as they are now (the pool's decoded), and all encoded. No sandbox: the pool is made by the
    planner and the simulated API (:mod:`cloudtty_core.simulation`), then observed into
    informers."""
    registry = fake_registry(image=FakeImageBackend())
    image = registry.image(FakeImageBackend().name)
    settings = OperatorSettings(min_idle=workers)
    key = PoolKey("default", image.name, image.default_image)
    snap = create(Snapshot.with_default_node(), kubeconfig_secret())
    for _ in range(400):
        step = plan_pool(key, snap, ClusterPoolView(snap), settings, registry)
        if step.is_empty:
            break
        snap = apply_plan(snap, step)
    snap = start_pods(snap)
    figures: dict[str, float] = {}

    def never(obj: Manifest) -> bool:
        return False

    for name, pinned in (("pool decoded", None), ("all encoded", never)):
        informers = Informers(None, None)  # type: ignore[arg-type]
        for obj in snap.objects.values():
            kind = (obj["apiVersion"], obj["kind"])
            if kind not in informers._active:
                informers._active[kind] = Informer(
                    Resource(obj["apiVersion"], obj["kind"], obj["kind"].lower() + "s"),
                    None,  # type: ignore[arg-type]
                    None,  # type: ignore[arg-type]
                    index_labels=(LABEL_SHELL_UID, LABEL_POOL, LABEL_SHELL, LABEL_STATE),
                    keep_decoded=pinned,
                )
            copied = copy_json(obj)
            copied["metadata"].setdefault("resourceVersion", "1")
            informers._active[kind].observe(copied)
        view = CacheView(informers)
        gc.collect()
        plans = [
            cpu_seconds(
                lambda view=view: plan_pool(key, view, ClusterPoolView(view), settings, registry)
            )
        ]
        plans += [
            cpu_seconds(
                lambda view=view: plan_pool(key, view, ClusterPoolView(view), settings, registry)
            )
        ]
        figures[name] = round(min(plans) * 1e3, 1)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shells", type=int, default=300, help="cold shells to create")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads")
    parser.add_argument("--dump", metavar="KIND", help="print one cached object of KIND")
    parser.add_argument(
        "--tracemalloc", type=int, default=0, metavar="N", help="print the N top growing lines"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--save", metavar="FILE", help="write every cached object, by kind, to FILE (JSON)"
    )
    parser.add_argument("--codecs", action="store_true", help="measure the encoding per kind")
    parser.add_argument(
        "--events", action="store_true", help="measure CPU per watch event and per read"
    )
    parser.add_argument(
        "--pool-pass",
        type=int,
        default=0,
        metavar="N",
        help="only measure a pool pass over N workers (no sandbox)",
    )
    args = parser.parse_args()
    if args.pool_pass:
        print(f"pool pass over {args.pool_pass} workers, CPU ms: {pool_pass(args.pool_pass)}")
        return 0
    with tempfile.TemporaryDirectory(prefix="cloudtty-cache-memory-") as tmp:
        sandbox = SandboxProcess(Path(tmp), "--pod-start-delay", "0.05")
        try:
            client = KubeClient.for_url(sandbox.url, sandbox.token)
            client.set_pool_size(args.concurrency)
            prepare_namespace(client)
            harness = OperatorHarness(
                sandbox.url,
                sandbox.token,
                settings=OperatorSettings(cluster_server=sandbox.url, min_idle=0),
                config={"namespace": NAMESPACE, "pool_namespaces": (), "workers": 8},
            )
            growth: list[tracemalloc.StatisticDiff] = []
            traced = 0
            with harness:
                if args.tracemalloc:
                    tracemalloc.start()
                    before = tracemalloc.take_snapshot()
                create_shells(client, args.shells, args.concurrency)
                seconds = wait_ready(client, args.shells, 600)
                time.sleep(1)  # the last watch events reach the caches
                if args.tracemalloc:
                    after = tracemalloc.take_snapshot()
                    tracemalloc.stop()
                    every = after.compare_to(before, "lineno")
                    traced = sum(stat.size_diff for stat in every)
                    growth = every[: args.tracemalloc]
                report = measure(harness, client)
                sample = dump(harness, args.dump) if args.dump else None
                by_kind = (
                    objects_by_kind(harness) if args.save or args.codecs or args.events else {}
                )
                sent = (
                    {i.resource.kind: as_sent(client, i) for i in informers_of(harness)}
                    if args.codecs
                    else {}
                )
                if args.save:
                    Path(args.save).write_text(json.dumps(by_kind))
        finally:
            sandbox.stop()
    if sample is not None:
        print(json.dumps(sample, indent=2, sort_keys=True))
    if growth:
        print(f"traced memory grew by {traced / args.shells:.0f} B per shell; the top lines:")
    for stat in growth:
        frame = stat.traceback[0]
        print(
            f"{stat.size_diff / args.shells:>8.0f} B/shell {stat.count_diff / args.shells:>6.1f} "
            f"blocks/shell  {frame.filename}:{frame.lineno}"
        )
    encoding = codecs(by_kind, sent) if args.codecs else {}
    per_event = events(by_kind) if args.events else {}
    if args.json:
        print(
            json.dumps(
                {
                    "shells": args.shells,
                    "ready_seconds": seconds,
                    "kinds": report,
                    "encoding": encoding,
                    "events": per_event,
                }
            )
        )
        return 0
    print(f"{args.shells} cold shells Ready in {seconds:.1f} s; bytes per cached object:")
    print(f"{'kind':<26}{'objects':>8}{'cached':>10}{'as sent':>10}{'ratio':>8}{'recent KiB':>12}")
    for kind, row in sorted(report.items()):
        sent = row["as_sent_bytes_per_object"]
        ratio = f"{sent / row['cached_bytes_per_object']:.1f}x" if sent else "-"
        print(
            f"{kind:<26}{row['objects']:>8}{row['cached_bytes_per_object']:>10}"
            f"{sent if sent is not None else '-':>10}{ratio:>8}{row['recent_total_kib']:>12}"
        )
    for kind, row in per_event.items():
        print(f"{kind}: CPU microseconds per event or read: {row}")
    if encoding:
        print("encoding, per object: JSON and encoded bytes; microseconds")
        print(
            f"{'kind':<26}{'JSON':>8}{'encoded':>9}{'encode':>8}{'decode':>8}"
            f"{'compact':>9}{'trimmed':>9}"
        )
    for kind, row in encoding.items():
        print(
            f"{kind:<26}{row['json_bytes']:>8}{row['encoded_bytes']:>9}{row['encode_us']:>8}"
            f"{row['decode_us']:>8}{row['compact_us']:>9}{row['trimmed_us']:>9}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
