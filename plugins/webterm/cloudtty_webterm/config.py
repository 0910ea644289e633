"""Server configuration and the session document that configures it.

Standalone servers and cold pods are configured from flags and files; warm workers from the
``session.json`` document of their session Secret (see the worker contract). Both end up as one
:class:`ServerConfig`. Every validation error names the field and where it came from.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import attrs

AUTH_MODES = ("none", "basic", "token", "header")

#: xterm.js ``ITerminalOptions`` the page accepts from the server (``clientOptions``).
XTERM_OPTIONS = frozenset(
    {
        "allowTransparency",
        "altClickMovesCursor",
        "convertEol",
        "cursorBlink",
        "cursorStyle",
        "cursorWidth",
        "cursorInactiveStyle",
        "customGlyphs",
        "drawBoldTextInBrightColors",
        "fastScrollSensitivity",
        "fontSize",
        "fontFamily",
        "fontWeight",
        "fontWeightBold",
        "letterSpacing",
        "lineHeight",
        "macOptionIsMeta",
        "macOptionClickForcesSelection",
        "minimumContrastRatio",
        "rightClickSelectsWord",
        "screenReaderMode",
        "scrollback",
        "scrollSensitivity",
        "smoothScrollDuration",
        "tabStopWidth",
        "theme",
        "wordSeparator",
    }
)
#: Page options that are not xterm's own.
PAGE_OPTIONS = frozenset({"titleFixed", "copyOnSelect", "disableLeaveAlert"})
_NUMERIC_OPTIONS = frozenset(
    {
        "fontSize",
        "lineHeight",
        "letterSpacing",
        "scrollback",
        "cursorWidth",
        "tabStopWidth",
        "minimumContrastRatio",
        "fastScrollSensitivity",
        "scrollSensitivity",
        "smoothScrollDuration",
    }
)
_BOOL_OPTIONS = frozenset(
    {
        "allowTransparency",
        "altClickMovesCursor",
        "convertEol",
        "cursorBlink",
        "customGlyphs",
        "drawBoldTextInBrightColors",
        "macOptionIsMeta",
        "macOptionClickForcesSelection",
        "rightClickSelectsWord",
        "screenReaderMode",
        "copyOnSelect",
        "disableLeaveAlert",
    }
)
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class ConfigError(ValueError):
    """Bad configuration; the message names the field and its source."""


@attrs.frozen
class AuthConfig:
    """How the server authenticates requests (page, assets, WebSocket, file transfer)."""

    mode: str = "none"
    username: str | None = None
    password_sha256: str | None = None
    token_sha256: str | None = None
    user_header: str = "X-Forwarded-User"
    groups_header: str = "X-Forwarded-Groups"
    allowed_users: tuple[str, ...] = ()
    allowed_groups: tuple[str, ...] = ()
    max_failures: int = 5
    failure_window_seconds: float = 60.0

    def validate(self, where: str) -> None:
        """Raise :class:`ConfigError` when the mode lacks its parameters."""
        if self.mode not in AUTH_MODES:
            raise ConfigError(f"{where}: auth mode must be one of {AUTH_MODES}, got {self.mode!r}")
        if self.mode == "basic":
            if not self.username or not self.password_sha256:
                raise ConfigError(f"{where}: basic auth needs a username and a password")
            _check_sha(self.password_sha256, f"{where}: passwordSha256")
        if self.mode == "token":
            if not self.token_sha256:
                raise ConfigError(f"{where}: token auth needs a token")
            _check_sha(self.token_sha256, f"{where}: tokenSha256")


def _check_sha(value: str, where: str) -> None:
    if not _SHA256_HEX.match(value):
        raise ConfigError(f"{where} must be 64 lowercase hex digits (a SHA-256 digest)")


@attrs.frozen
class ServerConfig:
    """Everything the terminal server needs; secrets only as digests or file paths."""

    command: tuple[str, ...] = ("bash",)
    address: str = "127.0.0.1"
    port: int = 7681
    base_path: str = "/"
    once: bool = False
    max_clients: int = 0
    read_only: bool = False
    client_options: dict[str, Any] = attrs.field(factory=dict)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    ping_interval: float = 20.0
    check_origin: bool = True
    allowed_origins: tuple[str, ...] = ()
    idle_timeout: float | None = None
    expires_at: dt.datetime | None = None
    record_dir: Path | None = None
    record_input: bool = False
    workdir: Path | None = None
    file_transfer: bool = True
    max_upload_bytes: int = 100 * 1024 * 1024
    auth: AuthConfig = AuthConfig()
    scrollback_bytes: int = 1024 * 1024
    reconnect_grace: float = 30.0
    exit_on_command_exit: bool = False
    child_env: dict[str, str] = attrs.field(factory=dict)
    title: str = "cloudtty"

    def validate(self, where: str = "configuration") -> None:
        """Raise :class:`ConfigError` for any inconsistent setting."""
        if not self.command:
            raise ConfigError(f"{where}: command must not be empty")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"{where}: port must be 0..65535, got {self.port}")
        if not self.base_path.startswith("/") or not self.base_path.endswith("/"):
            raise ConfigError(f"{where}: base path must start and end with '/'")
        if self.max_clients < 0:
            raise ConfigError(f"{where}: max clients must be >= 0")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError(f"{where}: TLS needs both a certificate and a key file")
        if self.idle_timeout is not None and self.idle_timeout <= 0:
            raise ConfigError(f"{where}: idle timeout must be > 0 seconds")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ConfigError(f"{where}: expiresAt must carry a time zone")
        if self.max_upload_bytes < 0:
            raise ConfigError(f"{where}: max upload size must be >= 0")
        self.auth.validate(where)
        check_client_options(self.client_options, where)

    @property
    def tls(self) -> bool:
        """Whether the server terminates TLS itself."""
        return self.tls_cert is not None


def normalize_base_path(value: str, where: str = "base path") -> str:
    """``prefix`` / ``/prefix`` / ``/prefix/`` → ``/prefix/``; rejects unsafe characters."""
    value = value.strip() or "/"
    if not re.fullmatch(r"[A-Za-z0-9._~/-]*", value) or ".." in value.split("/"):
        raise ConfigError(f"{where}: {value!r} may hold only letters, digits and . _ ~ - /")
    return "/" + "/".join(p for p in value.split("/") if p) + "/" if value.strip("/") else "/"


def check_client_options(options: dict[str, Any], where: str) -> None:
    """Reject options the page does not know, naming them."""
    unknown = sorted(set(options) - XTERM_OPTIONS - PAGE_OPTIONS)
    if unknown:
        raise ConfigError(f"{where}: unknown client option(s) {unknown}")
    theme = options.get("theme")
    if theme is not None and not isinstance(theme, dict):
        raise ConfigError(f"{where}: client option theme must be an object")


def coerce_client_option(key: str, value: Any) -> Any:
    """Turn the strings of ``-t key=value`` flags and CRD fields into typed xterm options."""
    if not isinstance(value, str):
        return value
    if key in _NUMERIC_OPTIONS:
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"client option {key} must be a number, got {value!r}") from None
        return int(number) if number.is_integer() else number
    if key in _BOOL_OPTIONS:
        if value.lower() not in ("true", "false"):
            raise ConfigError(f"client option {key} must be true or false, got {value!r}")
        return value.lower() == "true"
    if key == "theme":
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"client option theme must be JSON: {exc}") from None
    return value


def parse_rfc3339(value: str, where: str) -> dt.datetime:
    """Parse an RFC 3339 timestamp (``Z`` allowed), requiring a time zone."""
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise ConfigError(f"{where}: {value!r} needs a time zone (e.g. Z)")
    return parsed


@attrs.frozen
class SessionSpec:
    """The parsed ``session.json`` (worker contract) or ``--config`` document."""

    command: tuple[str, ...] | None = None
    kubeconfig: str | None = attrs.field(default=None, repr=False)
    base_path: str | None = None
    auth: AuthConfig | None = None
    once: bool | None = None
    read_only: bool | None = None
    idle_timeout: float | None = None
    expires_at: dt.datetime | None = None
    client_options: dict[str, Any] | None = None
    env: dict[str, str] | None = None
    shell_namespace: str | None = None
    shell_name: str | None = None


def _typed(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = data.get(key)
    if value is not None and (
        not isinstance(value, kind) or isinstance(value, bool) != (kind is bool)
    ):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}: {key} must be {names}, got {type(value).__name__}")
    return value


def parse_session(data: Any, where: str = "session.json") -> SessionSpec:
    """Validate and parse a session document; errors name the field and ``where``."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a JSON object")
    command = _typed(data, "command", list, where)
    if command is not None and (not command or not all(isinstance(c, str) for c in command)):
        raise ConfigError(f"{where}: command must be a non-empty list of strings")
    auth = None
    raw_auth = _typed(data, "auth", dict, where)
    if raw_auth is not None:
        auth = _parse_auth(raw_auth, f"{where}: auth")
    expires = _typed(data, "expiresAt", str, where)
    idle = _typed(data, "idleTimeoutSeconds", (int, float), where)
    options = _typed(data, "clientOptions", dict, where)
    if options is not None:
        options = {k: coerce_client_option(k, v) for k, v in options.items()}
        check_client_options(options, where)
    env = _typed(data, "env", dict, where)
    if env is not None and not all(
        isinstance(k, str) and k and "=" not in k and "\0" not in k and isinstance(v, str)
        for k, v in env.items()
    ):
        raise ConfigError(f"{where}: env must map variable names to strings")
    shell = _typed(data, "shell", dict, where) or {}
    base = _typed(data, "basePath", str, where)
    return SessionSpec(
        command=tuple(command) if command is not None else None,
        kubeconfig=_typed(data, "kubeconfig", str, where),
        base_path=normalize_base_path(base, f"{where}: basePath") if base is not None else None,
        auth=auth,
        once=_typed(data, "once", bool, where),
        read_only=_typed(data, "readOnly", bool, where),
        idle_timeout=float(idle) if idle is not None else None,
        expires_at=parse_rfc3339(expires, f"{where}: expiresAt") if expires else None,
        client_options=options,
        env=env,
        shell_namespace=shell.get("namespace"),
        shell_name=shell.get("name"),
    )


def _parse_auth(raw: dict[str, Any], where: str) -> AuthConfig:
    def strings(key: str) -> tuple[str, ...]:
        value = raw.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: {key} must be a list of strings")
        return tuple(value)

    kwargs: dict[str, Any] = {
        "mode": _typed(raw, "mode", str, where) or "none",
        "username": _typed(raw, "username", str, where),
        "password_sha256": _typed(raw, "passwordSha256", str, where),
        "token_sha256": _typed(raw, "tokenSha256", str, where),
        "allowed_users": strings("allowedUsers"),
        "allowed_groups": strings("allowedGroups"),
    }
    for key, attr in (("userHeader", "user_header"), ("groupsHeader", "groups_header")):
        if raw.get(key):
            kwargs[attr] = _typed(raw, key, str, where)
    auth = AuthConfig(**kwargs)
    auth.validate(where)
    return auth


def apply_session(config: ServerConfig, spec: SessionSpec) -> ServerConfig:
    """Overlay the fields a session sets on ``config`` (kubeconfig is handled by the caller)."""
    changes: dict[str, Any] = {}
    if spec.command is not None:
        changes["command"] = spec.command
    if spec.base_path is not None:
        changes["base_path"] = spec.base_path
    if spec.auth is not None:
        changes["auth"] = spec.auth
    if spec.once is not None:
        changes["once"] = spec.once
    if spec.read_only is not None:
        changes["read_only"] = spec.read_only
    if spec.idle_timeout is not None:
        changes["idle_timeout"] = spec.idle_timeout
    if spec.expires_at is not None:
        changes["expires_at"] = spec.expires_at
    if spec.client_options is not None:
        changes["client_options"] = {**config.client_options, **spec.client_options}
    if spec.env:
        changes["child_env"] = {**config.child_env, **spec.env}
    if spec.shell_name:
        changes["title"] = f"{spec.shell_namespace or 'default'}/{spec.shell_name}"
    return attrs.evolve(config, **changes)


def load_json_file(path: Path, what: str) -> Any:
    """Read a JSON document, with errors naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} {path}: invalid JSON: {exc}") from None
