"""The WebSocket protocol between the page and the server.

Binary frames carry terminal bytes: output from server to page, input from page to server.
Text frames carry JSON control messages with a ``type``:

page → server: ``{"type": "resize", "cols": int, "rows": int}``,
``{"type": "input", "data": str}`` (text input, for clients that cannot send binary frames).

server → page: ``{"type": "hello", "session": str, "resumed": bool, "readOnly": bool,
"expiresAt": str|null, "idleTimeoutSeconds": number|null}`` (first message; a resumed session's
scrollback follows as binary frames), ``{"type": "exit", "reason": str, "message": str,
"code": int|null}`` (the session or server ended; the socket closes next),
``{"type": "error", "message": str}``.
"""

from __future__ import annotations

import json
from typing import Any

import attrs


class ProtocolError(ValueError):
    """A control message the server cannot accept; the message says why."""


@attrs.frozen
class Resize:
    """The page's terminal size changed."""

    cols: int
    rows: int


@attrs.frozen
class TextInput:
    """Keyboard input sent as text."""

    data: str


ClientMessage = Resize | TextInput


def parse_control(text: str) -> ClientMessage:
    """Parse one text frame from the page."""
    try:
        msg = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"control message is not JSON: {exc.msg}") from None
    if not isinstance(msg, dict):
        raise ProtocolError("control message must be a JSON object")
    kind = msg.get("type")
    if kind == "resize":
        cols, rows = msg.get("cols"), msg.get("rows")
        if not (_positive_int(cols) and _positive_int(rows)):
            raise ProtocolError("resize needs positive integer cols and rows")
        return Resize(cols, rows)
    if kind == "input":
        data = msg.get("data")
        if not isinstance(data, str):
            raise ProtocolError("input needs a string data field")
        return TextInput(data)
    raise ProtocolError(f"unknown control message type {kind!r}")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 10000


def hello(
    session: str,
    *,
    resumed: bool,
    read_only: bool,
    expires_at: str | None,
    idle_timeout: float | None,
) -> str:
    """The first server message on a connection."""
    return json.dumps(
        {
            "type": "hello",
            "session": session,
            "resumed": resumed,
            "readOnly": read_only,
            "expiresAt": expires_at,
            "idleTimeoutSeconds": idle_timeout,
        }
    )


EXIT_MESSAGES = {
    "once": "The session ended: this shell accepts a single connection.",
    "idle": "The session ended after a period of inactivity (idle timeout).",
    "ttl": "The session ended: this shell has expired (TTL).",
    "exit": "The command exited.",
    "signal": "The terminal server was stopped.",
}


def exit_message(reason: str, code: int | None = None) -> str:
    """Tell the page the session ended and why."""
    return json.dumps(
        {
            "type": "exit",
            "reason": reason,
            "message": EXIT_MESSAGES.get(reason, reason),
            "code": code,
        }
    )


def error_message(message: str) -> str:
    """Tell the page a message was rejected (the connection stays open)."""
    return json.dumps({"type": "error", "message": message})
