"""Helpers for testing the terminal server: run it in-process or as a process, talk to it.

Public so that other distributions (the image backend's integration tests, the sandbox) can
drive a real terminal server the same way this distribution's tests do.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import aiohttp
import attrs

from cloudtty_webterm.config import ServerConfig
from cloudtty_webterm.runner import Listener, Running, listening
from cloudtty_webterm.server import TerminalServer

_LISTENING = re.compile(r"listening on (https?://[^/\s]+)")


@contextlib.asynccontextmanager
async def serve_in_process(config: ServerConfig) -> AsyncIterator[Running]:
    """Run a server for ``config`` on 127.0.0.1 and a free port while the context is open."""
    config = attrs.evolve(config, address="127.0.0.1", port=0)
    server = TerminalServer(config)
    async with listening(server, Listener(config.address, 0, config.tls_cert, config.tls_key)) as r:
        yield r


class TerminalClient:
    """A WebSocket client of one shell session that collects its output."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.output = bytearray()
        self.controls: list[dict[str, object]] = []

    async def send(self, text: str | bytes) -> None:
        """Type ``text`` (sent as a binary input frame)."""
        await self.ws.send_bytes(text.encode() if isinstance(text, str) else text)

    async def resize(self, cols: int, rows: int) -> None:
        """Report a new terminal size."""
        await self.ws.send_json({"type": "resize", "cols": cols, "rows": rows})

    async def _receive_one(self, timeout: float) -> bool:
        try:
            msg = await asyncio.wait_for(self.ws.receive(), timeout)
        except TimeoutError:
            return False
        if msg.type == aiohttp.WSMsgType.BINARY:
            self.output += msg.data
        elif msg.type == aiohttp.WSMsgType.TEXT:
            self.controls.append(msg.json())
        else:
            return False
        return True

    async def read_until(self, needle: str | bytes, timeout: float = 10.0) -> bytes:
        """Collect output until ``needle`` appears (counting from what is already collected)."""
        want = needle.encode() if isinstance(needle, str) else needle
        deadline = time.monotonic() + timeout
        while want not in self.output:
            left = deadline - time.monotonic()
            if left <= 0 or not await self._receive_one(left):
                raise AssertionError(f"{want!r} never came; got {bytes(self.output[-500:])!r}")
        return bytes(self.output)

    async def read_match(self, pattern: bytes, timeout: float = 10.0) -> re.Match[bytes]:
        """Collect output until the regular expression ``pattern`` matches; return the match."""
        deadline = time.monotonic() + timeout
        while (match := re.search(pattern, self.output)) is None:
            left = deadline - time.monotonic()
            if left <= 0 or not await self._receive_one(left):
                raise AssertionError(
                    f"{pattern!r} never matched; got {bytes(self.output[-500:])!r}"
                )
        return match

    async def control(self, kind: str, timeout: float = 10.0) -> dict[str, object]:
        """Wait for the first control message of ``kind`` and return it."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.controls:
                if message.get("type") == kind:
                    return message
            left = deadline - time.monotonic()
            if left <= 0 or not await self._receive_one(left):
                raise AssertionError(f"no {kind!r} message; got {self.controls}")

    async def closed(self, timeout: float = 10.0) -> None:
        """Wait until the server closes the connection."""
        deadline = time.monotonic() + timeout
        while await self._receive_one(max(deadline - time.monotonic(), 0.01)):
            pass


@contextlib.asynccontextmanager
async def terminal(
    http: aiohttp.ClientSession, url: str, session: str = "testsession1", **params: object
) -> AsyncIterator[TerminalClient]:
    """Open the terminal WebSocket at ``url`` (the base URL ending in ``/``)."""
    query = {"session": session, **{k: str(v) for k, v in params.items()}}
    async with http.ws_connect(url + "ws", params=query) as ws:
        client = TerminalClient(ws)
        await client.control("hello")
        yield client


@attrs.define
class ServerProcess:
    """A ``cloudtty-webterm`` process started by :func:`run_cli`."""

    process: subprocess.Popen[str]
    url: str
    log: list[str]

    def wait(self, timeout: float = 15.0) -> int:
        """Wait for the process to exit; return its exit status."""
        return self.process.wait(timeout)


@contextlib.contextmanager
def run_cli(
    args: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[ServerProcess]:
    """Start ``cloudtty-webterm ARGS`` (add ``-p 0``), wait until it listens, stop it after."""
    environment = {**os.environ, **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "cloudtty_webterm.cli", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=environment,
        cwd=cwd,
    )
    lines: list[str] = []
    reader: threading.Thread | None = None
    try:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if match := _LISTENING.search(line):
                url = match.group(1)
                break
        else:
            raise AssertionError("cloudtty-webterm exited before listening:\n" + "".join(lines))
        running = ServerProcess(process, url, lines)
        # Keep draining stderr so the server never blocks on a full pipe.
        reader = _drain(process, lines)
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if reader is not None:
            reader.join(5)
        if process.stderr is not None:
            process.stderr.close()


def _drain(process: subprocess.Popen[str], lines: list[str]) -> threading.Thread:
    def run() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread
