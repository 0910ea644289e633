"""The ``webterm`` image backend: warm workers running ``cloudtty-webterm worker``.

Workers start before any shell exists (so the first shell is not cold), run with a restricted
security context and a read-only root filesystem, and receive their session through the Secret
built by :meth:`WebtermBackend.session` (see the worker contract).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from cloudtty_core import (
    ColdPodRequest,
    Manifest,
    SessionRequest,
    WorkerRequest,
    format_time,
)
from cloudtty_webterm import __version__
from cloudtty_webterm.config import ConfigError, check_client_options, coerce_client_option

IMAGE = "ghcr.io/cloudtty-py/webterm"
PORT = 7681
HOME = "/home/cloudtty"
USER_ID = 10001  # the image's non-root user
TERMINATION_LOG = "/dev/termination-log"
CONTAINER = "terminal"
SESSION_KEY = "session.json"


def client_options(raw: Mapping[str, str]) -> dict[str, Any]:
    """``spec.ttydClientOptions`` the page understands, typed; others are left out.

    ttyd-only options (``rendererType``, ``enableZmodem``, ...) and malformed values must not
    make a session unusable, so they are dropped here rather than refused by the worker.
    """
    options: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            typed = coerce_client_option(key, value)
            check_client_options({key: typed}, "clientOptions")
        except ConfigError:
            continue
        options[key] = typed
    return options


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod(namespace: str, image: str, args: list[str]) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image,
        "args": args,
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": [
            _field_env("CLOUDTTY_POD_NAME", "metadata.name"),
            _field_env("CLOUDTTY_POD_NAMESPACE", "metadata.namespace"),
            _field_env("CLOUDTTY_BIND_ADDRESS", "status.podIP"),
            {"name": "HOME", "value": HOME},
            {"name": "TMPDIR", "value": "/tmp"},
        ],
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 2,
        },
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"memory": "512Mi"},
        },
        "securityContext": _container_security(),
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
        "volumeMounts": [
            {"name": "home", "mountPath": HOME},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "cloudtty-webterm"},
        },
        "spec": {
            "restartPolicy": "Never",
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": USER_ID,
                "runAsGroup": USER_ID,
                "fsGroup": USER_ID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
            "volumes": [
                {"name": "home", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
            ],
        },
    }


def session_document(request: SessionRequest) -> dict[str, Any]:
    """The ``session.json`` a claimed worker reads (the worker contract)."""
    spec = request.shell.spec
    return {
        "command": list(request.command),
        "kubeconfig": request.kubeconfig,
        "basePath": request.base_path,
        "auth": dict(request.auth),
        "once": spec.once,
        "readOnly": spec.read_only,
        "idleTimeoutSeconds": spec.idle_timeout_seconds,
        "expiresAt": format_time(request.expires_at) if request.expires_at else None,
        "clientOptions": client_options(spec.ttyd_client_options),
        # valueFrom needs the kubelet, which started this worker long before its session.
        "env": {var.name: var.value for var in spec.env if var.value is not None},
        "shell": {"namespace": request.shell.namespace, "name": request.shell.name},
    }


@attrs.frozen
class WebtermBackend:
    """The default image backend: the Python terminal server, from a warm pool."""

    name: str = "webterm"
    default_image: str = f"{IMAGE}:{__version__}"
    port: int = PORT
    supports_warm_pool: bool = True
    supported_auth: frozenset[str] = frozenset({"none", "basic", "token", "header"})

    def worker_pod(self, request: WorkerRequest) -> Manifest:
        """An idle worker: listens at once (Ready on /healthz) and waits for its session."""
        return _pod(request.pool.namespace, request.pool.image, ["worker"])

    def cold_pod(self, request: ColdPodRequest) -> Manifest:
        """Not used: webterm always runs from the warm pool (``supports_warm_pool``)."""
        raise NotImplementedError(
            "the webterm image backend runs from the warm pool; it has no cold pods"
        )

    def session(self, request: SessionRequest) -> Manifest:
        """The Secret ``<pod>-session`` with ``session.json`` for the claimed worker."""
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": request.secret_name, "namespace": request.worker.namespace},
            "stringData": {SESSION_KEY: json.dumps(session_document(request), sort_keys=True)},
        }
