"""The sandbox under an operator's burst: the writes of many CloudShells at once, with the
operator's watches open.

Per shell (the writes an operator and its kubelet-facing side make for one shell): create a
CloudShell, a ServiceAccount, a Role, a RoleBinding, a Secret, a Pod (the sandbox's kubelet
makes it Ready), a Service selecting the pod, an events.k8s.io Event, then PUT the CloudShell's
status and PUT the Secret with its resourceVersion as precondition -- 10 requests. Meanwhile
``--watchers`` all-namespace watches (cloudshells, pods, services, secrets, serviceaccounts,
roles, rolebindings, in that order) stay open, as an operator's informers would.

Each ``--shells`` figure gets a fresh sandbox (``cloudtty-sandbox serve``, its own process);
this script is the client (aiohttp, ``--concurrency`` shells in flight). It reports requests/s
over the whole burst and over its last ``--tail`` shells (when that many shells are already
stored), the sandbox's CPU time per request (from /proc, so the client's own cost is not in
it), the server-side time per request from the sandbox's counters, and the time until every pod
is Ready. Every request goes to 127.0.0.1.

    .venv/bin/python benchmarks/sandbox_burst_bench.py [--shells 1000,5000] [--concurrency 32]
        [--watchers 6] [--pod-start-delay 0.05] [--tail 1000] [--py-spy DIR] [--json]

``--py-spy DIR`` records the sandbox with py-spy (when installed) during each burst and writes
collapsed stacks plus the top functions by own time into DIR. Nothing here is a test: no
assertion on speed, only figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from machine import machine  # beside this script
from sandbox_process import SandboxProcess  # beside this script

from cloudtty_core.crd import crd_manifest
from cloudtty_core.model import API_VERSION, KIND, PLURAL

NAMESPACE = "burst"
SHELL_GROUP = API_VERSION.split("/")[0]
SHELLS_PATH = f"/apis/{API_VERSION}"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
WATCHED = (
    f"{SHELLS_PATH}/{PLURAL}",
    "/api/v1/pods",
    "/api/v1/services",
    "/api/v1/secrets",
    "/api/v1/serviceaccounts",
    f"{RBAC}/roles",
    f"{RBAC}/rolebindings",
)
REQUESTS_PER_SHELL = 10


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------ objects
def shell_objects(i: int) -> dict[str, dict[str, Any]]:
    """The bodies of one shell's creates (ownerReferences are filled in once the shell exists)."""
    name = f"shell-{i}"
    labels = {"cloudtty.io/shell": name, "cloudtty.io/role": "worker"}
    return {
        "shell": {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": name, "labels": {"bench": "burst"}},
            "spec": {"exposureMode": "ClusterIP", "secretRef": {"name": "bench-kubeconfig"}},
        },
        "serviceaccount": {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {}},
        "role": {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {},
            "rules": [
                {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}
            ],
        },
        "rolebinding": {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}],
        },
        "secret": {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {},
            "stringData": {"config": "apiVersion: v1\nkind: Config\n", "session.json": "{}"},
        },
        "pod": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"labels": labels},
            "spec": {
                "serviceAccountName": name,
                "containers": [
                    {
                        "name": "terminal",
                        "image": "example.org/fake-terminal:1",
                        "ports": [{"name": "http", "containerPort": 7681}],
                    }
                ],
            },
        },
        "service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {},
            "spec": {
                "selector": {"cloudtty.io/shell": name},
                "ports": [{"name": "http", "port": 7681, "targetPort": "http"}],
            },
        },
        "event": {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": f"{name}.burst"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "type": "Normal",
            "reason": "Ready",
            "action": "Reconcile",
            "note": "the shell is ready",
            "reportingController": "cloudtty.io/operator",
            "reportingInstance": "bench",
        },
    }


class Client:
    """JSON requests to the sandbox; any unexpected status is an error naming the request."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def send(self, method: str, path: str, body: Any, expect: int) -> dict[str, Any]:
        async with self.session.request(method, path, data=orjson.dumps(body)) as resp:
            raw = await resp.read()
            if resp.status != expect:
                raise RuntimeError(f"{method} {path}: {resp.status} {raw[:300]!r}")
            result: dict[str, Any] = orjson.loads(raw)
            return result


async def one_shell(client: Client, i: int) -> None:
    """The ten requests of one shell, one after the other (each needs the one before)."""
    objects = shell_objects(i)
    name = f"shell-{i}"
    ns = f"/api/v1/namespaces/{NAMESPACE}"
    shell = await client.send(
        "POST", f"{SHELLS_PATH}/namespaces/{NAMESPACE}/{PLURAL}", objects["shell"], 201
    )
    owner = [
        {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": name,
            "uid": shell["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    for key in ("serviceaccount", "role", "rolebinding", "secret", "pod", "service", "event"):
        objects[key]["metadata"].setdefault("name", name)
        objects[key]["metadata"]["ownerReferences"] = owner
    await client.send("POST", f"{ns}/serviceaccounts", objects["serviceaccount"], 201)
    await client.send("POST", f"{RBAC}/namespaces/{NAMESPACE}/roles", objects["role"], 201)
    await client.send(
        "POST", f"{RBAC}/namespaces/{NAMESPACE}/rolebindings", objects["rolebinding"], 201
    )
    secret = await client.send("POST", f"{ns}/secrets", objects["secret"], 201)
    await client.send("POST", f"{ns}/pods", objects["pod"], 201)
    await client.send("POST", f"{ns}/services", objects["service"], 201)
    await client.send(
        "POST", f"/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events", objects["event"], 201
    )
    shell["status"] = {"phase": "Ready", "accessUrl": f"http://{name}.{NAMESPACE}:7681/"}
    await client.send(
        "PUT", f"{SHELLS_PATH}/namespaces/{NAMESPACE}/{PLURAL}/{name}/status", shell, 200
    )
    secret.pop("stringData", None)
    secret["data"] = {**secret.get("data", {}), "token": "dG9rZW4="}
    await client.send("PUT", f"{ns}/secrets/{name}", secret, 200)


# ------------------------------------------------------------------------------------ watches
class Watches:
    """The operator's all-namespace watches; counts events and which pods are Ready."""

    def __init__(self, session: aiohttp.ClientSession, paths: tuple[str, ...], rv: str) -> None:
        self.session = session
        self.rv = rv
        self.events: Counter[str] = Counter()
        self.ready_pods: set[str] = set()
        self.ready_changed = asyncio.Event()
        self.opened = [asyncio.Event() for _ in paths]
        self.tasks = [
            asyncio.create_task(self._watch(path, opened))
            for path, opened in zip(paths, self.opened, strict=True)
        ]

    async def _watch(self, path: str, opened: asyncio.Event) -> None:
        url = f"{path}?watch=1&allowWatchBookmarks=true&resourceVersion={self.rv}"
        pods = path == "/api/v1/pods"
        buffer = b""
        async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as resp:
            opened.set()
            async for chunk in resp.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self.events[path] += 1
                    if pods and b'"Ready","status":"True"' in line:
                        event = orjson.loads(line)
                        self.ready_pods.add(event["object"]["metadata"]["name"])
                        self.ready_changed.set()

    async def wait_open(self) -> None:
        await asyncio.gather(*(o.wait() for o in self.opened))

    async def until_ready(self, names: set[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not names <= self.ready_pods:
            self.ready_changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ready_changed.wait(), min(left, 1.0))
        return True

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


# ------------------------------------------------------------------------------------ profiler
def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    binary = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if binary is None:
        print("py-spy is not installed: no profile")
        return None
    return subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--output",
            str(out),
            "--rate",
            "200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_py_spy(proc: subprocess.Popen[bytes], out: Path) -> None:
    proc.send_signal(2)  # SIGINT: py-spy writes what it recorded
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(30)
    if not out.exists():
        return
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"samples: {total}", "", "own time:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(40)]
    lines += ["", "inclusive time:"]
    lines += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(60)]
    out.with_suffix(".top.txt").write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------ run
async def burst(args: argparse.Namespace, n: int, work: Path) -> dict[str, Any]:
    sandbox = SandboxProcess(work, "--pod-start-delay", str(args.pod_start_delay))
    headers = {"Authorization": f"Bearer {sandbox.token}", "Content-Type": "application/json"}
    try:
        connector = aiohttp.TCPConnector(limit=args.concurrency + args.watchers + 8)
        async with aiohttp.ClientSession(
            sandbox.url, connector=connector, headers=headers
        ) as session:
            client = Client(session)
            await client.send("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}}, 201)
            await client.send(
                "POST",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                crd_manifest(),
                201,
            )
            listing = await client.send("GET", "/api/v1/namespaces", None, 200)
            watches = Watches(
                session, WATCHED[: args.watchers], listing["metadata"]["resourceVersion"]
            )
            await watches.wait_open()
            await session.delete("/sandbox/counters")
            spy = None
            if args.py_spy:
                spy_out = Path(args.py_spy) / f"sandbox-{n}.txt"
                spy = start_py_spy(sandbox.proc.pid, spy_out)
            cpu_before = cpu_seconds(sandbox.proc.pid)
            done_at: list[float] = []
            indices = iter(range(n))

            async def worker() -> None:
                for i in indices:
                    await one_shell(client, i)
                    done_at.append(time.perf_counter())

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            writes_done = time.perf_counter()
            cpu_writes = cpu_seconds(sandbox.proc.pid) - cpu_before
            ready = await watches.until_ready({f"shell-{i}" for i in range(n)}, 600)
            all_ready = time.perf_counter()
            cpu_total = cpu_seconds(sandbox.proc.pid) - cpu_before
            if spy is not None:
                stop_py_spy(spy, spy_out)
            async with session.get("/sandbox/counters") as resp:
                counters = await resp.json()
            await asyncio.sleep(0.5)  # let the watches deliver what is still in flight
            await watches.close()
    finally:
        sandbox.stop()
    elapsed = writes_done - started
    tail = min(args.tail, n // 2)
    tail_start = done_at[-tail - 1] if tail < len(done_at) else started
    tail_rate = tail * REQUESTS_PER_SHELL / (done_at[-1] - tail_start)
    requests = n * REQUESTS_PER_SHELL
    return {
        "shells": n,
        "requests": requests,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(requests / elapsed),
        "tail_shells": tail,
        "tail_requests_per_s": round(tail_rate),
        "sandbox_cpu_s": round(cpu_total, 2),
        "sandbox_cpu_ms_per_request": round(1000 * cpu_writes / requests, 3),
        "server_ms": counters["serverTimeMs"],
        "all_pods_ready": ready,
        "pods_ready_after_last_write_s": round(all_ready - writes_done, 2),
        "watch_events": dict(watches.events),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results = []
    for n in args.shells:
        with tempfile.TemporaryDirectory(prefix="sandbox-burst-") as tmp:
            results.append(await burst(args, n, Path(tmp)))
    return {
        "machine": machine(),
        "concurrency": args.concurrency,
        "watchers": args.watchers,
        "pod_start_delay": args.pod_start_delay,
        "runs": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shells",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1000, 5000],
        help="comma-separated burst sizes, each on a fresh sandbox",
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--watchers", type=int, default=6, choices=range(len(WATCHED) + 1))
    parser.add_argument("--pod-start-delay", type=float, default=0.05)
    parser.add_argument("--tail", type=int, default=1000, help="shells in the tail rate")
    parser.add_argument("--py-spy", default=None, metavar="DIR", help="profile into DIR")
    parser.add_argument("--json", action="store_true", help="print the raw result as JSON")
    args = parser.parse_args()
    if args.py_spy:
        Path(args.py_spy).mkdir(parents=True, exist_ok=True)
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    m = result["machine"]
    print(
        f"machine: {m['nproc']} cores, {m['cpu']}, {m['memory']}, Python {m['python']}, "
        f"load {m['load']}"
    )
    for r in result["runs"]:
        print(
            f"{r['shells']} shells, {r['requests']} requests in {r['seconds']} s: "
            f"{r['requests_per_s']} requests/s; last {r['tail_shells']} shells: "
            f"{r['tail_requests_per_s']} requests/s"
        )
        print(
            f"  sandbox CPU {r['sandbox_cpu_ms_per_request']} ms/request; server time p50 "
            f"{r['server_ms']['p50']} ms, p99 {r['server_ms']['p99']} ms; all pods Ready "
            f"{r['pods_ready_after_last_write_s']} s after the last write"
            + ("" if r["all_pods_ready"] else " (NOT all Ready)")
        )
        print(f"  watch events: {sum(r['watch_events'].values())}")


if __name__ == "__main__":
    main()
