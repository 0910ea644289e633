"""Render the Helm chart from Python: build the Go renderer (main.go beside this file) once,
then run it like ``helm template``.

The renderer is built from Debian's Go toolchain and Go sources (see setup.sh) in GOPATH mode
and cached under ``build/helm-render/`` by the hash of its source, so tests pay for the build
once per change. Used by the deployment tests; no dependency of the product.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
CHART = ROOT / "deploy" / "helm" / "cloudtty"
BUILD_DIR = ROOT / "build" / "helm-render"
GOPATH = "/usr/share/gocode"
SETUP_HINT = "run `bash deploy/helm/render/setup.sh` (./dev setup does) to install Go and sprig"


class RendererUnavailable(RuntimeError):
    """The Go toolchain or the template libraries are missing."""


def _go() -> str:
    go = shutil.which("go") or ("/usr/bin/go" if Path("/usr/bin/go").exists() else None)
    if go is None:
        raise RendererUnavailable(f"no Go toolchain: {SETUP_HINT}")
    for package in ("github.com/Masterminds/sprig", "sigs.k8s.io/yaml"):
        if not (Path(GOPATH) / "src" / package).is_dir():
            raise RendererUnavailable(f"Go package {package} is missing: {SETUP_HINT}")
    return go


def renderer() -> Path:
    """The renderer binary, built when its source changed since the last build."""
    source = (HERE / "main.go").read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    binary = BUILD_DIR / f"render-{digest}"
    if binary.exists():
        return binary
    go = _go()
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": GOPATH,
        "GOCACHE": str(BUILD_DIR / "gocache"),
        "GOFLAGS": "",
        "CGO_ENABLED": "0",
    }
    # Build beside the target and rename: parallel test workers never see half a binary.
    with tempfile.TemporaryDirectory(dir=BUILD_DIR) as tmp:
        out = Path(tmp) / "render"
        result = subprocess.run(
            [go, "build", "-o", str(out), str(HERE / "main.go")],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            raise RendererUnavailable(f"building the chart renderer failed:\n{result.stderr}")
        out.replace(binary)
    return binary


def render_text(
    *,
    values: Mapping[str, Any] | None = None,
    sets: Sequence[str] = (),
    namespace: str = "cloudtty-system",
    release: str = "cloudtty",
    chart: Path = CHART,
) -> str:
    """The chart's manifests as ``helm template`` prints them.

    :raises RuntimeError: the chart does not render (the renderer's message).
    """
    args = [str(renderer()), "--name", release, "--namespace", namespace]
    with tempfile.TemporaryDirectory() as tmp:
        if values is not None:
            path = Path(tmp) / "values.yaml"
            path.write_text(yaml.safe_dump(dict(values)))
            args += ["-f", str(path)]
        for item in sets:
            args += ["--set", item]
        args.append(str(chart))
        result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip())
    return result.stdout


def render(**kwargs: Any) -> list[dict[str, Any]]:
    """The chart's manifests as objects (see :func:`render_text` for the arguments)."""
    return [doc for doc in yaml.safe_load_all(render_text(**kwargs)) if doc]
