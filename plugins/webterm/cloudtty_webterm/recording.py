"""Session recording in asciicast v2 (one JSON header line, then one JSON event per line).

Output is decoded with an incremental UTF-8 decoder, so a multibyte character split across two
PTY reads is written whole in the later event; undecodable bytes become U+FFFD.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import os
import re
import time
from pathlib import Path
from typing import Any, TextIO


def recording_path(directory: Path, title: str, session_id: str, now: dt.datetime) -> Path:
    """``<dir>/<UTC time>-<title>-<session>.cast`` with the title made file-name safe."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", title).strip("_") or "shell"
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return directory / f"{stamp}-{safe}-{session_id[:12]}.cast"


class AsciicastRecorder:
    """Writes one PTY session to an asciicast v2 file created with mode 0600."""

    def __init__(
        self,
        path: Path,
        *,
        width: int,
        height: int,
        title: str,
        command: str,
        record_input: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.path = path
        self._file: TextIO = os.fdopen(fd, "w", encoding="utf-8")
        self._start = time.monotonic()
        self._out = codecs.getincrementaldecoder("utf-8")("replace")
        self._in = codecs.getincrementaldecoder("utf-8")("replace")
        self.record_input = record_input
        header: dict[str, Any] = {
            "version": 2,
            "width": width,
            "height": height,
            "timestamp": int(time.time()),
            "title": title,
            "command": command,
            "env": env or {"TERM": "xterm-256color", "SHELL": os.environ.get("SHELL", "/bin/bash")},
        }
        self._write_line(header)

    def _write_line(self, obj: Any) -> None:
        if self._file.closed:
            return
        self._file.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._file.flush()

    def _event(self, code: str, data: str) -> None:
        self._write_line([round(time.monotonic() - self._start, 6), code, data])

    def output(self, data: bytes) -> None:
        """Record terminal output."""
        text = self._out.decode(data)
        if text:
            self._event("o", text)

    def input(self, data: bytes) -> None:
        """Record terminal input when input recording is on (off by default: passwords)."""
        if self.record_input:
            text = self._in.decode(data)
            if text:
                self._event("i", text)

    def resize(self, cols: int, rows: int) -> None:
        """Record a terminal resize (asciicast v2 ``r`` event)."""
        self._event("r", f"{cols}x{rows}")

    def close(self) -> None:
        """Flush any incomplete character and close the file (idempotent)."""
        if self._file.closed:
            return
        tail = self._out.decode(b"", final=True)
        if tail:
            self._event("o", tail)
        self._file.close()


def read_asciicast(path: Path) -> tuple[dict[str, Any], list[list[Any]]]:
    """Parse an asciicast v2 file into its header and events, checking the format."""
    # Split on "\n" only: str.splitlines() also splits on U+0085 and U+2028 inside the data.
    lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line]
    if not lines:
        raise ValueError(f"{path}: empty recording")
    header = json.loads(lines[0])
    if not isinstance(header, dict) or header.get("version") != 2:
        raise ValueError(f"{path}: not an asciicast v2 header")
    events = []
    last = 0.0
    for number, line in enumerate(lines[1:], start=2):
        event = json.loads(line)
        if (
            not isinstance(event, list)
            or len(event) != 3
            or not isinstance(event[0], int | float)
            or event[1] not in ("o", "i", "r", "m")
            or not isinstance(event[2], str)
        ):
            raise ValueError(f"{path}:{number}: malformed event {line[:80]!r}")
        if event[0] < last:
            raise ValueError(f"{path}:{number}: time goes backwards")
        last = event[0]
        events.append(event)
    return header, events
