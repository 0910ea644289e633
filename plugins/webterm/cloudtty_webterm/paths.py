"""Absolute paths as the pod sees them, mapped into the sandbox's per-pod directory.

The sandbox cluster runs a pod as a local process and materialises its volumes under
``$CLOUDTTY_SANDBOX_ROOT/<mountPath>``; on a real node the variable is unset and paths are used as
they are.
"""

from __future__ import annotations

import os
from pathlib import Path

SANDBOX_ROOT_ENV = "CLOUDTTY_SANDBOX_ROOT"


def pod_path(path: str | os.PathLike[str], environ: dict[str, str] | None = None) -> Path:
    """Return where the pod-absolute ``path`` lives on this machine.

    Relative paths are returned unchanged: they are relative to the working directory, which
    the sandbox already makes private per pod.
    """
    env = os.environ if environ is None else environ
    p = Path(path)
    root = env.get(SANDBOX_ROOT_ENV)
    if not root or not p.is_absolute():
        return p
    if p.is_relative_to(root):  # already a local path (e.g. a HOME the sandbox set itself)
        return p
    return Path(root) / p.relative_to(p.anchor)
