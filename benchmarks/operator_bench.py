"""Operator benchmark against the sandbox cluster (issue 4's targets).

Each phase gets a fresh sandbox (``cloudtty-sandbox serve``, its own process) and a fresh
operator (its own process, so its RSS is its own); this script is the client. Every request goes
to 127.0.0.1.

- warm: the pool is filled (``minIdle`` per namespace), then shells are created one after the
  other; time-to-Ready = create sent -> a watch event shows ``phase: Ready`` with an
  ``accessUrl``. API writes per shell come from the sandbox's request counters.
- cold: shells of an image backend that cannot start warm (one pod per shell, started by the
  sandbox's kubelet after ``--pod-start-delay``); the figure is time-to-Ready minus that delay.
- steady: with every shell Ready, the requests the operator sends in ``--steady-seconds``.
- burst: ``minIdle`` = the burst, then ``--burst`` shells created at once (through
  ``AsyncApi``, ``--client-concurrency`` at a time); time until all are Ready, and the CPU the
  operator, the sandbox and this script used meanwhile. The floor: a bare client (the
  official client in threads, the same concurrency) making the same writes per shell on the
  same sandbox in the same run. A second floor makes them through the runtime's ``AsyncApi``,
  whose requests the event loop writes and reads as the operator's are (the loop floor).
- rss: ``--rss-shells`` Ready shells, cold by default (``--rss-image sandbox-term
  --rss-min-idle 500``: warm shells, each batch claiming from a pool of that size); the
  operator's resident memory (VmRSS, VmHWM).

    .venv/bin/python benchmarks/operator_bench.py [--burst 1000] [--rss-shells 10000]
        [--warm 100] [--cold 10] [--pod-start-delay 2] [--phases warm,cold,steady,burst,rss]
        [--json]

Shells use the test image backends of ``cloudtty_core.runtime.testing`` (pods the sandbox
simulates, no local process), ClusterIP exposure, auth ``none`` and a kubeconfig Secret they
name (``secretRef``) -- the path with the fewest writes. Nothing here is a test: no assertion
on speed, only figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from machine import calibration_ms, machine  # beside this script
from sandbox_process import SandboxProcess  # beside this script

from cloudtty_core.crd import crd_manifest
from cloudtty_core.model import API_VERSION, KIND, PLURAL
from cloudtty_core.runtime.client import KubeClient, Resource

SHELLS = Resource(API_VERSION, KIND, PLURAL)
PODS = Resource("v1", "Pod", "pods")
SECRETS = Resource("v1", "Secret", "secrets")
KUBECONFIG_SECRET = "bench-kubeconfig"
WARM_IMAGE = "sandbox-term"
COLD_IMAGE = "sandbox-cold"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_of(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds each named process uses between :meth:`start` and :meth:`stop` -- what
    shares the machine's cores during a timed phase."""

    def __init__(self, **pids: int) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        self.used = {
            name: round(cpu_seconds(pid) - self._start[name], 2) for name, pid in self.pids.items()
        }
        return self.used


def wait_until_quiet(pid: int, timeout: float = 60.0) -> float:
    """Wait until process ``pid`` uses under 5 % of a core over a whole second (its work in
    the background done: a pod the kubelet is still starting, say); returns the wait."""
    started = time.monotonic()
    before = cpu_seconds(pid)
    while time.monotonic() - started < timeout:
        time.sleep(1.0)
        now = cpu_seconds(pid)
        if now - before < 0.05:
            break
        before = now
    return time.monotonic() - started


# ------------------------------------------------------------------------------------ processes
class Sandbox(SandboxProcess):
    """The sandbox in its child process, with a client for its counters."""

    def __init__(self, work: Path, pod_start_delay: float) -> None:
        super().__init__(work, "--pod-start-delay", str(pod_start_delay))
        self.client = KubeClient.for_url(self.url, self.token)
        self.client.set_pool_size(64)

    def counters(self) -> dict[str, Any]:
        return self.client.request("GET", "/sandbox/counters")

    def reset_counters(self) -> None:
        self.client.request("DELETE", "/sandbox/counters")


class OperatorProcess:
    """The operator in a child process (this script with ``--operator-child``)."""

    def __init__(self, sandbox: Sandbox, log: Path, **settings: Any) -> None:
        self.port = free_port()
        spec = {
            "kubeconfig": str(sandbox.kubeconfig),
            "server": sandbox.url,
            "port": self.port,
            **settings,
        }
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--operator-child", json.dumps(spec)],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 60
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the operator did not get ready; see {log}")
            time.sleep(0.05)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
            return str(r.read().decode())

    def memory(self) -> dict[str, float]:
        return memory_of(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()


def operator_child(spec_json: str) -> int:
    """Run the operator with the test image backends (the ``--operator-child`` entry)."""
    from cloudtty_core.backends import OperatorSettings
    from cloudtty_core.runtime.config import RuntimeConfig
    from cloudtty_core.runtime.operator import run_operator
    from cloudtty_core.runtime.testing import TestImages

    spec = json.loads(spec_json)
    settings = OperatorSettings(
        cluster_server=spec["server"],
        min_idle=0,
        min_idle_per_namespace=spec.get("min_idle", {}),
        always_finalize=spec.get("always_finalize", False),
    )
    config = RuntimeConfig(
        kubeconfig=spec["kubeconfig"],
        namespace=spec.get("namespace"),
        workers=spec.get("workers", 8),
        api_concurrency=spec.get("api_concurrency", 16),
        settings=settings,
        pool_namespaces=tuple(spec.get("min_idle", {})),
        metrics_port=spec["port"],
        metrics_host="127.0.0.1",
        log_level="warning",
        # The web terminal would keep a pool of real processes too; the test images suffice.
        blocked_plugins=("webterm",),
    )
    profile = os.environ.get("CLOUDTTY_BENCH_PROFILE")
    if not profile:
        return run_operator(config, extra_plugins=[("test-images", TestImages())])
    import cProfile
    import signal

    # Profiles the event loop's thread, which plans, writes and reads the caches. With
    # CLOUDTTY_BENCH_PROFILE_ON_SIGNAL set, profiling starts at SIGUSR1 (e.g. when a burst starts).
    profiler = cProfile.Profile()
    try:
        if os.environ.get("CLOUDTTY_BENCH_PROFILE_ON_SIGNAL"):
            signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())
            return run_operator(config, extra_plugins=[("test-images", TestImages())])
        return profiler.runcall(run_operator, config, extra_plugins=[("test-images", TestImages())])
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


# ------------------------------------------------------------------------------------ client side
class ReadyWatch:
    """Watches every CloudShell in a thread; records when each first shows Ready with a URL."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self.ready: dict[str, float] = {}
        self._cond = threading.Condition()
        listing = client.list(SHELLS)
        self._version = listing["metadata"]["resourceVersion"]
        self._stream: Any = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                self._stream = self.client.watch(SHELLS, None, self._version, timeout_seconds=600)
                for batch in self._stream:
                    now = time.monotonic()
                    for event in batch:
                        obj = event.get("object") or {}
                        meta = obj.get("metadata") or {}
                        if meta.get("resourceVersion"):
                            self._version = meta["resourceVersion"]
                        status = obj.get("status") or {}
                        if status.get("phase") == "Ready" and status.get("accessUrl"):
                            key = f"{meta.get('namespace')}/{meta.get('name')}"
                            with self._cond:
                                self.ready.setdefault(key, now)
                                self._cond.notify_all()
            except Exception:
                if self._stop:
                    return
                time.sleep(0.1)

    def wait(self, keys: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not all(key in self.ready for key in keys):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    missing = [k for k in keys if k not in self.ready]
                    raise TimeoutError(f"{len(missing)} shells not Ready, e.g. {missing[:3]}")
                self._cond.wait(min(remaining, 0.5))

    def close(self) -> None:
        self._stop = True
        if self._stream is not None:
            self._stream.close()


def ensure_namespace(client: KubeClient, name: str) -> None:
    with contextlib.suppress(Exception):
        client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    with contextlib.suppress(Exception):
        client.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": KUBECONFIG_SECRET, "namespace": name},
                "stringData": {"config": "apiVersion: v1\nkind: Config\n"},
            }
        )


def shell(name: str, namespace: str, image: str = WARM_IMAGE) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "exposureMode": "ClusterIP",
            "imageBackend": image,
            "secretRef": {"name": KUBECONFIG_SECRET},
        },
    }


POOL_WRITES = frozenset(
    f"create {kind}"
    for kind in (
        "serviceaccounts",
        "secrets",
        "pods",
        "roles.rbac.authorization.k8s.io",
        "rolebindings.rbac.authorization.k8s.io",
    )
)
"""Writes of the pool refilling itself: a new worker is its account, idle session Secret, pod,
Role and RoleBinding. (A warm shell's own writes are the claim -- an update of the session
Secret --, its Service, its status and an Event: no create of these kinds.)"""


def idle_workers(client: KubeClient, namespace: str) -> int:
    """Ready workers whose session Secret is idle (a claim writes that Secret)."""
    secrets = client.list(SECRETS, namespace, labels={"cloudtty.io/state": "idle"})["items"]
    idle = {s["metadata"]["labels"].get("cloudtty.io/worker") for s in secrets}
    pods = client.list(PODS, namespace)["items"]
    return sum(
        1
        for pod in pods
        if pod["metadata"]["name"] in idle
        and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (pod.get("status") or {}).get("conditions") or ()
        )
    )


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout}s: {what}")
        time.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def writes_by_resource(counters: dict[str, Any]) -> dict[str, int]:
    found: Counter[str] = Counter()
    for resource, verbs in counters["byResource"].items():
        for verb, n in verbs.items():
            if verb in ("create", "update", "patch", "delete", "deletecollection"):
                found[f"{verb} {resource}"] += n
    return dict(found)


def reads(counters: dict[str, Any]) -> int:
    by_verb = counters["byVerb"]
    return int(by_verb.get("get", 0) + by_verb.get("list", 0))


@contextlib.contextmanager
def phase_cluster(
    work: Path, name: str, pod_start_delay: float, **operator: Any
) -> Iterator[tuple[Sandbox, OperatorProcess]]:
    sandbox = Sandbox(work / name, pod_start_delay)
    try:
        sandbox.client.create(crd_manifest())
        for namespace in operator.get("min_idle", {}):
            ensure_namespace(sandbox.client, namespace)
        running = OperatorProcess(sandbox, work / f"{name}-operator.log", **operator)
        try:
            yield sandbox, running
        finally:
            running.stop()
    finally:
        sandbox.stop()


# ------------------------------------------------------------------------------------ phases
def warm_cold_steady(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Warm and cold time-to-Ready, writes per shell, reads in steady state."""
    result: dict[str, Any] = {}
    pool = max(10, args.warm // 5)
    with phase_cluster(
        work,
        "warm",
        args.pod_start_delay,
        min_idle={"warm": pool},
        workers=args.workers,
        api_concurrency=args.api_concurrency,
        always_finalize=args.finalize_always,
    ) as (sandbox, operator):
        client = sandbox.client
        ensure_namespace(client, "cold")
        wait_until(lambda: idle_workers(client, "warm") >= pool, 120, f"{pool} idle workers")
        watch = ReadyWatch(client)
        try:
            if "warm" in args.phases:
                sandbox.reset_counters()
                times = []
                for i in range(args.warm):
                    key = f"warm/w{i}"
                    started = time.monotonic()
                    client.create(shell(f"w{i}", "warm"))
                    watch.wait([key], 60)
                    times.append(watch.ready[key] - started)
                    # Shells come one at a time (the figure is per shell, not a burst); the
                    # pool refills in the background, and never runs below half its size.
                    if idle_workers(client, "warm") < pool // 2:
                        wait_until(lambda: idle_workers(client, "warm") >= pool, 60, "refill")
                time.sleep(1)  # the operator writes Events in the background
                counters = sandbox.counters()
                writes = writes_by_resource(counters)
                refills = sum(v for k, v in writes.items() if k in POOL_WRITES)
                shell_writes = {
                    k: v
                    for k, v in writes.items()
                    if k not in POOL_WRITES and not k.startswith("create cloudshells")
                }
                result["warm"] = {
                    "shells": args.warm,
                    "pool_min_idle": pool,
                    "p50_ms": 1000 * statistics.median(times),
                    "p99_ms": 1000 * percentile(times, 99),
                    "max_ms": 1000 * max(times),
                    "operator_writes_per_shell": sum(shell_writes.values()) / args.warm,
                    "operator_writes_by_kind_per_shell": {
                        k: v / args.warm for k, v in sorted(shell_writes.items())
                    },
                    "pool_refill_writes_per_shell": refills / args.warm,
                }
            if "cold" in args.phases:
                times = []
                for i in range(args.cold):
                    key = f"cold/c{i}"
                    started = time.monotonic()
                    client.create(shell(f"c{i}", "cold", COLD_IMAGE))
                    watch.wait([key], 60)
                    times.append(watch.ready[key] - started)
                result["cold"] = {
                    "shells": args.cold,
                    "pod_start_delay_s": args.pod_start_delay,
                    "p50_ms": 1000 * statistics.median(times),
                    "max_ms": 1000 * max(times),
                    "p50_over_pod_start_ms": 1000
                    * (statistics.median(times) - args.pod_start_delay),
                    "max_over_pod_start_ms": 1000 * (max(times) - args.pod_start_delay),
                }
        finally:
            watch.close()
        if "steady" in args.phases:
            time.sleep(2)
            sandbox.reset_counters()
            time.sleep(args.steady_seconds)
            counters = sandbox.counters()
            shells = len(client.list(SHELLS)["items"])
            result["steady"] = {
                "seconds": args.steady_seconds,
                "shells": shells,
                "requests": counters["byVerb"],
                "reads_per_shell": (reads(counters)) / max(shells, 1),
                "writes": counters["writes"],
            }
        result["operator_metrics_time_to_ready"] = ready_histogram(operator.metrics())
    return result


def ready_histogram(text: str) -> dict[str, Any]:
    """The operator's own time-to-Ready count and mean, by path."""
    found: dict[str, Any] = {}
    for line in text.splitlines():
        if line.startswith("cloudtty_shell_time_to_ready_seconds_"):
            name, _, value = line.rpartition(" ")
            for path in ("warm", "cold"):
                if f'path="{path}"' in name and ("_sum" in name or "_count" in name):
                    found.setdefault(path, {})["sum" if "_sum" in name else "count"] = float(value)
    for values in found.values():
        if values.get("count"):
            values["mean_ms"] = 1000 * values["sum"] / values["count"]
    return found


def operator_view(text: str) -> dict[str, Any]:
    """What the operator's own metrics say about a run: reconcile passes by result, their
    mean time, and the mean latency of its API requests by verb."""
    from prometheus_client.parser import text_string_to_metric_families

    sums: Counter[tuple[str, str]] = Counter()
    passes: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "cloudtty_reconciles_total":
                passes[f"{labels['kind']} {labels['result']}"] += sample.value
            elif sample.name.startswith("cloudtty_reconcile_duration_seconds_"):
                sums[(f"reconcile {labels['kind']}", sample.name.rsplit("_", 1)[1])] += sample.value
            elif sample.name.startswith("cloudtty_api_request_duration_seconds_"):
                sums[(f"api {labels['verb']}", sample.name.rsplit("_", 1)[1])] += sample.value
    means = {
        what: 1000 * sums[(what, "sum")] / sums[(what, "count")]
        for what, part in list(sums)
        if part == "count" and sums[(what, "count")]
    }
    return {"passes": dict(passes), "mean_ms": means}


def create_all(client: KubeClient, manifests: list[dict[str, Any]], concurrency: int) -> None:
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(client.create, m) for m in manifests]:
            future.result()


async def create_on_the_loop(
    client: KubeClient, manifests: list[dict[str, Any]], concurrency: int
) -> None:
    """Create ``manifests``, ``concurrency`` at a time, through the runtime's ``AsyncApi``:
    the cheapest client here, so that making the burst takes as little as possible of the
    cores the operator and the sandbox share."""
    from cloudtty_core.runtime.api import AsyncApi

    api = AsyncApi(client, concurrency)
    limit = asyncio.Semaphore(concurrency)

    async def one(manifest: dict[str, Any]) -> None:
        async with limit:
            await api.create(manifest)

    try:
        await asyncio.gather(*(one(m) for m in manifests))
    finally:
        api.close()


def burst(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """``--burst`` shells at once, against the floor of the same writes from a bare client."""
    n = args.burst
    with phase_cluster(
        work,
        "burst",
        args.pod_start_delay,
        # Scoped: the floor's CloudShells (namespace floor) are not the operator's business.
        namespace="burst",
        min_idle={"burst": n},
        workers=args.workers,
        api_concurrency=args.api_concurrency,
        always_finalize=args.finalize_always,
    ) as (sandbox, operator):
        client = sandbox.client
        started = time.monotonic()
        wait_until(lambda: idle_workers(client, "burst") >= n, 600, f"{n} idle workers")
        provisioned = time.monotonic() - started
        # The loop floor's idle workers are made now, so that its writes can start right
        # after the burst: the two are then timed seconds apart, not the half a minute a
        # pool of 1,000 takes to make, over which the machine's speed drifts. The operator,
        # scoped to its namespace, neither watches nor plans them.
        loop_workers = prepare_floor(sandbox, n, args, "floor-loop")
        time.sleep(2)  # let the pool's own writes settle
        speed_before_the_burst = calibration_ms()
        watch = ReadyWatch(client)
        sandbox.reset_counters()
        manifests = [shell(f"b{i}", "burst") for i in range(n)]
        meter = CpuMeter(
            operator=operator.proc.pid, sandbox=sandbox.proc.pid, benchmark=os.getpid()
        )
        meter.start()
        started = time.monotonic()
        try:
            asyncio.run(create_on_the_loop(client, manifests, args.client_concurrency))
            creating_seconds = time.monotonic() - started
            watch.wait([f"burst/b{i}" for i in range(n)], 600)
        finally:
            watch.close()
        ready_after = sorted(at - started for at in watch.ready.values())
        operator_seconds = ready_after[-1]
        operator_cpu = meter.stop()
        counters = sandbox.counters()
        writes = writes_by_resource(counters)
        memory = operator.memory()
        inside = operator_view(operator.metrics())
        # The floors, on the same sandbox, with the operator stopped (nothing else writes).
        operator.stop()
        # The sandbox may still be starting the pods of the pool's refill: the floor's
        # writes would share its core with that work.
        wait_until_quiet(sandbox.proc.pid)
        speed_before_the_loop_floor = calibration_ms()
        meter = CpuMeter(sandbox=sandbox.proc.pid, benchmark=os.getpid())
        loop_floor_after = time.monotonic() - started - operator_seconds
        loop_floor_seconds, loop_floor_writes, not_mirrored = floor(
            sandbox,
            n,
            writes,
            args,
            meter,
            workers=loop_workers,
            namespace="floor-loop",
            on_the_loop=True,
        )
        loop_floor_cpu = meter.used
        workers = prepare_floor(sandbox, n, args, "floor")
        meter = CpuMeter(sandbox=sandbox.proc.pid, benchmark=os.getpid())
        floor_seconds, floor_writes, _ = floor(sandbox, n, writes, args, meter, workers=workers)
        floor_cpu = meter.used
    return {
        "shells": n,
        "pool_provisioning_s": provisioned,
        "operator_s": operator_seconds,
        "creating_the_shells_s": creating_seconds,
        # How the shells became Ready over the burst: a long tail shows in the gap from p99.
        "ready_after_s": {f"p{q}": percentile(ready_after, q) for q in (10, 50, 90, 99)},
        "operator_writes": writes,
        "operator_requests_by_verb": dict(counters["byVerb"]),
        "floor_s": floor_seconds,
        "floor_writes": floor_writes,
        "operator_writes_not_mirrored_by_the_floor": not_mirrored,
        "ratio": operator_seconds / floor_seconds,
        "loop_floor_s": loop_floor_seconds,
        "loop_floor_writes": loop_floor_writes,
        "loop_floor_started_after_the_burst_s": loop_floor_after,
        # How fast the machine was just before each (see machine.calibration_ms).
        "calibration_ms": {
            "before_the_burst": speed_before_the_burst,
            "before_the_loop_floor": speed_before_the_loop_floor,
        },
        "ratio_to_the_loop_floor": operator_seconds / loop_floor_seconds,
        "cpu_s": {"operator": operator_cpu, "floor": floor_cpu, "loop_floor": loop_floor_cpu},
        "operator_memory_mib": memory,
        "operator_view": inside,
        "client_concurrency": args.client_concurrency,
    }


def _minimal(kind: str, name: str, namespace: str, ref: dict[str, Any]) -> dict[str, Any] | None:
    """A small object of a kind the operator creates, or None for a kind the floor does not
    know (reported as not mirrored)."""
    meta = {"name": name, "namespace": namespace}
    templates: dict[str, dict[str, Any]] = {
        "pods": {
            "apiVersion": "v1",
            "kind": "Pod",
            "spec": {"containers": [{"name": "t", "image": "example.org/fake-terminal:1"}]},
        },
        "secrets": {"apiVersion": "v1", "kind": "Secret", "stringData": {"session.json": "{}"}},
        "configmaps": {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}},
        "services": {
            "apiVersion": "v1",
            "kind": "Service",
            "spec": {"selector": {"x": name}, "ports": [{"port": 7681}]},
        },
        "serviceaccounts": {"apiVersion": "v1", "kind": "ServiceAccount"},
        "roles.rbac.authorization.k8s.io": {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "verbs": ["get"],
                    "resourceNames": [name],
                }
            ],
        },
        "rolebindings.rbac.authorization.k8s.io": {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "view",
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
        "events.events.k8s.io": {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "bench",
            "reportingInstance": "bench",
            "action": "Reconcile",
            "reason": "Bench",
            "type": "Normal",
            "regarding": {**ref, "namespace": namespace},
            "note": "floor",
        },
    }
    template = templates.get(kind)
    return None if template is None else {**template, "metadata": meta}


def prepare_floor(
    sandbox: Sandbox, n: int, args: argparse.Namespace, namespace: str
) -> list[dict[str, Any]]:
    """The floor's idle workers in ``namespace`` (a session Secret and a Ready pod each), made
    ahead so that the floor's writes can start at once; returns the session Secrets, as one
    list reads them (the operator claims from its cache)."""
    client = sandbox.client
    ensure_namespace(client, namespace)
    idle: list[dict[str, Any]] = []
    for i in range(n):
        session = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": f"idle-{i}-session",
                "namespace": namespace,
                "labels": {"cloudtty.io/state": "idle", "cloudtty.io/worker": f"idle-{i}"},
            },
        }
        pod = _minimal("pods", f"idle-{i}", namespace, {})
        assert pod is not None
        pod["metadata"]["labels"] = {"cloudtty.io/role": "worker"}
        idle += [session, pod]
    create_all(client, idle, args.client_concurrency)
    wait_until(lambda: idle_workers(client, namespace) >= n, 600, "floor pods Ready")
    time.sleep(2)
    current = {s["metadata"]["name"]: s for s in client.list(SECRETS, namespace)["items"]}
    workers = [current[f"idle-{i}-session"] for i in range(n)]
    return workers


def floor(
    sandbox: Sandbox,
    n: int,
    operator_writes: dict[str, int],
    args: argparse.Namespace,
    meter: CpuMeter,
    *,
    workers: list[dict[str, Any]],
    namespace: str = "floor",
    on_the_loop: bool = False,
) -> tuple[float, dict[str, int], list[str]]:
    """A bare client doing the writes the operator did, shell by shell: the same number of
    each verb and kind (the finalizer patch, the worker claim, the objects it creates, the
    status, the Events, the pool's refill pods). Returns the time, the writes the sandbox
    counted, and the operator's writes the floor could not mirror; ``meter`` measures the
    CPU used while the writes are made.

    The client is the official one in threads, or (``on_the_loop``) the runtime's
    ``AsyncApi``, which writes and reads the requests on the event loop as the operator does.
    """
    client = sandbox.client
    shells = f"{PLURAL}.{API_VERSION.split('/')[0]}"
    special = {f"create {shells}", f"patch {shells}", f"update {shells}/status", "update secrets"}
    creates = {
        key.removeprefix("create "): total
        for key, total in operator_writes.items()
        if key.startswith("create ") and key not in special
    }
    not_mirrored = [
        key
        for key in operator_writes
        if key not in special
        and not (key.startswith("create ") and _minimal(key[7:], "x", "x", {}) is not None)
    ]

    def share(total: int, i: int) -> int:
        """Shell ``i``'s share of ``total`` writes (Events, for one, are not one per shell:
        the recorder aggregates them)."""
        return total * (i + 1) // n - total * i // n

    sandbox.reset_counters()

    def follow_up(i: int, created: dict[str, Any]) -> Generator[Step, Any, None]:
        """Shell ``i``'s writes after its creation, as steps (verb, arguments, options); each
        step's answer is sent back in."""
        from cloudtty_core.backends import ObjectRef

        name = created["metadata"]["name"]
        ref = {"apiVersion": API_VERSION, "kind": KIND, "name": name}
        ref["uid"] = created["metadata"]["uid"]
        for _ in range(share(operator_writes.get(f"patch {shells}", 0), i)):
            created = yield (
                "patch",
                (
                    ObjectRef(API_VERSION, KIND, namespace, name),
                    {"metadata": {"finalizers": ["cloudshell.cloudtty.io/finalizer"]}},
                ),
                {},
            )
        session = dict(workers[i])
        session["metadata"] = {
            **session["metadata"],
            "labels": {**session["metadata"]["labels"], "cloudtty.io/state": "claimed"},
            "ownerReferences": [{**ref, "controller": True}],
        }
        session["stringData"] = {"session.json": json.dumps({"shell": name})}
        for _ in range(share(operator_writes.get("update secrets", 0), i)):
            session = yield ("replace", (session,), {})
        for kind, total in creates.items():
            for j in range(share(total, i)):
                obj = _minimal(kind, f"{name}-{j}", namespace, ref)
                if obj is not None:
                    yield ("create", (obj,), {})
        for _ in range(share(operator_writes.get(f"update {shells}/status", 0), i)):
            body = dict(created)
            body["status"] = {"phase": "Ready", "accessUrl": f"http://{name}.{namespace}:7681/"}
            created = yield ("replace", (body,), {"subresource": "status"})

    meter.start()
    started = time.monotonic()
    if on_the_loop:
        asyncio.run(_floor_on_the_loop(client, n, namespace, follow_up, args))
    else:
        _floor_in_threads(client, n, namespace, follow_up, args)
    seconds = time.monotonic() - started
    meter.stop()
    return seconds, writes_by_resource(sandbox.counters()), not_mirrored


Step = tuple[str, tuple[Any, ...], dict[str, Any]]
FollowUp = Callable[[int, dict[str, Any]], Generator[Step, Any, None]]


def _floor_in_threads(
    client: KubeClient, n: int, namespace: str, follow_up: FollowUp, args: argparse.Namespace
) -> None:
    """The floor's writes through the official client: ``--client-concurrency`` threads
    create the shells, ``--api-concurrency`` threads write what follows each."""

    def run(steps: Generator[Step, Any, None]) -> None:
        answer = None
        with contextlib.suppress(StopIteration):
            while True:
                verb, positional, options = steps.send(answer)
                answer = getattr(client, verb)(*positional, **options)

    with (
        ThreadPoolExecutor(args.client_concurrency) as creators,
        ThreadPoolExecutor(args.api_concurrency) as writers,
    ):
        chains: list[Future[None]] = []
        lock = threading.Lock()

        def created(i: int, future: Future[dict[str, Any]]) -> None:
            with lock:
                chains.append(writers.submit(run, follow_up(i, future.result())))

        futures = []
        for i in range(n):
            future = creators.submit(client.create, shell(f"b{i}", namespace))
            future.add_done_callback(lambda f, i=i: created(i, f))
            futures.append(future)
        for future in futures:
            future.result()
        while True:
            with lock:
                pending = list(chains)
            if len(pending) == n:
                break
            time.sleep(0.01)
        for chain in pending:
            chain.result()


async def _floor_on_the_loop(
    client: KubeClient, n: int, namespace: str, follow_up: FollowUp, args: argparse.Namespace
) -> None:
    """The floor's writes through the runtime's ``AsyncApi`` (requests on the event loop):
    ``--client-concurrency`` shells created at once, ``--api-concurrency`` requests at most."""
    from cloudtty_core.runtime.api import AsyncApi

    api = AsyncApi(client, args.api_concurrency + args.client_concurrency)
    creating = asyncio.Semaphore(args.client_concurrency)
    writing = asyncio.Semaphore(args.api_concurrency)

    async def chain(i: int) -> None:
        async with creating:
            created = await api.create(shell(f"b{i}", namespace))
        steps = follow_up(i, created)
        answer = None
        with contextlib.suppress(StopIteration):
            while True:
                verb, positional, options = steps.send(answer)
                async with writing:
                    answer = await getattr(api, verb)(*positional, **options)

    try:
        await asyncio.gather(*(chain(i) for i in range(n)))
    finally:
        api.close()


def rss(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The operator's memory as Ready shells accumulate, up to ``--rss-shells`` or until
    ``--rss-max-seconds`` have passed (the figures then stop where the run got to)."""
    n = args.rss_shells
    step = 500
    pool = {"min_idle": {"rss": args.rss_min_idle}} if args.rss_min_idle else {}
    with phase_cluster(
        work,
        "rss",
        0.05,
        namespace="rss",
        **pool,
        workers=args.workers,
        api_concurrency=args.api_concurrency,
        always_finalize=args.finalize_always,
    ) as (sandbox, operator):
        client = sandbox.client
        ensure_namespace(client, "rss")
        idle_memory = operator.memory()
        watch = ReadyWatch(client)
        started = time.monotonic()
        points: list[dict[str, float]] = []
        try:
            for first in range(0, n, step):
                last = min(n, first + step)
                batch = [shell(f"r{i}", "rss", args.rss_image) for i in range(first, last)]
                if args.rss_min_idle:
                    # Every shell of the batch claims a worker: none waits for a refill.
                    wanted = min(last - first, args.rss_min_idle)
                    wait_until(
                        lambda wanted=wanted: idle_workers(client, "rss") >= wanted,
                        1800,
                        f"{wanted} idle workers",
                    )
                create_all(client, batch, args.client_concurrency)
                watch.wait([f"rss/r{i}" for i in range(first, last)], 1800)
                points.append(
                    {
                        "ready_shells": last,
                        "seconds": time.monotonic() - started,
                        "rss_mib": operator.memory()["VmRSS"],
                    }
                )
                print(f"rss: {points[-1]}", file=sys.stderr, flush=True)
                if time.monotonic() - started > args.rss_max_seconds:
                    break
        finally:
            watch.close()
        time.sleep(5)
        memory = operator.memory()
        sandbox_memory = memory_of(sandbox.proc.pid)
    shells = points[-1]["ready_shells"] if points else 0
    per_shell_kib = (
        1024 * (points[-1]["rss_mib"] - idle_memory["VmRSS"]) / shells if shells else None
    )
    return {
        "target_shells": n,
        "ready_shells": shells,
        "trajectory": points,
        "operator_memory_mib": memory,
        "operator_memory_idle_mib": idle_memory,
        "per_shell_kib": per_shell_kib,
        "sandbox_memory_mib": sandbox_memory,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--operator-child", help=argparse.SUPPRESS)
    parser.add_argument("--warm", type=int, default=100, help="shells for warm time-to-Ready")
    parser.add_argument("--cold", type=int, default=10, help="shells for cold time-to-Ready")
    parser.add_argument("--burst", type=int, default=1000, help="shells created at once")
    parser.add_argument("--rss-shells", type=int, default=10_000, help="shells for the RSS")
    parser.add_argument(
        "--rss-image",
        default=COLD_IMAGE,
        help="image backend of the RSS shells (the cold one needs no pool)",
    )
    parser.add_argument(
        "--rss-min-idle",
        type=int,
        default=0,
        help="minIdle of the RSS shells' pool: with --rss-image sandbox-term, warm shells",
    )
    parser.add_argument(
        "--rss-max-seconds",
        type=float,
        default=1800,
        help="stop adding RSS shells after this long (the sandbox slows down with size)",
    )
    parser.add_argument("--pod-start-delay", type=float, default=2.0)
    parser.add_argument("--steady-seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=8, help="operator --workers")
    parser.add_argument("--api-concurrency", type=int, default=16, help="operator's")
    parser.add_argument("--client-concurrency", type=int, default=32, help="creating shells")
    parser.add_argument(
        "--finalize-always", action="store_true", help="the operator's --finalize-always"
    )
    parser.add_argument("--phases", default="warm,cold,steady,burst,rss")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.operator_child:
        return operator_child(args.operator_child)
    args.phases = set(args.phases.split(","))
    report: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            k: getattr(args, k)
            for k in (
                "workers",
                "api_concurrency",
                "client_concurrency",
                "pod_start_delay",
                "finalize_always",
            )
        },
    }
    with tempfile.TemporaryDirectory(prefix="cloudtty-operator-bench-") as tmp:
        work = Path(tmp)
        try:
            if args.phases & {"warm", "cold", "steady"}:
                report.update(warm_cold_steady(args, work))
                print(json.dumps(report, indent=2), file=sys.stderr, flush=True)
            if "burst" in args.phases:
                report["burst"] = burst(args, work)
                print(json.dumps(report["burst"], indent=2), file=sys.stderr, flush=True)
            if "rss" in args.phases:
                report["rss"] = rss(args, work)
        except BaseException:
            for log in sorted(work.glob("*-operator.log")):
                tail = log.read_text()[-2000:]
                print(f"--- {log.name}\n{tail}", file=sys.stderr)
            raise
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
