"""The terminal server's state: its configuration, shell sessions, clients and why it ends."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from collections.abc import Mapping

from cloudtty_webterm import protocol
from cloudtty_webterm.auth import Authenticator
from cloudtty_webterm.config import ServerConfig
from cloudtty_webterm.pty import PtyProcess
from cloudtty_webterm.recording import AsciicastRecorder, recording_path
from cloudtty_webterm.scrollback import Scrollback
from cloudtty_webterm.session import ShellSession
from cloudtty_webterm.termination import ExitReason
from cloudtty_webterm.timers import ActivityClock, watch_deadline, watch_idle

log = logging.getLogger(__name__)


class SessionRefused(Exception):
    """A new connection that the configuration does not allow; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def child_environment(config: ServerConfig, base: Mapping[str, str]) -> dict[str, str]:
    """The PTY child's environment: ours minus the server's own variables, plus the session's."""
    env = {k: v for k, v in base.items() if not k.startswith("CLOUDTTY_")}
    env.setdefault("LANG", "C.UTF-8")
    env["TERM"] = "xterm-256color"
    env["COLORTERM"] = "truecolor"
    env.update(config.child_env)
    return env


class TerminalServer:
    """Owns the shell sessions and decides when the server ends (:attr:`done`).

    A server created with ``config=None`` is a warm worker waiting for its session: it answers
    health checks but no terminal requests until :meth:`configure` is called.
    """

    def __init__(self, config: ServerConfig | None) -> None:
        self.config: ServerConfig | None = None
        self.authenticator: Authenticator | None = None
        self.sessions: dict[str, ShellSession] = {}
        self.connections = 0
        self.activity = ActivityClock()
        self.done: asyncio.Future[ExitReason] = asyncio.get_running_loop().create_future()
        self._claimed_session: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._spawn_lock = asyncio.Lock()
        if config is not None:
            self.configure(config)

    @property
    def ready(self) -> bool:
        """Whether the server has a session configuration and serves terminals."""
        return self.config is not None

    def configure(self, config: ServerConfig) -> None:
        """Apply the (validated) configuration and start its timers."""
        config.validate()
        self.config = config
        self.authenticator = Authenticator(
            config.auth, base_path=config.base_path, secure_cookie=config.tls
        )
        self.activity.touch()
        if config.idle_timeout:
            self._background(watch_idle(self.activity, config.idle_timeout, self._idle))
        if config.expires_at is not None:
            self._background(watch_deadline(config.expires_at, self._expired))

    def _background(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _idle(self) -> None:
        log.info("no input or output for %s s: ending", self.config and self.config.idle_timeout)
        self.finish(ExitReason.IDLE)

    def _expired(self) -> None:
        log.info("the shell expired: ending")
        self.finish(ExitReason.TTL)

    def finish(self, reason: ExitReason) -> None:
        """End the server with ``reason`` (the first reason wins)."""
        if not self.done.done():
            self.done.set_result(reason)

    @property
    def expires_at_text(self) -> str | None:
        """``expiresAt`` as RFC 3339 for the page."""
        if self.config is None or self.config.expires_at is None:
            return None
        return self.config.expires_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")

    def check_new_connection(self, session_id: str) -> None:
        """Raise :class:`SessionRefused` when a connection for ``session_id`` is not allowed."""
        assert self.config is not None
        if self.done.done():
            raise SessionRefused(503, "the session has ended")
        limit = self.config.max_clients
        if limit and self.connections >= limit:
            raise SessionRefused(503, f"the maximum of {limit} client(s) is reached")
        if self.config.once and self._claimed_session not in (None, session_id):
            raise SessionRefused(403, "this shell accepts a single connection")

    async def open_session(
        self, session_id: str, cols: int, rows: int
    ) -> tuple[ShellSession, bool]:
        """Return the live session ``session_id`` (resumed) or start a new one."""
        assert self.config is not None
        async with self._spawn_lock:
            existing = self.sessions.get(session_id)
            if existing is not None and not existing.closed:
                return existing, True
            self._claimed_session = session_id
            session = await self._spawn(session_id, cols, rows)
            self.sessions[session_id] = session
            session.start()
            return session, False

    async def _spawn(self, session_id: str, cols: int, rows: int) -> ShellSession:
        assert self.config is not None
        config = self.config
        cwd = config.workdir or config.child_env.get("HOME") or os.getcwd()
        pty = await PtyProcess.spawn(
            config.command,
            env=child_environment(config, os.environ),
            cwd=cwd,
            cols=cols,
            rows=rows,
        )
        log.info("session %s: started %s (pid %d)", session_id[:8], config.command[0], pty.pid)
        recorder = None
        if config.record_dir is not None:
            path = recording_path(
                config.record_dir, config.title, session_id, dt.datetime.now(dt.UTC)
            )
            recorder = AsciicastRecorder(
                path,
                width=cols,
                height=rows,
                title=config.title,
                command=" ".join(config.command),
                record_input=config.record_input,
            )
            log.info("session %s: recording to %s", session_id[:8], path)
        return ShellSession(
            session_id,
            pty,
            scrollback=Scrollback(config.scrollback_bytes),
            recorder=recorder,
            on_activity=self.activity.touch,
            on_exit=self._session_exited,
        )

    async def _session_exited(self, session: ShellSession, code: int) -> None:
        assert self.config is not None
        log.info("session %s: command exited with %d", session.id[:8], code)
        if self.config.exit_on_command_exit or self.config.once:
            self.finish(ExitReason.EXIT)
            return
        self.sessions.pop(session.id, None)
        await session.close(protocol.exit_message(ExitReason.EXIT.value, code))

    def connected(self) -> None:
        """Count a new WebSocket connection."""
        self.connections += 1

    def disconnected(self, session: ShellSession) -> None:
        """Count a closed connection; a session left without clients ends after the grace time."""
        assert self.config is not None
        self.connections -= 1
        if session.clients or session.closed:
            return
        if session.detach_timer is not None:
            session.detach_timer.cancel()
        session.detach_timer = asyncio.get_running_loop().call_later(
            self.config.reconnect_grace, self._abandoned, session
        )

    def _abandoned(self, session: ShellSession) -> None:
        assert self.config is not None
        if session.clients or session.closed:
            return
        if self.config.once:
            log.info("session %s: the single client left: ending", session.id[:8])
            self.finish(ExitReason.ONCE)
            return
        log.info("session %s: no client came back: ending its command", session.id[:8])
        self.sessions.pop(session.id, None)
        self._background(session.close())

    async def shutdown(self, reason: ExitReason) -> None:
        """Tell every client why, close them and end every command."""
        message = protocol.exit_message(reason.value)
        sessions = list(self.sessions.values())
        self.sessions.clear()
        await asyncio.gather(*(s.close(message) for s in sessions), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
