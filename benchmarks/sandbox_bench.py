"""Sandbox cluster throughput: creates/s and watch events/s from concurrent clients, and the
server-side time per request (p50/p99).

The sandbox runs in its own process (``cloudtty-sandbox serve``) so the load generator does not
share its interpreter. Every request goes to 127.0.0.1; loops are bounded in count and time.

    .venv/bin/python benchmarks/sandbox_bench.py [--creates 5000] [--concurrency 32]
                                                 [--watchers 10] [--events 2000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from machine import machine  # beside this script
from sandbox_process import SandboxProcess  # beside this script


class Server(SandboxProcess):
    """The sandbox in its child process, with the headers every request carries."""

    def __init__(self, work: Path) -> None:
        super().__init__(work)
        self.headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json",
        }


async def _post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> None:
    # One pre-encoded body: the request goes out in a single write (no Nagle stalls).
    async with session.post(url, data=json.dumps(body).encode()) as resp:
        if resp.status != 201:
            raise RuntimeError(f"create failed: {resp.status} {await resp.text()}")
        await resp.read()


async def create_namespace(session: aiohttp.ClientSession, base: str, name: str) -> None:
    await _post(session, f"{base}/api/v1/namespaces", {"metadata": {"name": name}})


async def creates(
    session: aiohttp.ClientSession,
    base: str,
    namespace: str,
    total: int,
    concurrency: int,
    prefix: str = "cm",
) -> float:
    """Create ``total`` ConfigMaps with ``concurrency`` workers; return creates per second."""
    url = f"{base}/api/v1/namespaces/{namespace}/configmaps"
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            await _post(
                session,
                url,
                {
                    "metadata": {"name": f"{prefix}-{i}", "labels": {"bench": "yes"}},
                    "data": {"index": str(i), "payload": "x" * 64},
                },
            )

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


async def _watch(
    session: aiohttp.ClientSession, url: str, expected: int, opened: asyncio.Event | None = None
) -> int:
    seen = 0
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=300)) as resp:
        if opened is not None:
            opened.set()
        async for chunk in resp.content.iter_any():
            seen += chunk.count(b"\n")
            if seen >= expected:
                break
    return seen


async def watch_fanout(
    session: aiohttp.ClientSession,
    base: str,
    namespace: str,
    watchers: int,
    events: int,
    concurrency: int,
) -> float:
    """Live fan-out: ``watchers`` open watches while ``events`` creates happen; events/s."""
    async with session.get(f"{base}/api/v1/namespaces/{namespace}/configmaps?limit=1") as resp:
        rv = (await resp.json())["metadata"]["resourceVersion"]
    url = (
        f"{base}/api/v1/namespaces/{namespace}/configmaps?watch=1&resourceVersion={rv}"
        "&timeoutSeconds=120"
    )
    opened = [asyncio.Event() for _ in range(watchers)]
    tasks = [asyncio.create_task(_watch(session, url, events, o)) for o in opened]
    await asyncio.gather(*(o.wait() for o in opened))
    started = time.perf_counter()
    await creates(session, base, namespace, events, concurrency, prefix="live")
    delivered = sum(await asyncio.gather(*tasks))
    return delivered / (time.perf_counter() - started)


async def watch_replay(
    session: aiohttp.ClientSession,
    base: str,
    namespace: str,
    watchers: int,
    expected: int,
    since: str,
) -> float:
    """Replay from the watch cache: ``watchers`` resume from ``since`` at once; events/s."""
    url = (
        f"{base}/api/v1/namespaces/{namespace}/configmaps?watch=1&resourceVersion={since}"
        "&timeoutSeconds=120"
    )
    started = time.perf_counter()
    delivered = sum(
        await asyncio.gather(*(_watch(session, url, expected) for _ in range(watchers)))
    )
    return delivered / (time.perf_counter() - started)


_WRK_POST = """
counter = 0
request = function()
  counter = counter + 1
  local body = '{"metadata":{"name":"wrk-' .. counter .. '-' .. math.random(1, 1000000000) ..
    '"},"data":{"payload":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}'
  return wrk.format("POST", "/api/v1/namespaces/wrk/configmaps", nil, body)
end
"""


def wrk_rates(server: Server, seconds: int = 3) -> dict[str, float] | None:
    """Server capacity measured with wrk (a C load generator), when it is installed."""
    binary = shutil.which("wrk")
    if binary is None:
        return None
    script = server.work / "post.lua"
    script.write_text(_WRK_POST)
    headers = [f"-H{k}: {v}" for k, v in server.headers.items()]
    rates = {}
    for name, extra in (("creates_per_s", ["-s", str(script)]), ("gets_per_s", [])):
        target = server.url + ("" if extra else "/api/v1/namespaces/default")
        out = subprocess.run(
            [binary, "-t1", "-c32", f"-d{seconds}s", *headers, *extra, target],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
        ).stdout
        for line in out.splitlines():
            if line.startswith("Requests/sec:"):
                rates[name] = round(float(line.split()[1]))
    return rates


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        server = Server(Path(tmp))
        try:
            connector = aiohttp.TCPConnector(limit=args.concurrency + args.watchers + 4)
            async with aiohttp.ClientSession(
                server.url, connector=connector, headers=server.headers
            ) as session:
                base = ""
                await create_namespace(session, base, "bench")
                await create_namespace(session, base, "live")
                async with session.get("/api/v1/namespaces/bench/configmaps") as resp:
                    start_rv = (await resp.json())["metadata"]["resourceVersion"]
                await session.delete("/sandbox/counters")
                create_rate = await creates(session, base, "bench", args.creates, args.concurrency)
                async with session.get("/sandbox/counters") as resp:
                    create_timing = (await resp.json())["serverTimeMs"]
                await session.delete("/sandbox/counters")
                started = time.perf_counter()
                gets = 0
                while time.perf_counter() - started < 2 and gets < 20_000:
                    batch = [
                        session.get(f"/api/v1/namespaces/bench/configmaps/cm-{i}")
                        for i in range(gets, gets + args.concurrency)
                    ]
                    for response in await asyncio.gather(*batch):
                        await response.read()
                        response.release()
                    gets += args.concurrency
                get_rate = gets / (time.perf_counter() - started)
                async with session.get("/sandbox/counters") as resp:
                    get_timing = (await resp.json())["serverTimeMs"]
                replay_rate = await watch_replay(
                    session, base, "bench", args.watchers, min(args.creates, 9000), start_rv
                )
                await create_namespace(session, base, "wrk")
                wrk = wrk_rates(server) if args.wrk else None
                fanout_rate = await watch_fanout(
                    session, base, "live", args.watchers, args.events, args.concurrency
                )
        finally:
            server.stop()
    return {
        "machine": machine(),
        "creates": args.creates,
        "concurrency": args.concurrency,
        "watchers": args.watchers,
        "creates_per_s": round(create_rate),
        "create_server_ms": create_timing,
        "gets_per_s": round(get_rate),
        "get_server_ms": get_timing,
        "watch_replay_events_per_s": round(replay_rate),
        "watch_fanout_events_per_s": round(fanout_rate),
        "fanout_events_per_watcher": args.events,
        "wrk": wrk,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creates", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--watchers", type=int, default=10)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--json", action="store_true", help="print the raw result as JSON")
    parser.add_argument(
        "--no-wrk",
        dest="wrk",
        action="store_false",
        help="skip the wrk measurement even when wrk is installed",
    )
    args = parser.parse_args()
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    m = result["machine"]
    print(f"machine: {m['nproc']} cores, {m['cpu']}, {m['memory']}, Python {m['python']}")
    print(f"creates/s ({args.concurrency} concurrent clients): {result['creates_per_s']}")
    print(
        f"  server time per create: p50 {result['create_server_ms']['p50']} ms, "
        f"p99 {result['create_server_ms']['p99']} ms"
    )
    print(
        f"gets/s: {result['gets_per_s']} (server p50 {result['get_server_ms']['p50']} ms, "
        f"p99 {result['get_server_ms']['p99']} ms)"
    )
    print(
        f"watch events/s, replay to {args.watchers} watchers: {result['watch_replay_events_per_s']}"
    )
    if result["wrk"]:
        print(
            f"with wrk (C client, 32 connections): creates/s {result['wrk']['creates_per_s']},"
            f" gets/s {result['wrk']['gets_per_s']}"
        )
    print(
        f"watch events/s, live fan-out to {args.watchers} watchers: "
        f"{result['watch_fanout_events_per_s']}"
    )


if __name__ == "__main__":
    main()
