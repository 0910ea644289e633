"""A minimal in-cluster Kubernetes API reader: get and watch one Secret.

Only what a warm worker needs, with plain aiohttp: the full ``kubernetes`` client would double
the image and the start time. The ServiceAccount token is re-read for every request because
projected tokens rotate.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import attrs

from cloudtty_webterm.paths import pod_path

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class KubeAPIError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@attrs.frozen
class InClusterConfig:
    """The API server address and credentials a pod gets from its environment."""

    base_url: str
    token_path: Path
    ca_path: Path | None

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> InClusterConfig:
        """Read ``KUBERNETES_SERVICE_HOST``/``PORT`` and the ServiceAccount files.

        HTTPS is used when ``ca.crt`` is present (always, in a real cluster); without it the
        API is reached over plain HTTP (the local sandbox cluster).
        """
        env = dict(os.environ if environ is None else environ)
        host = env.get("KUBERNETES_SERVICE_HOST")
        port = env.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise KubeAPIError(0, "KUBERNETES_SERVICE_HOST is not set: not running in a pod")
        sa_dir = pod_path(SERVICE_ACCOUNT_DIR, env)
        ca = sa_dir / "ca.crt"
        scheme = "https" if ca.is_file() else "http"
        netloc = f"[{host}]" if ":" in host else host
        return cls(f"{scheme}://{netloc}:{port}", sa_dir / "token", ca if ca.is_file() else None)

    def ssl_context(self) -> ssl.SSLContext | bool:
        """Verify the API server against the cluster CA (default verification otherwise)."""
        if self.ca_path is None:
            return True
        return ssl.create_default_context(cafile=str(self.ca_path))

    def auth_headers(self) -> dict[str, str]:
        """The bearer token header (empty when the token file is missing)."""
        try:
            token = self.token_path.read_text(encoding="utf-8").strip()
        except OSError:
            return {}
        return {"Authorization": f"Bearer {token}"} if token else {}


class KubeAPI:
    """Reads Secrets of one namespace."""

    def __init__(self, config: InClusterConfig, session: aiohttp.ClientSession) -> None:
        self.config = config
        self.http = session

    def _url(self, namespace: str, name: str | None = None) -> str:
        url = f"{self.config.base_url}/api/v1/namespaces/{quote(namespace, safe='')}/secrets"
        return f"{url}/{quote(name, safe='')}" if name else url

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Secret object, or None when it does not exist (yet)."""
        async with self.http.get(
            self._url(namespace, name),
            headers=self.config.auth_headers(),
            ssl=self.config.ssl_context(),
        ) as response:
            if response.status == 404:
                return None
            if response.status != 200:
                raise KubeAPIError(response.status, (await response.text())[:200])
            result: dict[str, Any] = await response.json()
            return result

    async def watch_secret(
        self, namespace: str, name: str, timeout_seconds: int = 290
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Yield ``(type, object)`` watch events for the Secret ``name``.

        Started without a resourceVersion, the watch first reports the Secret if it already
        exists, so nothing created just before the watch is missed.
        """
        params = {
            "watch": "1",
            "fieldSelector": f"metadata.name={name}",
            "timeoutSeconds": str(timeout_seconds),
            "allowWatchBookmarks": "true",
        }
        async with self.http.get(
            self._url(namespace),
            params=params,
            headers=self.config.auth_headers(),
            ssl=self.config.ssl_context(),
            timeout=aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30),
        ) as response:
            if response.status != 200:
                raise KubeAPIError(response.status, (await response.text())[:200])
            # Lines are split by hand: a Secret with a kubeconfig may exceed readline's limit.
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        event = json.loads(line)
                        yield event.get("type", ""), event.get("object") or {}
