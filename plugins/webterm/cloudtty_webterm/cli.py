"""``cloudtty-webterm``: serve a command in the browser, or wait for a session as a warm worker.

    cloudtty-webterm [serve] [options] [--] COMMAND [ARG...]
    cloudtty-webterm worker [options]

Secrets come from files only (``--credential-file``, ``--token-file``, ``--kubeconfig``,
``--config``), never from arguments. File paths are mapped through ``CLOUDTTY_SANDBOX_ROOT``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs

from cloudtty_webterm import __version__
from cloudtty_webterm.assets import AssetsMissing, check_assets
from cloudtty_webterm.auth import sha256_hex
from cloudtty_webterm.config import (
    AUTH_MODES,
    AuthConfig,
    ConfigError,
    ServerConfig,
    apply_session,
    coerce_client_option,
    load_json_file,
    normalize_base_path,
    parse_rfc3339,
    parse_session,
)
from cloudtty_webterm.kubeapi import InClusterConfig, KubeAPIError
from cloudtty_webterm.paths import pod_path
from cloudtty_webterm.runner import Listener, serve_until_done
from cloudtty_webterm.server import TerminalServer
from cloudtty_webterm.termination import ExitReason, write_termination_message
from cloudtty_webterm.worker import WorkerIdentity, prepare_home, receive_session

log = logging.getLogger("cloudtty_webterm")

BIND_ADDRESS_ENV = "CLOUDTTY_BIND_ADDRESS"


def _path(value: str) -> Path:
    return pod_path(value)


def _client_option(value: str) -> tuple[str, object]:
    key, sep, raw = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"client option {value!r} must be KEY=VALUE")
    try:
        return key, coerce_client_option(key, raw)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    net = parser.add_argument_group("network")
    net.add_argument(
        "-i",
        "--address",
        default=os.environ.get(BIND_ADDRESS_ENV, "127.0.0.1"),
        help=f"address to listen on (default: ${BIND_ADDRESS_ENV} or 127.0.0.1)",
    )
    net.add_argument("-p", "--port", type=int, default=7681, help="port (0: any free port)")
    net.add_argument(
        "-b",
        "--base-path",
        default="/",
        help="serve everything below this path (e.g. an Ingress path)",
    )
    net.add_argument("--tls-cert", type=_path, help="TLS certificate file (PEM)")
    net.add_argument("--tls-key", type=_path, help="TLS private key file (PEM)")
    net.add_argument(
        "-P",
        "--ping-interval",
        type=float,
        default=20.0,
        help="WebSocket ping interval in seconds (0: off)",
    )
    net.add_argument(
        "--no-check-origin", action="store_true", help="accept WebSockets from any Origin"
    )
    net.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="also accept this Origin (e.g. https://console.example.com)",
    )

    term = parser.add_argument_group("terminal")
    term.add_argument(
        "-o", "--once", action="store_true", help="accept one client and exit when it disconnects"
    )
    term.add_argument("-m", "--max-clients", type=int, default=0, help="0: unlimited")
    term.add_argument("-R", "--read-only", action="store_true", help="ignore client input")
    term.add_argument(
        "-t",
        "--client-option",
        type=_client_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="xterm.js option, e.g. fontSize=16",
    )
    term.add_argument("-w", "--workdir", type=_path, help="the command's working directory")
    term.add_argument(
        "--kubeconfig", type=_path, help="kubeconfig file given to the command as KUBECONFIG"
    )
    term.add_argument("--title", default="cloudtty", help="page title and recording title")
    term.add_argument(
        "--scrollback-bytes",
        type=int,
        default=1024 * 1024,
        help="output kept for a reconnecting client",
    )
    term.add_argument(
        "--reconnect-grace",
        type=float,
        default=30.0,
        help="seconds a disconnected session waits for its client to come back",
    )
    term.add_argument(
        "--exit-on-command-exit", action="store_true", help="end the server when a command exits"
    )

    life = parser.add_argument_group("limits, recording and files")
    life.add_argument("--idle-timeout", type=float, help="end after N seconds without I/O")
    life.add_argument("--expires-at", help="RFC 3339 time when the shell ends (TTL)")
    life.add_argument("--ttl", type=float, help="end after N seconds (sets --expires-at)")
    life.add_argument("--record-dir", type=_path, help="write asciicast v2 recordings here")
    life.add_argument(
        "--record-input",
        action="store_true",
        help="also record keyboard input (may capture passwords)",
    )
    life.add_argument("--no-file-transfer", action="store_true", help="disable upload and download")
    life.add_argument("--max-upload-bytes", type=int, default=100 * 1024 * 1024)

    auth = parser.add_argument_group("authentication")
    auth.add_argument("--auth", choices=AUTH_MODES, default="none")
    auth.add_argument(
        "--credential-file", type=_path, help="basic auth: file holding USER:PASSWORD"
    )
    auth.add_argument(
        "--token-file",
        type=_path,
        help="token auth: file holding the token (created with a random one if missing)",
    )
    auth.add_argument("--user-header", default="X-Forwarded-User")
    auth.add_argument("--groups-header", default="X-Forwarded-Groups")
    auth.add_argument("--allow-user", action="append", default=[], metavar="USER")
    auth.add_argument("--allow-group", action="append", default=[], metavar="GROUP")
    auth.add_argument(
        "--max-auth-failures",
        type=int,
        default=5,
        help="failed attempts per address per minute before 429",
    )

    parser.add_argument(
        "--config",
        type=_path,
        help="JSON session document (same fields as the worker's session.json)",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")


def build_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The ``serve`` and ``worker`` argument parsers."""
    serve = argparse.ArgumentParser(
        prog="cloudtty-webterm", description="Serve a command in the browser over a PTY."
    )
    _add_server_options(serve)
    serve.add_argument("command", nargs=argparse.REMAINDER, help="command (default: bash)")
    worker = argparse.ArgumentParser(
        prog="cloudtty-webterm worker",
        description="Warm worker: listen at once, wait for the session Secret, serve it.",
    )
    _add_server_options(worker)
    worker.add_argument(
        "--home-base", type=_path, help="where the session's fresh HOME is created (default: $HOME)"
    )
    return serve, worker


def _read_secret_file(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read: {exc.strerror}") from None


def _token_digest(path: Path) -> str:
    if not path.exists():
        # A new random token, readable only by us; the user takes it from the file.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
        log.info("wrote a new access token to %s", path)
    token = _read_secret_file(path, "token file")
    if not token:
        raise ConfigError(f"token file {path} is empty")
    return sha256_hex(token)


def auth_from_args(args: argparse.Namespace) -> AuthConfig:
    """The auth configuration of the flags, reading secrets from their files."""
    kwargs: dict[str, object] = {
        "mode": args.auth,
        "user_header": args.user_header,
        "groups_header": args.groups_header,
        "allowed_users": tuple(args.allow_user),
        "allowed_groups": tuple(args.allow_group),
        "max_failures": args.max_auth_failures,
    }
    if args.auth == "basic":
        if args.credential_file is None:
            raise ConfigError("--auth basic needs --credential-file")
        user, sep, password = _read_secret_file(args.credential_file, "credential file").partition(
            ":"
        )
        if not sep or not user or not password:
            raise ConfigError(f"credential file {args.credential_file} must hold USER:PASSWORD")
        kwargs.update(username=user, password_sha256=sha256_hex(password))
    if args.auth == "token":
        if args.token_file is None:
            raise ConfigError("--auth token needs --token-file")
        kwargs["token_sha256"] = _token_digest(args.token_file)
    return AuthConfig(**kwargs)  # type: ignore[arg-type]


def config_from_args(args: argparse.Namespace, command: Sequence[str]) -> ServerConfig:
    """The server configuration of the flags (and ``--config``), validated."""
    expires = parse_rfc3339(args.expires_at, "--expires-at") if args.expires_at else None
    if args.ttl is not None:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=args.ttl)
    child_env = {"KUBECONFIG": str(args.kubeconfig)} if args.kubeconfig else {}
    config = ServerConfig(
        command=tuple(command) or ("bash",),
        address=args.address,
        port=args.port,
        base_path=normalize_base_path(args.base_path, "--base-path"),
        once=args.once,
        max_clients=args.max_clients,
        read_only=args.read_only,
        client_options=dict(args.client_option),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        ping_interval=args.ping_interval,
        check_origin=not args.no_check_origin,
        allowed_origins=tuple(args.allow_origin),
        idle_timeout=args.idle_timeout,
        expires_at=expires,
        record_dir=args.record_dir,
        record_input=args.record_input,
        workdir=args.workdir,
        file_transfer=not args.no_file_transfer,
        max_upload_bytes=args.max_upload_bytes,
        auth=auth_from_args(args),
        scrollback_bytes=args.scrollback_bytes,
        reconnect_grace=args.reconnect_grace,
        exit_on_command_exit=args.exit_on_command_exit,
        child_env=child_env,
        title=args.title,
    )
    if args.config is not None:
        spec = parse_session(load_json_file(args.config, "config file"), str(args.config))
        config = apply_session(config, spec)
        if spec.kubeconfig is not None:
            home = prepare_home(Path(os.environ.get("HOME", ".")), spec.kubeconfig)
            config = attrs.evolve(config, child_env={**config.child_env, **home})
    config.validate("flags")
    return config


def _listener(config: ServerConfig) -> Listener:
    return Listener(config.address, config.port, config.tls_cert, config.tls_key)


async def _serve(config: ServerConfig) -> ExitReason:
    return await serve_until_done(TerminalServer(config), _listener(config))


async def _work(defaults: ServerConfig, home_base: Path) -> ExitReason:
    identity = WorkerIdentity.from_environment()
    kube = InClusterConfig.from_environment()
    server = TerminalServer(None)

    async def configure() -> None:
        try:
            server.configure(await receive_session(identity, kube, defaults, home_base))
        except ConfigError as exc:
            log.error("unusable session: %s", exc)
            server.finish(ExitReason.EXIT)

    task = asyncio.create_task(configure())
    try:
        return await serve_until_done(server, _listener(defaults))
    finally:
        task.cancel()


def _finish(reason: ExitReason) -> int:
    if reason is not ExitReason.SIGNAL:
        write_termination_message(reason)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``cloudtty-webterm``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    serve_parser, worker_parser = build_parser()
    is_worker = bool(argv) and argv[0] == "worker"
    if argv and argv[0] in ("worker", "serve"):
        argv = argv[1:]
    parser = worker_parser if is_worker else serve_parser
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        check_assets()
        command = [] if is_worker else list(args.command)
        if command[:1] == ["--"]:
            command = command[1:]
        config = config_from_args(args, command)
        if is_worker:
            home_base = args.home_base or pod_path(os.environ.get("HOME") or "/tmp")
            reason = asyncio.run(_work(attrs.evolve(config, exit_on_command_exit=True), home_base))
        else:
            reason = asyncio.run(_serve(config))
    except (ConfigError, AssetsMissing, KubeAPIError) as exc:
        print(f"cloudtty-webterm: error: {exc}", file=sys.stderr)
        return 2
    return _finish(reason)


if __name__ == "__main__":
    sys.exit(main())
