"""CPU of planning alone: ``plan()`` and ``plan_pool()`` in this process, no server.

The shells and the pool are those of ``operator_bench.py --phases burst``: the test image
backend with a warm pool (``sandbox-term``), ClusterIP exposure, auth ``none`` and a kubeconfig
Secret the shells name (``secretRef``). The cluster is built with the pure simulation kit
(``plan_pool`` and ``plan`` applied through ``apply_plan``) and then read through a view like
the runtime's: cached objects handed out without copies, label lookups through an index, and
the idle session Secrets of the pool in the order they became idle. The plugins are loaded as
the operator loads them, so the hooks the planner calls are the real plugin manager's, and the
garbage collector is set as the operator's process sets it (``--default-gc``: CPython's
defaults), its long-lived objects -- here the cluster -- set aside once built.

Cases, each CPU time per call (``time.process_time`` over ``--iterations`` calls, best of
``--repeat`` runs):

- claim: the first pass of a new shell, which claims an idle warm worker from a pool of
  ``--pool`` idle workers;
- ready: the pass on a shell that is Ready already (the plan is empty);
- pool: one ``plan_pool`` pass over ``--pool`` idle workers and ``--claimed`` claimed ones
  (nothing to write: ``minIdle`` is the pool size);
- refill: the same pass with ``minIdle`` raised by ``--claimed`` (it creates a batch of new
  workers' ServiceAccounts).

    .venv/bin/python benchmarks/plan_bench.py [--pool 1000] [--claimed 100]
        [--iterations 2000] [--repeat 3] [--default-gc] [--json]

Figures only, no assertion on speed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from machine import machine  # beside this script

from cloudtty_core.backends import ObjectRef, OperatorSettings, PoolKey, Snapshot
from cloudtty_core.model import API_VERSION, KIND, Manifest, shell_to_dict, structure_shell
from cloudtty_core.plan import (
    LABEL_POOL,
    LABEL_SHELL,
    LABEL_SHELL_UID,
    LABEL_STATE,
    LABEL_WORKER,
    STATE_CLAIMED,
    STATE_IDLE,
    Plan,
    PlanContext,
    claimable_worker,
    claimed_worker,
    plan,
    plan_pool,
    pool_labels,
)
from cloudtty_core.plugins import load_plugins
from cloudtty_core.runtime.collector import collect_rarely, set_aside_long_lived
from cloudtty_core.runtime.testing import WARM_IMAGE, TestImages
from cloudtty_core.simulation import NOW, apply_plan

NAMESPACE = "bench"
KUBECONFIG_SECRET = "bench-kubeconfig"
INDEXED_LABELS = (LABEL_SHELL_UID, LABEL_POOL, LABEL_SHELL, LABEL_STATE)
"""The labels the runtime's informers index (see the operator)."""


# ------------------------------------------------------------------------------ the cluster view
class CacheLikeView:
    """A :class:`~cloudtty_core.ClusterView` that reads like the runtime's caches: objects as
    stored (no copy), ``list`` through a label index and sorted by namespace and name."""

    def __init__(self, objects: Mapping[ObjectRef, Manifest]) -> None:
        self.objects: dict[tuple[str, str], dict[tuple[str, str], Manifest]] = {}
        self.index: dict[tuple[str, str], dict[tuple[str, str], set[tuple[str, str]]]] = {}
        for ref, obj in objects.items():
            kind = (ref.api_version, ref.kind)
            key = (ref.namespace or "", ref.name)
            self.objects.setdefault(kind, {})[key] = obj
            by_label = self.index.setdefault(kind, {})
            for label, value in ((obj.get("metadata") or {}).get("labels") or {}).items():
                if label in INDEXED_LABELS:
                    by_label.setdefault((label, value), set()).add(key)

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Manifest | None:
        return self.objects.get((api_version, kind), {}).get((namespace or "", name))

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: Mapping[str, str] | None = None,
    ) -> Sequence[Manifest]:
        stored = self.objects.get((api_version, kind), {})
        index = self.index.get((api_version, kind), {})
        candidates: set[tuple[str, str]] | None = None
        for label, value in (label_selector or {}).items():
            if label in INDEXED_LABELS:
                keys = index.get((label, value), set())
                if candidates is None or len(keys) < len(candidates):
                    candidates = keys
        keys = stored if candidates is None else candidates
        found = []
        for key in sorted(keys):
            if namespace is not None and key[0] != namespace:
                continue
            obj = stored[key]
            labels = (obj.get("metadata") or {}).get("labels") or {}
            if all(labels.get(k) == v for k, v in (label_selector or {}).items()):
                found.append(obj)
        return found

    def has_api(self, api_version: str, kind: str) -> bool:
        return True


class IdleFirstPoolView:
    """The :class:`~cloudtty_core.PoolView` the runtime gives a shell: idle session Secrets in
    the order they became idle, each checked with ``claimable_worker`` until one fits; and
    the pool pass's workers without the claimed ones, left out by name before they are read
    (the runtime keeps both indexes from Secret events)."""

    def __init__(self, view: CacheLikeView) -> None:
        self.view = view
        secrets = view.objects.get(("v1", "Secret"), {}).values()
        idle = [
            s for s in secrets if (s["metadata"].get("labels") or {}).get(LABEL_STATE) == STATE_IDLE
        ]
        idle.sort(key=lambda s: int(s["metadata"]["resourceVersion"]))
        self.idle = [(s["metadata"]["namespace"], s["metadata"]["name"]) for s in idle]
        self.claimed = {
            (s["metadata"]["namespace"], s["metadata"]["labels"][LABEL_WORKER])
            for s in secrets
            if (s["metadata"].get("labels") or {}).get(LABEL_STATE) == STATE_CLAIMED
            and LABEL_POOL in s["metadata"]["labels"]
        }

    def unclaimed(self, key: PoolKey, api_version: str, kind: str) -> list[Manifest]:
        found = self.view.list(api_version, kind, key.namespace, pool_labels(key))
        return [o for o in found if (key.namespace, o["metadata"]["name"]) not in self.claimed]

    def idle_workers(self, key: PoolKey) -> Iterator[Manifest]:
        for namespace, name in self.idle:
            session = self.view.get("v1", "Secret", namespace, name)
            pod = claimable_worker(session, key, self.view) if session is not None else None
            if pod is not None:
                yield pod


# ------------------------------------------------------------------------------------ the inputs
def counter(prefix: str) -> Callable[[], str]:
    """A deterministic name or token source."""
    numbers = itertools.count()
    return lambda: f"{prefix}{next(numbers):06d}"


def pool_settings(min_idle: int) -> OperatorSettings:
    """The operator's settings with ``min_idle`` warm workers in the benchmark's namespace."""
    return OperatorSettings(
        cluster_server="https://127.0.0.1:6443",
        min_idle=0,
        min_idle_per_namespace={NAMESPACE: min_idle},
    )


def bench_context(pool_size: int) -> tuple[PlanContext, PoolKey]:
    """The plugins as the operator loads them (the web terminal blocked, the test images
    added), and the key of the benchmark's pool."""
    loaded = load_plugins(blocked=("webterm",), extra=[("test-images", TestImages())])
    settings = pool_settings(pool_size)
    context = PlanContext(
        registry=loaded.registry,
        settings=settings,
        token_source=counter("token"),
        hooks=loaded.hooks,
        name_source=counter("w"),
    )
    image = loaded.registry.image(WARM_IMAGE)
    return context, PoolKey(NAMESPACE, WARM_IMAGE, settings.image_for(image))


def shell(name: str) -> Manifest:
    """A shell like ``operator_bench.py`` creates, with the CRD's defaults filled in."""
    return shell_to_dict(
        structure_shell(
            {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {
                    "exposureMode": "ClusterIP",
                    "imageBackend": WARM_IMAGE,
                    "secretRef": {"name": KUBECONFIG_SECRET},
                },
            }
        )
    )


def kubeconfig_secret() -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": KUBECONFIG_SECRET, "namespace": NAMESPACE},
        "stringData": {"config": "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\n"},
    }


def start_pods(snapshot: Snapshot) -> Snapshot:
    """Every Pending pod Running and Ready (one new snapshot: the simulation kit's kubelet
    makes one per pod, too slow for a pool of thousands)."""
    objects = dict(snapshot.objects)
    version = max(int(o["metadata"].get("resourceVersion") or 0) for o in objects.values())
    for ref, obj in sorted(objects.items()):
        if ref.kind != "Pod" or (obj.get("status") or {}).get("phase", "Pending") != "Pending":
            continue
        version += 1
        meta = {**obj["metadata"], "resourceVersion": str(version)}
        status = {
            "phase": "Running",
            "podIP": "127.0.1.1",
            "conditions": [{"type": "Ready", "status": "True"}],
        }
        objects[ref] = {**obj, "metadata": meta, "status": status}
    return Snapshot(objects, snapshot.apis)


def fill_pool(
    snapshot: Snapshot, key: PoolKey, context: PlanContext, size: int
) -> tuple[Snapshot, int]:
    """The pool of ``key`` filled to ``size`` Ready idle workers; also the passes it took."""
    settings = pool_settings(size)
    for passes in itertools.count(1):
        view = CacheLikeView(snapshot.objects)
        result = plan_pool(
            key, view, IdleFirstPoolView(view), settings, context.registry, counter(f"p{passes}-")
        )
        if result.is_empty:
            return start_pods(snapshot), passes
        snapshot = apply_plan(snapshot, result, now=NOW)
        if passes > 10 + 3 * size:
            raise RuntimeError("the pool does not fill")
    raise AssertionError("unreachable")


def create_shell(snapshot: Snapshot, name: str) -> tuple[Snapshot, ObjectRef]:
    """A new shell as the API server stores it (uid, resourceVersion, generation)."""
    return apply_plan(snapshot, Plan(creates=(shell(name),)), now=NOW), ObjectRef(
        API_VERSION, KIND, NAMESPACE, name
    )


def plan_shell(snapshot: Snapshot, ref: ObjectRef, context: PlanContext) -> Plan:
    view = CacheLikeView(snapshot.objects)
    raw = view.get(ref.api_version, ref.kind, ref.namespace, ref.name)
    assert raw is not None
    return plan(raw, view, IdleFirstPoolView(view), NOW, context)


def make_ready(snapshot: Snapshot, ref: ObjectRef, context: PlanContext) -> Snapshot:
    """Plan and apply the shell until its plan is empty (it claims a worker on the way)."""
    for _ in range(6):
        result = plan_shell(snapshot, ref, context)
        if result.is_empty:
            return snapshot
        snapshot = apply_plan(snapshot, result, shell=ref, now=NOW)
    raise RuntimeError(f"{ref} does not settle")


def cluster(pool: int, claimed: int, context: PlanContext, key: PoolKey) -> dict[str, Any]:
    """The snapshot with ``pool`` + ``claimed`` workers, ``claimed`` of them serving Ready
    shells, plus one Ready shell and one new shell (not planned yet)."""
    snapshot = apply_plan(Snapshot(), Plan(creates=(kubeconfig_secret(),)), now=NOW)
    snapshot, passes = fill_pool(snapshot, key, context, pool + claimed + 1)
    for i in range(claimed):
        snapshot, ref = create_shell(snapshot, f"claimed-{i:04d}")
        snapshot = make_ready(snapshot, ref, context)
    snapshot, ready = create_shell(snapshot, "ready")
    snapshot = make_ready(snapshot, ready, context)
    snapshot, new = create_shell(snapshot, "new")
    return {"snapshot": snapshot, "ready": ready, "new": new, "pool_passes": passes}


# ------------------------------------------------------------------------------------ measuring
def cpu_us(call: Callable[[], object], iterations: int, repeat: int) -> float:
    """CPU microseconds per call, the best of ``repeat`` runs of ``iterations`` calls."""
    call()  # warm caches the first call fills
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for _ in range(iterations):
            call()
        best = min(best, (time.process_time() - started) / iterations)
    return best * 1e6


def run(pool: int, claimed: int, iterations: int, repeat: int, operator_gc: bool) -> dict[str, Any]:
    if operator_gc:
        collect_rarely()
    context, key = bench_context(pool)
    built = cluster(pool, claimed, context, key)
    snapshot: Snapshot = built["snapshot"]
    view = CacheLikeView(snapshot.objects)
    pools = IdleFirstPoolView(view)
    if operator_gc:
        set_aside_long_lived()  # as the operator does once its caches synced

    def shell_pass(ref: ObjectRef) -> Callable[[], Plan]:
        raw = view.get(ref.api_version, ref.kind, ref.namespace, ref.name)
        return lambda: plan(raw, view, pools, NOW, context)

    claim_pass, ready_pass = shell_pass(built["new"]), shell_pass(built["ready"])
    first = claim_pass()
    claims = [w for w in map(claimed_worker, first.updates) if w is not None]
    if len(claims) != 1 or first.status is None:
        raise RuntimeError(f"the new shell's pass does not claim a worker: {first!r}")
    if not ready_pass().is_empty:
        raise RuntimeError(f"the Ready shell's pass writes: {ready_pass()!r}")

    # The Ready shell and the claimed shells took theirs; the new shell's is still idle.
    idle_now = pool

    def pool_pass(min_idle: int) -> Callable[[], Plan]:
        settings = pool_settings(min_idle)
        return lambda: plan_pool(key, view, pools, settings, context.registry, context.name_source)

    steady_pass = pool_pass(idle_now)
    if not steady_pass().is_empty:
        raise RuntimeError("the steady pool pass writes")
    refill_pass = pool_pass(idle_now + claimed)
    if not refill_pass().creates:
        raise RuntimeError("the refilling pool pass creates nothing")

    pool_iterations = max(1, iterations // 50)
    return {
        "machine": machine(),
        "pool_idle": idle_now,
        "pool_claimed": claimed + 1,
        "objects": len(snapshot),
        "iterations": {"shell": iterations, "pool": pool_iterations},
        "repeat": repeat,
        "gc": "operator" if operator_gc else "CPython defaults",
        "cpu_us": {
            "claim": cpu_us(claim_pass, iterations, repeat),
            "ready": cpu_us(ready_pass, iterations, repeat),
            "pool": cpu_us(steady_pass, pool_iterations, repeat),
            "refill": cpu_us(refill_pass, pool_iterations, repeat),
        },
        "refill_creates": len(refill_pass().creates),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", type=int, default=1000, help="idle warm workers")
    parser.add_argument("--claimed", type=int, default=100, help="workers serving Ready shells")
    parser.add_argument("--iterations", type=int, default=2000, help="shell passes per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (best is kept)")
    parser.add_argument(
        "--default-gc", action="store_true", help="leave the garbage collector at its defaults"
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    result = run(args.pool, args.claimed, args.iterations, args.repeat, not args.default_gc)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    cpu = result["cpu_us"]
    print(
        f"pool: {result['pool_idle']} idle, {result['pool_claimed']} claimed workers; "
        f"{result['objects']} objects; garbage collector: {result['gc']}"
    )
    print(f"claim   (new shell claims a warm worker)  {cpu['claim']:9.1f} us CPU per pass")
    print(f"ready   (Ready shell, empty plan)          {cpu['ready']:9.1f} us CPU per pass")
    print(f"pool    (plan_pool, nothing to write)      {cpu['pool']:9.1f} us CPU per pass")
    refill = f"refill  (plan_pool, {result['refill_creates']} new accounts)"
    print(f"{refill:<43}{cpu['refill']:9.1f} us CPU per pass")
    print(f"machine: {result['machine']}")


if __name__ == "__main__":
    main()
