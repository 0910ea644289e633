"""One shell session: a PTY, its scrollback and recording, and the clients attached to it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from cloudtty_webterm.pty import PtyProcess
from cloudtty_webterm.recording import AsciicastRecorder
from cloudtty_webterm.scrollback import Scrollback

log = logging.getLogger(__name__)

#: A client that cannot take output for this long is dropped rather than stalling the shell.
SEND_TIMEOUT = 30.0


class Client(Protocol):
    """Something the session's output goes to (a WebSocket, in practice)."""

    send_lock: asyncio.Lock

    async def send_output(self, data: bytes) -> None:
        """Deliver terminal output."""

    async def send_control(self, text: str) -> None:
        """Deliver a JSON control message."""

    async def close(self) -> None:
        """Close the connection."""


class ShellSession:
    """Runs the output pump of one PTY and fans output out to attached clients.

    ``on_exit(session, returncode)`` is awaited once the command has exited and its last output
    was delivered.
    """

    def __init__(
        self,
        session_id: str,
        pty: PtyProcess,
        *,
        scrollback: Scrollback,
        recorder: AsciicastRecorder | None,
        on_activity: Callable[[], None],
        on_exit: Callable[[ShellSession, int], Awaitable[None]],
    ) -> None:
        self.id = session_id
        self.pty = pty
        self.scrollback = scrollback
        self.recorder = recorder
        self.clients: set[Client] = set()
        self._on_activity = on_activity
        self._on_exit = on_exit
        self._pump: asyncio.Task[None] | None = None
        self.closed = False
        self.detach_timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Start pumping output."""
        self._pump = asyncio.create_task(self._run(), name=f"pty-pump-{self.id}")

    async def _run(self) -> None:
        while data := await self.pty.read():
            self._on_activity()
            self.scrollback.append(data)
            if self.recorder is not None:
                self.recorder.output(data)
            for client in list(self.clients):
                await self._deliver(client, data)
        code = await self.pty.wait()
        if not self.closed:
            await self._on_exit(self, code)

    async def _deliver(self, client: Client, data: bytes) -> None:
        try:
            async with client.send_lock:
                await asyncio.wait_for(client.send_output(data), SEND_TIMEOUT)
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            log.info("dropping client of session %s: %s", self.id, exc or type(exc).__name__)
            self.clients.discard(client)
            with contextlib.suppress(Exception):
                await client.close()

    async def attach(self, client: Client, hello: str) -> None:
        """Add ``client``: it gets ``hello``, then the scrollback, then live output, in order."""
        if self.detach_timer is not None:
            self.detach_timer.cancel()
            self.detach_timer = None
        # The lock is free here, so acquiring it does not yield: no output can slip in between
        # taking the snapshot and registering the client.
        async with client.send_lock:
            snapshot = self.scrollback.snapshot()
            self.clients.add(client)
            await client.send_control(hello)
            if snapshot:
                await client.send_output(snapshot)

    def detach(self, client: Client) -> None:
        """Remove ``client`` (idempotent)."""
        self.clients.discard(client)

    async def write(self, data: bytes) -> None:
        """Terminal input from a client."""
        self._on_activity()
        if self.recorder is not None:
            self.recorder.input(data)
        await self.pty.write(data)

    def resize(self, cols: int, rows: int) -> None:
        """Resize the PTY (and record it when it changed)."""
        before = (self.pty.cols, self.pty.rows)
        self.pty.resize(cols, rows)
        if self.recorder is not None and (self.pty.cols, self.pty.rows) != before:
            self.recorder.resize(self.pty.cols, self.pty.rows)

    async def close(self, control: str | None = None) -> None:
        """Tell clients ``control`` (an exit message), close them, end the command."""
        if self.closed:
            return
        self.closed = True
        if self.detach_timer is not None:
            self.detach_timer.cancel()
        for client in list(self.clients):
            with contextlib.suppress(Exception):
                if control is not None:
                    async with client.send_lock:
                        await asyncio.wait_for(client.send_control(control), 5)
                await client.close()
        self.clients.clear()
        await self.pty.terminate()
        if self._pump is not None and self._pump is not asyncio.current_task():
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self.recorder is not None:
            self.recorder.close()
