"""HTTP routes: the page, its assets, the WebSocket, file transfer and /healthz.

Everything but ``/healthz`` lives below the base path, which may change when a warm worker gets
its session, so one catch-all route dispatches on the path below the current base.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
from pathlib import Path

import yarl
from aiohttp import WSMsgType, web

from cloudtty_webterm import assets, files, protocol
from cloudtty_webterm.auth import Identity
from cloudtty_webterm.server import SessionRefused, TerminalServer

log = logging.getLogger(__name__)

SERVER_KEY = web.AppKey("server", TerminalServer)
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'"
    ),
}


class WebSocketClient:
    """A browser (or other) client of one shell session."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.send_lock = asyncio.Lock()

    async def send_output(self, data: bytes) -> None:
        """Terminal output as one binary frame."""
        await self.ws.send_bytes(data)

    async def send_control(self, text: str) -> None:
        """A JSON control message as a text frame."""
        await self.ws.send_str(text)

    async def close(self) -> None:
        """Close the WebSocket normally."""
        await self.ws.close()


def origin_allowed(request: web.Request, allowed: tuple[str, ...]) -> bool:
    """A browser's ``Origin`` must name this host (as the client reached it) or be allowed."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser: nothing to forge
    if origin in allowed:
        return True
    parsed = yarl.URL(origin)
    if parsed.host is None:
        return False
    origin_host = parsed.host + (f":{parsed.explicit_port}" if parsed.explicit_port else "")
    return origin_host.lower() == request.host.lower()


def _plain(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n")


async def handle(request: web.Request) -> web.StreamResponse:
    """The one route: health, readiness, base path, auth, then the resource."""
    server = request.app[SERVER_KEY]
    path = request.path
    if path == "/healthz":
        return _plain(200, "ok")
    config = server.config
    if config is None or server.authenticator is None:
        return _plain(503, "waiting for a session")
    base = config.base_path
    if path == base.rstrip("/") and base != "/":
        return web.Response(status=308, headers={"Location": str(request.rel_url.with_path(base))})
    if not path.startswith(base):
        return _plain(404, "not found")
    rest = path[len(base) :]
    if rest == "healthz":
        return _plain(200, "ok")
    identity = server.authenticator.check(request)
    if not isinstance(identity, Identity):
        return identity
    response = await _dispatch(request, server, rest, identity)
    for key, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    return response


async def _dispatch(
    request: web.Request, server: TerminalServer, rest: str, identity: Identity
) -> web.StreamResponse:
    method = request.method
    if rest == "" and method in ("GET", "HEAD"):
        return _page(server, identity)
    if rest == "ws" and method == "GET":
        return await _websocket(request, server, identity)
    if rest.startswith("assets/") and method in ("GET", "HEAD"):
        return _static(assets.own_file(rest[len("assets/") :]))
    if rest.startswith("vendor/") and method in ("GET", "HEAD"):
        return _static(assets.vendor_file(rest[len("vendor/") :]))
    if rest == "upload" and method == "POST":
        return await _upload(request, server)
    if rest == "download" and method in ("GET", "HEAD"):
        return _download(request, server)
    return _plain(404, "not found")


def _static(path: Path | None) -> web.StreamResponse:
    if path is None or not path.is_file():
        return _plain(404, "not found")
    response = web.FileResponse(path)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _page(server: TerminalServer, identity: Identity) -> web.Response:
    config = server.config
    assert config is not None
    page_config = {
        "clientOptions": config.client_options,
        "readOnly": config.read_only,
        "expiresAt": server.expires_at_text,
        "idleTimeoutSeconds": config.idle_timeout,
        "fileTransfer": config.file_transfer and not config.read_only,
        "title": config.title,
        "user": identity.user,
    }
    # "<" escaped so no value can close the <script> element it is embedded in.
    embedded = json.dumps(page_config).replace("<", "\\u003c")
    text = (
        assets.page_template()
        .replace("__CLOUDTTY_TITLE__", html.escape(config.title))
        .replace("__CLOUDTTY_CONFIG__", embedded)
    )
    return web.Response(text=text, content_type="text/html", headers={"Cache-Control": "no-store"})


async def _websocket(
    request: web.Request, server: TerminalServer, identity: Identity
) -> web.StreamResponse:
    config = server.config
    assert config is not None
    if config.check_origin and not origin_allowed(request, config.allowed_origins):
        return _plain(403, "origin not allowed")
    session_id = request.query.get("session", "")
    if not _SESSION_ID.match(session_id):
        return _plain(400, "session must be 8-64 letters, digits, '-' or '_'")
    try:
        cols = int(request.query.get("cols", "80"))
        rows = int(request.query.get("rows", "24"))
    except ValueError:
        return _plain(400, "cols and rows must be integers")
    try:
        server.check_new_connection(session_id)
    except SessionRefused as exc:
        return _plain(exc.status, str(exc))
    ws = web.WebSocketResponse(heartbeat=config.ping_interval or None, max_msg_size=4 * 1024 * 1024)
    await ws.prepare(request)
    server.connected()
    try:
        session, resumed = await server.open_session(session_id, cols, rows)
    except OSError as exc:
        server.connections -= 1
        log.error("cannot start %s: %s", config.command[0], exc)
        await ws.send_str(protocol.error_message(f"cannot start {config.command[0]}: {exc}"))
        await ws.close()
        return ws
    if identity.user:
        log.info("session %s: %s connected", session_id[:8], identity.user)
    client = WebSocketClient(ws)
    hello = protocol.hello(
        session_id,
        resumed=resumed,
        read_only=config.read_only,
        expires_at=server.expires_at_text,
        idle_timeout=config.idle_timeout,
    )
    try:
        await session.attach(client, hello)
        if not resumed:
            session.resize(cols, rows)
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                if not config.read_only:
                    await session.write(msg.data)
            elif msg.type == WSMsgType.TEXT:
                try:
                    control = protocol.parse_control(msg.data)
                except protocol.ProtocolError as exc:
                    await ws.send_str(protocol.error_message(str(exc)))
                    continue
                if isinstance(control, protocol.Resize):
                    session.resize(control.cols, control.rows)
                elif not config.read_only:
                    await session.write(control.data.encode())
    finally:
        session.detach(client)
        server.disconnected(session)
    return ws


async def _upload(request: web.Request, server: TerminalServer) -> web.Response:
    config = server.config
    assert config is not None
    if not config.file_transfer or config.read_only:
        return _plain(403, "file upload is disabled for this shell")
    if config.check_origin and not origin_allowed(request, config.allowed_origins):
        return _plain(403, "origin not allowed")
    try:
        stored = await files.save_upload(request, _workdir(server), config.max_upload_bytes)
    except files.FileAccessError as exc:
        return _plain(exc.status, str(exc))
    server.activity.touch()
    return web.json_response({"stored": stored})


def _download(request: web.Request, server: TerminalServer) -> web.StreamResponse:
    config = server.config
    assert config is not None
    if not config.file_transfer or config.read_only:
        return _plain(403, "file download is disabled for this shell")
    try:
        response = files.download_response(_workdir(server), request.query.get("path", ""))
    except files.FileAccessError as exc:
        return _plain(exc.status, str(exc))
    server.activity.touch()
    return response


def _workdir(server: TerminalServer) -> Path:
    config = server.config
    assert config is not None
    home = config.child_env.get("HOME")
    return config.workdir or (Path(home) if home else Path.cwd())


def make_app(server: TerminalServer) -> web.Application:
    """The aiohttp application serving ``server``."""
    # Uploads are streamed with their own cap, so the body-size limit only guards forms.
    app = web.Application(client_max_size=1024 * 1024)
    app[SERVER_KEY] = server
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
