"""The ``ttyd`` image backend: a pod per shell running ttyd from CloudTTY's cloudshell image."""

from __future__ import annotations

from typing import Any

import attrs

from cloudtty_core import (
    CloudShell,
    ColdPodRequest,
    Manifest,
    SessionRequest,
    WorkerRequest,
)

DEFAULT_IMAGE = "ghcr.io/cloudtty/cloudshell:v0.7.7"
PORT = 7681
KUBECONFIG_DIR = "/usr/local/kubeconfig"
CONTAINER = "ttyd"


def ttyd_args(shell: CloudShell, base_path: str, command: tuple[str, ...]) -> list[str]:
    """ttyd's command line for ``shell``: flags from the spec, then the command.

    ttyd 1.7 is read-only unless ``--writable``; ``-t key=value`` passes client options.
    """
    spec = shell.spec
    args = ["--port", str(PORT), "--ping-interval", "20"]
    if not spec.read_only:
        args.append("--writable")
    if base_path.strip("/"):
        args += ["--base-path", "/" + base_path.strip("/")]
    if spec.once:
        args.append("--once")
    if spec.url_arg:
        args.append("--url-arg")
    for key, value in sorted(spec.ttyd_client_options.items()):
        args += ["-t", f"{key}={value}"]
    return [*args, "--", *command]


#: The user a terminal runs as when the spec names none, or names root.
DEFAULT_UID = 1000


def _run_as(shell: CloudShell) -> dict[str, Any]:
    """The pod's security context: never root, so every pod passes the restricted profile.

    CloudTTY manifests often say ``runAsUser: root``; it still shows in the USER column, but the
    terminal runs as :data:`DEFAULT_UID` (a numeric non-zero ``runAsUser`` is honoured).
    """
    text = str(shell.spec.run_as_user or "").strip()
    uid = int(text) if text.isdigit() and int(text) > 0 else DEFAULT_UID
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


@attrs.frozen
class TtydBackend:
    """CloudTTY-compatible shells: the upstream image, cold, kubeconfig mounted read-only."""

    name: str = "ttyd"
    default_image: str = DEFAULT_IMAGE
    port: int = PORT
    supports_warm_pool: bool = False
    supported_auth: frozenset[str] = frozenset({"none"})

    def worker_pod(self, request: WorkerRequest) -> Manifest:
        """Not used: ttyd cannot receive a session later (``supports_warm_pool`` is false)."""
        raise NotImplementedError("the ttyd image backend has no warm workers")

    def session(self, request: SessionRequest) -> Manifest:
        """Not used: cold pods are configured from their spec and mounted files."""
        raise NotImplementedError("the ttyd image backend has no warm workers")

    def cold_pod(self, request: ColdPodRequest) -> Manifest:
        """The pod serving exactly one shell."""
        shell, source = request.shell, request.kubeconfig
        if request.auth.mode not in self.supported_auth:
            raise ValueError(f"the ttyd image backend cannot enforce auth {request.auth.mode!r}")
        volume_source: dict[str, Any] = {
            "items": [{"key": source.key, "path": "config"}],
            "defaultMode": 0o440,
        }
        if source.kind == "Secret":
            volume = {"name": "kubeconfig", "secret": {"secretName": source.name, **volume_source}}
        else:
            volume = {"name": "kubeconfig", "configMap": {"name": source.name, **volume_source}}
        env: list[dict[str, Any]] = [
            {"name": "KUBECONFIG", "value": f"{KUBECONFIG_DIR}/config"},
            {"name": "TERM", "value": "xterm-256color"},
        ]
        for var in shell.spec.env:
            item: dict[str, Any] = {"name": var.name}
            if var.value_from is not None:
                item["valueFrom"] = dict(var.value_from)
            else:
                item["value"] = var.value or ""
            env.append(item)
        container: dict[str, Any] = {
            "name": CONTAINER,
            "image": request.image,
            "command": ["ttyd"],
            "args": ttyd_args(shell, request.base_path, request.command),
            "ports": [{"name": "http", "containerPort": request.port, "protocol": "TCP"}],
            "env": env,
            "readinessProbe": {
                "tcpSocket": {"port": "http"},
                "periodSeconds": 2,
            },
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "volumeMounts": [{"name": "kubeconfig", "mountPath": KUBECONFIG_DIR, "readOnly": True}],
        }
        if shell.spec.resources:
            container["resources"] = dict(shell.spec.resources)
        pod_spec: dict[str, Any] = {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "containers": [container],
            "volumes": [volume],
        }
        pod_spec["securityContext"] = _run_as(shell)
        ttl = shell.spec.effective_ttl_seconds()
        if ttl:
            pod_spec["activeDeadlineSeconds"] = int(ttl)
        if shell.spec.node_selector:
            pod_spec["nodeSelector"] = dict(shell.spec.node_selector)
        if shell.spec.tolerations:
            pod_spec["tolerations"] = [dict(t) for t in shell.spec.tolerations]
        if shell.spec.affinity:
            pod_spec["affinity"] = dict(shell.spec.affinity)
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "namespace": shell.namespace,
                "labels": {"app.kubernetes.io/name": "cloudtty-ttyd"},
            },
            "spec": pod_spec,
        }
