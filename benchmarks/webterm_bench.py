"""Web terminal benchmark: cloudtty-webterm side by side with terminado, in one run.

Measures, for each server running `bash` on a PTY behind a WebSocket on 127.0.0.1:
- keystroke echo round trip: one key sent, time until its echo arrives (p50/p99);
- output throughput: `cat` of a large file until the last byte reaches the WebSocket client.

Both servers run as separate processes; the client is aiohttp in this process.

    .venv/bin/python benchmarks/webterm_bench.py [--size-mb 100] [--keystrokes 400]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import aiohttp

DONE = "__BENCH_DONE__"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_terminado(port: int) -> None:
    """Run terminado's demo-style single-terminal-per-socket server (in a child process)."""
    import tornado.ioloop
    import tornado.web
    from terminado import TermSocket, UniqueTermManager

    manager = UniqueTermManager(shell_command=["bash", "--norc", "--noprofile"])
    app = tornado.web.Application([(r"/websocket", TermSocket, {"term_manager": manager})])
    app.listen(port, "127.0.0.1")
    tornado.ioloop.IOLoop.current().start()


@contextlib.contextmanager
def process(args: list[str], port: int) -> Iterator[None]:
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{args[:3]} did not start")
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(10)


class Terminal(Protocol):
    async def send(self, text: str) -> None: ...
    async def receive(self) -> str: ...


class WebtermClient:
    """cloudtty-webterm: binary frames carry terminal bytes."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.decoder = __import__("codecs").getincrementaldecoder("utf-8")("replace")

    async def send(self, text: str) -> None:
        await self.ws.send_bytes(text.encode())

    async def receive(self) -> str:
        while True:
            msg = await self.ws.receive()
            if msg.type == aiohttp.WSMsgType.BINARY:
                return str(self.decoder.decode(msg.data))
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"socket closed: {msg.type}")


class TerminadoClient:
    """terminado: JSON text frames ["stdin", text] / ["stdout", text]."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, text: str) -> None:
        await self.ws.send_str(json.dumps(["stdin", text]))

    async def receive(self) -> str:
        while True:
            msg = await self.ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"socket closed: {msg.type}")
            kind, *rest = json.loads(msg.data)
            if kind == "stdout":
                return str(rest[0])


async def read_until(term: Terminal, marker: str, timeout: float = 600) -> int:
    """Receive until ``marker`` shows up; return the characters received."""
    seen, tail = 0, ""
    async with asyncio.timeout(timeout):
        while True:
            chunk = await term.receive()
            seen += len(chunk)
            window = tail + chunk
            if marker in window:
                return seen
            tail = window[-len(marker) :]


async def echo_latencies(term: Terminal, count: int) -> list[float]:
    """Round trips of single keystrokes through bash's line editor (type, then erase)."""
    await term.send(f"echo {DONE[:-2]}''{DONE[-2:]}\r")  # the typed line never holds DONE
    await read_until(term, DONE)
    with contextlib.suppress(TimeoutError):  # drain the prompt until the terminal is quiet
        while True:
            await asyncio.wait_for(term.receive(), 0.3)
    samples = []
    for i in range(count):
        key, echo = ("x", "x") if i % 2 == 0 else ("\x7f", "\b")
        start = time.perf_counter()
        await term.send(key)
        got = ""
        while echo not in got:
            got += await term.receive()
        samples.append(time.perf_counter() - start)
    return samples


async def throughput(term: Terminal, path: Path) -> float:
    """Seconds from sending `cat FILE` until its last byte and the marker arrived."""
    await term.send("\x15")  # clear the line
    marker_cmd = f"cat {path}; echo {DONE[:-2]}''{DONE[-2:]}\r"
    start = time.perf_counter()
    await term.send(marker_cmd)
    await read_until(term, DONE)
    return time.perf_counter() - start


async def run_one(
    name: str, url: str, client: type, keystrokes: int, path: Path
) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
        term = client(ws)
        if name == "cloudtty-webterm":
            await ws.receive()  # hello
        latencies = await echo_latencies(term, keystrokes)
        seconds = await throughput(term, path)
    size_mb = path.stat().st_size / 1e6
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": statistics.quantiles(latencies, n=100)[98] * 1000,
        "seconds": seconds,
        "mb_per_s": size_mb / seconds,
    }


def make_file(directory: Path, size_mb: int) -> Path:
    path = directory / "payload.txt"
    line = (b"0123456789abcdefghijklmnopqrstuvwxyz" * 3)[:99] + b"\n"
    with open(path, "wb") as f:
        block = line * 10_000
        for _ in range(size_mb * 1_000_000 // len(block)):
            f.write(block)
    return path


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--keystrokes", type=int, default=400)
    parser.add_argument("--serve-terminado", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_terminado:
        serve_terminado(args.serve_terminado)
        return 0
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = make_file(Path(tmp), args.size_mb)
        servers = [
            (
                "cloudtty-webterm",
                [sys.executable, "-m", "cloudtty_webterm.cli", "--log-level", "WARNING",
                 "-p", "{port}", "--", "bash", "--norc", "--noprofile"],
                "ws://127.0.0.1:{port}/ws?session=benchmark1&cols=120&rows=40",
                WebtermClient,
            ),
            (
                "terminado",
                [sys.executable, __file__, "--serve-terminado", "{port}"],
                "ws://127.0.0.1:{port}/websocket",
                TerminadoClient,
            ),
        ]  # fmt: skip
        for name, argv, url, client in servers:
            port = free_port()
            with process([a.replace("{port}", str(port)) for a in argv], port):
                results[name] = asyncio.run(
                    run_one(name, url.format(port=port), client, args.keystrokes, path)
                )
    print(f"Machine: {machine()}")
    print(f"Keystrokes: {args.keystrokes}, file: {args.size_mb} MB\n")
    print("| server | echo p50 (ms) | echo p99 (ms) | cat throughput (MB/s) | cat time (s) |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['mb_per_s']:.1f} "
            f"| {r['seconds']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
