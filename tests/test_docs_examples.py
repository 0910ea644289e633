"""The code in the guides runs: docs/embedding.md's blocks are executed as written, and every
Python block of docs/plugin-authoring.md is the code of the example distribution under
examples/gateway-httproute, whose own tests (the conformance kit) pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLE = ROOT / "examples" / "gateway-httproute"

_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def code_blocks(page: Path, language: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(page.read_text()) if lang == language]


def test_embedding_guide_runs_as_written():
    blocks = code_blocks(DOCS / "embedding.md", "python")
    assert len(blocks) >= 3
    namespace: dict[str, object] = {"__name__": "embedding_guide"}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"docs/embedding.md block {number}", "exec"), namespace)


def _normalised(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def test_plugin_authoring_guide_shows_the_example_code():
    sources = {
        path.relative_to(ROOT).as_posix(): _normalised(path.read_text())
        for path in EXAMPLE.rglob("*")
        if path.is_file() and path.suffix in (".py", ".toml", ".yaml")
    }
    guide = DOCS / "plugin-authoring.md"
    shown = [
        block
        for language in ("python", "toml")
        for block in code_blocks(guide, language)
        if not block.startswith("# not from the example")
    ]
    assert len(shown) >= 4
    for block in shown:
        first, _, rest = block.partition("\n")
        assert first.startswith("# examples/"), f"a block of the guide names no file: {first}"
        path = first[2:].strip()
        assert path in sources, f"the guide quotes {path}, which does not exist"
        assert _normalised(rest) in sources[path], f"the guide's {path} differs from the file"


def test_example_distribution_passes_its_tests_and_the_conformance_kit():
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed
    assert int(passed.group(1)) >= 10  # the kit's tests and the example's own ran
