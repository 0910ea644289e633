"""Run a :class:`TerminalServer` on a socket until it finishes, then shut it down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
from aiohttp import web

from cloudtty_webterm.app import make_app
from cloudtty_webterm.server import TerminalServer
from cloudtty_webterm.termination import ExitReason

log = logging.getLogger(__name__)


@attrs.frozen
class Listener:
    """Where the server listens; TLS when both files are given."""

    address: str = "127.0.0.1"
    port: int = 7681
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context, or None for plain HTTP."""
        if self.tls_cert is None or self.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.tls_cert, self.tls_key)
        return context


@attrs.define
class Running:
    """A listening server: its state, its port and its URL root."""

    server: TerminalServer
    port: int
    url: str


@contextlib.asynccontextmanager
async def listening(server: TerminalServer, listener: Listener) -> AsyncIterator[Running]:
    """Serve ``server`` while the context is open; on exit end every session and the listener."""
    runner = web.AppRunner(make_app(server), access_log=None, handle_signals=False)
    await runner.setup()
    context = listener.ssl_context()
    site = web.TCPSite(runner, listener.address, listener.port, ssl_context=context)
    await site.start()
    sockets = site._server.sockets if site._server is not None else []  # type: ignore[union-attr]
    port = sockets[0].getsockname()[1] if sockets else listener.port
    host = f"[{listener.address}]" if ":" in listener.address else listener.address
    scheme = "https" if context else "http"
    try:
        yield Running(server, port, f"{scheme}://{host}:{port}")
    finally:
        reason = server.done.result() if server.done.done() else ExitReason.SIGNAL
        await server.shutdown(reason)
        await runner.cleanup()


async def serve_until_done(server: TerminalServer, listener: Listener) -> ExitReason:
    """Listen, log the URL, wait for the server to finish (or SIGTERM/SIGINT), return why."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.finish, ExitReason.SIGNAL)
    async with listening(server, listener) as running:
        base = server.config.base_path if server.config else "/"
        log.info("listening on %s%s", running.url, base)
        reason = await server.done
        log.info("ending: %s", reason.value)
    return reason
