"""Warm-worker mode: listen at once, wait for the session Secret, then serve that session.

The session arrives as the Secret ``<pod-name>-session`` (key ``session.json``) in the pod's own
namespace, read with the pod's ServiceAccount token. Its kubeconfig is written with mode 0600
into a fresh HOME and reaches the shell only as the ``KUBECONFIG`` path; none of it is logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from cloudtty_webterm.config import (
    ConfigError,
    ServerConfig,
    SessionSpec,
    apply_session,
    parse_session,
)
from cloudtty_webterm.kubeapi import InClusterConfig, KubeAPI, KubeAPIError

log = logging.getLogger(__name__)

POD_NAME_ENV = "CLOUDTTY_POD_NAME"
POD_NAMESPACE_ENV = "CLOUDTTY_POD_NAMESPACE"
SESSION_KEY = "session.json"


def session_secret_name(pod_name: str) -> str:
    """The name of the Secret that carries a worker pod's session."""
    return f"{pod_name}-session"


def session_from_secret(secret: dict[str, Any]) -> SessionSpec | None:
    """The parsed session of a Secret object, or None when it has no ``session.json`` yet."""
    name = (secret.get("metadata") or {}).get("name", "?")
    where = f"Secret {name} key {SESSION_KEY}"
    raw: str | None = None
    encoded = (secret.get("data") or {}).get(SESSION_KEY)
    if encoded is not None:
        try:
            raw = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ConfigError(f"{where}: not base64-encoded UTF-8") from None
    elif (secret.get("stringData") or {}).get(SESSION_KEY) is not None:
        raw = secret["stringData"][SESSION_KEY]
    if raw is None:
        return None
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: invalid JSON: {exc.msg}") from None
    return parse_session(document, where)


async def wait_for_session(
    api: KubeAPI, namespace: str, secret_name: str, *, max_backoff: float = 5.0
) -> SessionSpec:
    """Block until the session Secret exists and holds a session; return it.

    Watches with a field selector; when the watch fails (e.g. not allowed), falls back to
    polling with get. Errors are logged by status only.
    """
    backoff = 0.2
    while True:
        try:
            secret = await api.get_secret(namespace, secret_name)
            if secret is not None and (spec := session_from_secret(secret)) is not None:
                return spec
            try:
                async for kind, obj in api.watch_secret(namespace, secret_name):
                    if kind in ("ADDED", "MODIFIED"):
                        spec = session_from_secret(obj)
                        if spec is not None:
                            return spec
                    elif kind == "ERROR":
                        log.info("watch of Secret %s ended: %s", secret_name, obj.get("reason"))
                        break
                backoff = 0.2
                await asyncio.sleep(0.1)  # a watch that ends at once must not spin
                continue
            except KubeAPIError as exc:
                log.warning("cannot watch Secret %s (%s): polling", secret_name, exc.status)
        except (aiohttp.ClientError, TimeoutError, KubeAPIError) as exc:
            detail = exc.status if isinstance(exc, KubeAPIError) else type(exc).__name__
            log.warning("cannot read Secret %s/%s yet (%s)", namespace, secret_name, detail)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff)


def prepare_home(base: Path, kubeconfig: str | None) -> dict[str, str]:
    """Create a fresh private HOME below ``base``; write the kubeconfig there with mode 0600.

    Returns the environment entries for the shell (``HOME`` and, with a kubeconfig,
    ``KUBECONFIG``).
    """
    base.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="session-", dir=base))
    home.chmod(0o700)
    env = {"HOME": str(home)}
    if kubeconfig is not None:
        kube_dir = home / ".kube"
        kube_dir.mkdir(mode=0o700)
        path = kube_dir / "config"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(kubeconfig)
        env["KUBECONFIG"] = str(path)
    return env


def session_config(defaults: ServerConfig, spec: SessionSpec, home_base: Path) -> ServerConfig:
    """The server configuration for a received session (its HOME prepared on disk)."""
    config = apply_session(defaults, spec)
    env = prepare_home(home_base, spec.kubeconfig)
    config = attrs.evolve(
        config,
        child_env={**config.child_env, **env},
        workdir=config.workdir or Path(env["HOME"]),
    )
    config.validate("session")
    return config


@attrs.frozen
class WorkerIdentity:
    """The pod this worker runs in."""

    pod_name: str
    namespace: str

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> WorkerIdentity:
        """Read ``CLOUDTTY_POD_NAME`` / ``CLOUDTTY_POD_NAMESPACE`` (downward API)."""
        env = os.environ if environ is None else environ
        name, namespace = env.get(POD_NAME_ENV), env.get(POD_NAMESPACE_ENV)
        if not name or not namespace:
            raise ConfigError(f"worker mode needs {POD_NAME_ENV} and {POD_NAMESPACE_ENV} set")
        return cls(name, namespace)


async def receive_session(
    identity: WorkerIdentity, kube: InClusterConfig, defaults: ServerConfig, home_base: Path
) -> ServerConfig:
    """Wait for this worker's session and return the configuration to serve it with."""
    secret = session_secret_name(identity.pod_name)
    log.info("waiting for Secret %s/%s", identity.namespace, secret)
    async with aiohttp.ClientSession() as http:
        spec = await wait_for_session(KubeAPI(kube, http), identity.namespace, secret)
    log.info("session received for %s", spec.shell_name or identity.pod_name)
    return session_config(defaults, spec, home_base)
