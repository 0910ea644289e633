"""``kubectl exec`` into locally run containers over the WebSocket remote-command protocol
(``v5.channel.k8s.io``/``v4.channel.k8s.io``): channel 0 stdin, 1 stdout, 2 stderr, 3 the final
Status, 4 terminal resize, 255 (v5) close of a stream. The command runs as a local process with
the container's environment and working directory, on a pseudo-terminal when ``tty=true``."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import signal
import struct
import termios
from pathlib import Path
from typing import Any

import attrs
import orjson
from aiohttp import WSMsgType, web

from .deathsig import die_with_parent
from .errors import bad_request

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")


@attrs.frozen
class ExecTarget:
    """Where and how to run an exec'd command: the container's environment and directory."""

    env: dict[str, str]
    cwd: Path


def _status(code: int, argv: list[str]) -> bytes:
    if code == 0:
        body: dict[str, Any] = {"metadata": {}, "status": "Success"}
    else:
        body = {
            "metadata": {},
            "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing "
            f"command {argv}, exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }
    return bytes([ERROR]) + orjson.dumps(body)


def _resize(fd: int, payload: bytes) -> None:
    try:
        size = orjson.loads(payload)
        rows, cols = int(size.get("Height", 24)), int(size.get("Width", 80))
    except (ValueError, TypeError, AttributeError):
        return
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class ExecSession:
    """One exec: a process group and the WebSocket it talks through."""

    def __init__(
        self, ws: web.WebSocketResponse, argv: list[str], target: ExecTarget, tty: bool, stdin: bool
    ) -> None:
        self.ws = ws
        self.argv = argv
        self.target = target
        self.tty = tty
        self.stdin = stdin
        self.process: asyncio.subprocess.Process | None = None
        self._master: int | None = None
        self._out: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def start(self) -> None:
        self.target.cwd.mkdir(parents=True, exist_ok=True)
        if self.tty:
            master, slave = pty.openpty()
            self._master = master
            try:
                self.process = await asyncio.create_subprocess_exec(
                    *self.argv,
                    cwd=self.target.cwd,
                    env={**self.target.env, "TERM": "xterm"},
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    start_new_session=True,
                    preexec_fn=die_with_parent(controlling_tty=True),
                )
            finally:
                os.close(slave)
            os.set_blocking(master, False)
            asyncio.get_running_loop().add_reader(master, self._read_pty)
        else:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=self.target.cwd,
                env=self.target.env,
                stdin=asyncio.subprocess.PIPE if self.stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )

    def _read_pty(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self._master)
            self._out.put_nowait(None)
            return
        self._out.put_nowait(bytes([STDOUT]) + data)

    async def _pipe(self, reader: asyncio.StreamReader | None, channel: int) -> None:
        if reader is None:
            return
        while data := await reader.read(65536):
            await self.ws.send_bytes(bytes([channel]) + data)

    async def _send_pty(self) -> None:
        while (frame := await self._out.get()) is not None:
            await self.ws.send_bytes(frame)

    async def _receive(self) -> None:
        async for msg in self.ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, payload = msg.data[0], msg.data[1:]
            if channel == STDIN and payload:
                await self._write_stdin(payload)
            elif channel == RESIZE and self._master is not None:
                _resize(self._master, payload)
            elif channel == CLOSE and payload[:1] == bytes([STDIN]):
                self._close_stdin()

    async def _write_stdin(self, data: bytes) -> None:
        if self._master is not None:
            with contextlib.suppress(OSError):
                os.write(self._master, data)
        elif self.process is not None and self.process.stdin is not None:
            with contextlib.suppress(ConnectionError):
                self.process.stdin.write(data)
                await self.process.stdin.drain()

    def _close_stdin(self) -> None:
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()

    async def run(self) -> None:
        """Serve the session until the command exits (or the client goes away)."""
        assert self.process is not None
        receiver = asyncio.create_task(self._receive())
        if self.tty:
            outputs = [asyncio.create_task(self._send_pty())]
        else:
            outputs = [
                asyncio.create_task(self._pipe(self.process.stdout, STDOUT)),
                asyncio.create_task(self._pipe(self.process.stderr, STDERR)),
            ]
        waiter = asyncio.create_task(self.process.wait())
        done, _ = await asyncio.wait([waiter, receiver], return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:  # the client left: end the command
            self.kill()
            await waiter
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*outputs), 2)
        code = waiter.result()
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError):
                await self.ws.send_bytes(_status(code, self.argv))
            await self.ws.close()
        receiver.cancel()
        for task in outputs:
            task.cancel()
        await asyncio.gather(receiver, *outputs, return_exceptions=True)
        self._cleanup()

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def _cleanup(self) -> None:
        self.kill()
        if self._master is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._master)
            with contextlib.suppress(OSError):
                os.close(self._master)
            self._master = None


async def serve_exec(
    request: web.Request, argv_target: tuple[list[str], ExecTarget], sessions: set[ExecSession]
) -> web.StreamResponse:
    """Upgrade to a remote-command WebSocket and run the command until it exits."""
    q = request.query
    argv, target = argv_target
    ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
    if not ws.can_prepare(request).ok:
        raise bad_request(
            f"Upgrade request required: exec needs a WebSocket ({', '.join(PROTOCOLS)})"
        )
    await ws.prepare(request)
    session = ExecSession(
        ws, argv, target, tty=q.get("tty") in ("true", "1"), stdin=q.get("stdin") in ("true", "1")
    )
    try:
        await session.start()
    except OSError as exc:
        await ws.send_bytes(
            bytes([ERROR])
            + orjson.dumps(
                {
                    "metadata": {},
                    "status": "Failure",
                    "reason": "InternalError",
                    "message": f"failed to start {argv[0]!r}: {exc}",
                }
            )
        )
        await ws.close()
        return ws
    sessions.add(session)
    try:
        await session.run()
    finally:
        sessions.discard(session)
        session._cleanup()
    return ws


def command_of(request: web.Request) -> list[str]:
    command = request.query.getall("command", [])
    if not command:
        raise bad_request("you must specify at least one command for the container")
    return list(command)
