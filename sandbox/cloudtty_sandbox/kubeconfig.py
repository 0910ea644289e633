"""The kubeconfig file a sandbox writes for its clients (mode 0600: it holds the admin token)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml


def render(
    server: str,
    token: str,
    namespace: str = "default",
    name: str = "sandbox",
    ca_pem: str | None = None,
) -> str:
    cluster: dict[str, str] = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem.encode()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": f"{name}-admin", "user": {"token": token}}],
        "contexts": [
            {
                "name": name,
                "context": {"cluster": name, "user": f"{name}-admin", "namespace": namespace},
            }
        ],
        "current-context": name,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def write(path: Path, server: str, token: str, ca_pem: str | None = None) -> Path:
    """Write the kubeconfig whole: into a private temporary file renamed over ``path``, so a
    client that sees the file never reads it half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(render(server, token, ca_pem=ca_pem))
    os.chmod(partial, 0o600)
    os.replace(partial, path)
    return path
