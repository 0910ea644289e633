"""The operator's logs: one JSON object per line, the shell in context, credentials redacted.

Every line carries ``time``, ``level``, ``logger`` and ``message``. Lines written while a shell
is being handled also carry its ``namespace`` and ``name``: the reconciler wraps its work in
:func:`log_context` and, because the fields live in a :mod:`contextvars` variable, every line
logged inside -- by the runtime, a backend or the Kubernetes client -- gets them, across
``await`` and into worker threads started with ``anyio.to_thread`` (which copies the context).

:class:`RedactingFilter` is the last line of defence for the rule that credentials never reach
the logs: it rewrites anything that looks like a bearer token, a JWT, a kubeconfig credential,
a private key or a password, whatever logger wrote it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, Any, Literal

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "REDACTED",
    "JsonFormatter",
    "RedactingFilter",
    "TextFormatter",
    "configure_logging",
    "current_context",
    "log_context",
    "redact",
]

REDACTED = "[REDACTED]"

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("json", "text")

#: Attributes every ``LogRecord`` has; anything else on a record came in through ``extra=``.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)

_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "cloudtty_log_context", default=MappingProxyType({})
)


@contextlib.contextmanager
def log_context(
    namespace: str | None = None, name: str | None = None, **fields: Any
) -> Iterator[None]:
    """Add ``namespace``/``name`` (and any other ``fields``) to every line logged inside.

    Nested contexts merge, the inner one winning; leaving restores the outer fields.

    >>> with log_context("team-a", "shell-1"):
    ...     logging.getLogger("cloudtty.runtime").info("reconciling")  # carries both
    """
    added = dict(fields)
    if namespace is not None:
        added["namespace"] = namespace
    if name is not None:
        added["name"] = name
    token = _context.set({**_context.get(), **added})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> Mapping[str, Any]:
    """The fields :func:`log_context` has bound in the current task or thread."""
    return _context.get()


# --------------------------------------------------------------------------------------------
# Redaction
# --------------------------------------------------------------------------------------------

_SECRET_KEYS = (
    r"token|id-token|refresh-token|access[_-]?token|bearer[_-]?token|client[_-]key[_-]data|"
    r"password|passwd|api[_-]?key|authorization"
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM private keys, possibly spanning lines.
    (
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        REDACTED,
    ),
    # "Bearer x" wherever it appears (headers, curl lines, reprs).
    (
        re.compile(r"(?i)\b(bearer)(\s+)(?!\[REDACTED\])[A-Za-z0-9\-._~+/=:]{8,}"),
        rf"\1\2{REDACTED}",
    ),
    # JWTs wherever they appear (ServiceAccount tokens are JWTs).
    (
        re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
        REDACTED,
    ),
    # key: value / key=value / "key": "value" in YAML, JSON, headers, query strings and reprs.
    (
        re.compile(
            rf"""(?ix)
            (\\?["']?\b(?:{_SECRET_KEYS})\\?["']?)  # the key, maybe quoted (or escaped-quoted)
            (\s*[:=]\s*)                           # the separator
            (?!(?:true|false|null|none)\b)         # booleans and nulls are no secrets
            (?:(?:bearer|basic)\s+)?+              # an HTTP auth scheme goes with its value
            (?!\\?["']?\[REDACTED\])             # already done
            (\\?"[^"\\]*\\?"|\\?'[^'\\]*\\?'   # a quoted value, quotes kept
            |[^\s"',;&}}\]]+)                       # or a bare one
            """
        ),
        "",
    ),
)


def _replace_pair(match: re.Match[str]) -> str:
    key, separator, value = match.group(1), match.group(2), match.group(3)
    quote = ""
    for candidate in ('\\"', "\\'", '"', "'"):
        if value.startswith(candidate) and value.endswith(candidate) and len(value) > 1:
            quote = candidate
            break
    return f"{key}{separator}{quote}{REDACTED}{quote}"


def redact(text: str) -> str:
    """``text`` with everything that looks like a credential replaced by ``[REDACTED]``."""
    if not text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement or _replace_pair, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and re.fullmatch(rf"(?i){_SECRET_KEYS}", key)
            else _redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, traceback and extra fields so no credential gets out.

    Attach it to handlers (not loggers) so it also covers records from libraries. The message
    is rendered with its arguments first: a token passed as ``%s`` is redacted as well.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the caller's bug; keep the raw text
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            # The text replaces the live exception: its arguments could hold the secret.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        extra = {key: getattr(record, key) for key in _extra_keys(record)}
        for key, value in _redact_value(extra).items():
            setattr(record, key, value)
        return True


def _extra_keys(record: logging.LogRecord) -> list[str]:
    return [key for key in vars(record) if key not in _RECORD_ATTRIBUTES]


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def _timestamp(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """Context fields, then ``extra=`` fields (which win) of a record."""
    # Context fields never pass through RedactingFilter (they are not on the record).
    fields: dict[str, Any] = _redact_value(_context.get())
    fields.update({key: getattr(record, key) for key in _extra_keys(record)})
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then context and extra fields.

    Values JSON cannot represent are written as their ``str()``; a traceback goes into
    ``exception`` as one string (the line stays one line).
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger [namespace/name] message key=value …`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        shell = ""
        if "namespace" in fields or "name" in fields:
            shell = f" [{fields.pop('namespace', '')}/{fields.pop('name', '')}]"
        extra = "".join(f" {key}={value}" for key, value in fields.items())
        line = (
            f"{_timestamp(record.created)} {record.levelname.lower():<7} {record.name}{shell} "
            f"{record.getMessage()}{extra}"
        )
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


def configure_logging(
    level: str | int = "info",
    *,
    fmt: Literal["json", "text"] = "json",
    stream: IO[str] | None = None,
    quiet_libraries: bool = True,
) -> logging.Handler:
    """Send every log record (root logger) to ``stream`` (default stderr), formatted and redacted.

    Replaces handlers an earlier call installed; returns the new handler (remove it from the
    root logger to undo). ``quiet_libraries`` keeps the Kubernetes client and urllib3 at
    warning level even when ``level`` is debug: their debug lines include response bodies,
    and a Secret's base64 data is a credential no pattern can recognise.
    """
    numeric = _level(level)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    handler.set_name("cloudtty")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "cloudtty":
            root.removeHandler(old)
            old.close()
    root.addHandler(handler)
    root.setLevel(numeric)
    if quiet_libraries:
        for name in ("kubernetes", "urllib3"):
            logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    return handler


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    if level.lower() not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return int(logging.getLevelName(level.upper()))
