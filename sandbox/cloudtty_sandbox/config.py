"""Settings of one sandbox cluster."""

from __future__ import annotations

from pathlib import Path

import attrs

from .auth import StaticUser
from .faults import FaultConfig

WEBTERM_IMAGE = "ghcr.io/cloudtty-py/webterm"


@attrs.define
class SandboxConfig:
    """How a sandbox cluster listens, how its kubelet behaves, what runs locally.

    ``local_images`` maps an image name prefix to the command used when a container gives
    none (an empty list means the container must give its own ``command``).
    """

    host: str = "127.0.0.1"
    port: int = 0
    ingress_port: int | None = 0
    gateway_port: int | None = None
    node_name: str = "sandbox-node"
    pod_start_delay: float = 0.2
    pod_ready_delay: float = 0.0
    simulated_exit_after: float | None = None
    simulated_exit_code: int = 0
    local_images: dict[str, list[str]] = attrs.field(
        factory=lambda: {WEBTERM_IMAGE: ["cloudtty-webterm"]}
    )
    local_env: dict[str, str] = attrs.field(factory=dict)
    max_grace_seconds: float | None = None
    restart_backoff: float = 1.0
    work_dir: Path | None = None
    kubeconfig_path: Path | None = None
    watch_window: int = 10_000
    bookmark_interval: float = 1.0
    emit_events: bool = True
    forward_node_ports: bool = True
    gc_delay: float = 0.0
    faults: FaultConfig = attrs.field(factory=FaultConfig)
    # Opt-in: authenticate bearer tokens and authorize requests with RBAC.
    rbac: bool = False
    # Serve HTTPS with a per-sandbox CA (None: only when ``rbac`` is on, because kubectl sends
    # bearer tokens over TLS only).
    tls: bool | None = None
    users: list[StaticUser] = attrs.field(factory=list)
