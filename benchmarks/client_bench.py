"""CPU per API request on the operator's side, and per hand-over to a worker thread.

- requests: ``--requests`` PUTs and GETs of one ConfigMap against the sandbox (its own process),
  one after the other, through ``KubeClient`` -- straight to the official client's connection
  pool (what the runtime does) and through the generated ``ApiClient.call_api`` path (what a
  proxy configuration takes); CPU time of this process per request (``time.process_time``),
  so the sandbox's share is not in it.
- from the event loop: the same PUTs through the runtime's ``AsyncApi``, written and read by
  the loop (what the runtime does on asyncio) and each in a worker thread (what it does with a
  proxy, or on another loop), one at a time and 16 at once.
- hand-over: ``--calls`` calls of a function that does nothing, from the event loop to a
  worker thread and back: anyio's ``to_thread.run_sync`` next to the runtime's
  ``RequestThreads``, one at a time and 16 at once.

    .venv/bin/python benchmarks/client_bench.py [--requests 1500] [--calls 5000] [--tls] [--json]

Figures only, no assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from machine import machine  # beside this script
from sandbox_process import SandboxProcess  # beside this script

from cloudtty_core.runtime.api import AsyncApi
from cloudtty_core.runtime.client import KubeClient, Resource
from cloudtty_core.runtime.threads import RequestThreads

CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps")


def per_request(n: int, request: Callable[[], Any]) -> dict[str, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        request()
    return {
        "cpu_us": (time.process_time() - cpu) / n * 1e6,
        "wall_us": (time.perf_counter() - wall) / n * 1e6,
    }


class GeneratedPath(KubeClient):
    """The same client with the generated ``call_api`` path only (as with a proxy set)."""

    def _direct_pool(self) -> Any:
        return None


def requests(n: int, tls: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as work:
        # RBAC mode serves HTTPS; the clients then come from its kubeconfig (CA included).
        sandbox = SandboxProcess(Path(work), *(("--rbac",) if tls else ()))

        def connect(kind: type[KubeClient] = KubeClient) -> KubeClient:
            if tls:
                return kind.from_kubeconfig(sandbox.kubeconfig)
            return kind.for_url(sandbox.url, sandbox.token)

        try:
            results: dict[str, Any] = {}
            for label, client in (
                ("direct", connect()),
                ("generated", connect(GeneratedPath)),
            ):
                name = f"bench-{label}"
                current = client.create(
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": name, "namespace": "default", "labels": {"a": "b"}},
                        "data": {f"key{i}": "v" * 50 for i in range(20)},
                    }
                )

                def put(client: KubeClient = client) -> None:
                    nonlocal current
                    current = client.replace(current)

                results[label] = {
                    "put": per_request(n, put),
                    "get": per_request(n, lambda c=client, m=name: c.get(CONFIGMAPS, "default", m)),
                }
            results["from the loop"] = asyncio.run(from_the_loop(n, connect()))
            return results
        finally:
            sandbox.stop()


async def from_the_loop(n: int, client: KubeClient) -> dict[str, Any]:
    """PUTs through ``AsyncApi``: by the loop and in threads, one at a time and 16 at once."""
    results: dict[str, Any] = {}
    for label, loop_requests in (("by the loop", True), ("in threads", False)):
        results[label] = await _puts(n, AsyncApi(client, 16, loop_requests=loop_requests))
    client.close()
    return results


async def _puts(n: int, api: AsyncApi) -> dict[str, Any]:
    """CPU and time per PUT of ``api``, one at a time and 16 at once."""
    names = [f"bench-async-{int(api.loop_requests)}-{i}" for i in range(16)]
    current = {
        name: await api.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "default", "labels": {"a": "b"}},
                "data": {f"key{i}": "v" * 50 for i in range(20)},
            }
        )
        for name in names
    }

    async def put(name: str) -> None:
        current[name] = await api.replace(current[name])

    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        await put(names[0])
    one = {
        "cpu_us": (time.process_time() - cpu) / n * 1e6,
        "wall_us": (time.perf_counter() - wall) / n * 1e6,
    }

    async def chain(name: str, count: int) -> None:
        for _ in range(count):
            await put(name)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(chain(name, n // 16) for name in names))
    done = n // 16 * 16
    api.close()
    return {
        "put one at a time": one,
        "put 16 at once": {
            "cpu_us": (time.process_time() - cpu) / done * 1e6,
            "wall_us": (time.perf_counter() - wall) / done * 1e6,
        },
    }


async def _hand_over(n: int, call: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    cpu = time.process_time()
    for _ in range(n):
        await call()
    one = (time.process_time() - cpu) / n * 1e6
    cpu = time.process_time()
    semaphore = asyncio.Semaphore(16)

    async def bounded() -> None:
        async with semaphore:
            await call()

    await asyncio.gather(*(bounded() for _ in range(n)))
    return {"one_at_a_time_cpu_us": one, "16_at_once_cpu_us": (time.process_time() - cpu) / n * 1e6}


async def hand_overs(n: int) -> dict[str, Any]:
    limiter = anyio.CapacityLimiter(16)
    threads = RequestThreads(16)
    return {
        "anyio.to_thread": await _hand_over(
            n, lambda: anyio.to_thread.run_sync(lambda: None, limiter=limiter)
        ),
        "RequestThreads": await _hand_over(n, lambda: threads.call(lambda: None)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--tls", action="store_true", help="HTTPS (the sandbox's RBAC mode)")
    args = parser.parse_args()
    report = {
        "machine": machine(),
        "requests": requests(args.requests, args.tls),
        "hand_over": asyncio.run(hand_overs(args.calls)),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(report["machine"])
    paths = dict(report["requests"])
    paths.update(paths.pop("from the loop"))
    for label, verbs in paths.items():
        for verb, figures in verbs.items():
            print(f"{label:11} {verb}: {figures['cpu_us']:.0f} µs CPU, {figures['wall_us']:.0f} µs")
    for label, figures in report["hand_over"].items():
        print(
            f"{label:16} one at a time {figures['one_at_a_time_cpu_us']:.0f} µs CPU, "
            f"16 at once {figures['16_at_once_cpu_us']:.0f} µs CPU"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
