"""The pure core imports with only the standard library and its declared dependencies, and the
import-linter contract covers every pure module."""

from __future__ import annotations

import configparser
import json
import pkgutil
import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import cloudtty_core

ROOT = Path(__file__).resolve().parents[1]
IMPURE = ("cloudtty_core.runtime", "cloudtty_core.cli", "cloudtty_core.testing")


def pure_modules() -> list[str]:
    """Every module of cloudtty_core outside runtime/, cli and testing/, found on disk."""
    found = ["cloudtty_core"]
    for info in pkgutil.walk_packages(cloudtty_core.__path__, "cloudtty_core."):
        if not info.name.startswith(IMPURE):
            found.append(info.name)
    return found


def dependency_closure(distribution: str) -> set[str]:
    """Top-level import names of the distribution's required dependencies, transitively."""
    by_distribution: dict[str, set[str]] = {}
    for top, dists in metadata.packages_distributions().items():
        for dist in dists:
            by_distribution.setdefault(_normal(dist), set()).add(top)
    seen: set[str] = set()
    todo = [distribution]
    while todo:
        name = _normal(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for requirement in metadata.requires(name) or []:
            if "extra ==" in requirement:
                continue  # optional extras are not installed in a minimal environment
            marker_ok = ";" not in requirement or _marker_holds(requirement.split(";", 1)[1])
            if marker_ok:
                todo.append(re.split(r"[\s<>=!~\[;(]", requirement, maxsplit=1)[0])
    return {top for dist in seen for top in by_distribution.get(dist, set())}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _marker_holds(marker: str) -> bool:
    from packaging.markers import Marker

    return Marker(marker).evaluate()


def test_pure_core_imports_without_third_party_packages_beyond_its_dependencies():
    allowed = dependency_closure("cloudtty-core") | {"cloudtty_core"}
    assert {"attrs", "cattrs", "pluggy"} <= allowed
    script = textwrap.dedent(
        """
        import importlib, json, sys
        allowed = set(json.loads(sys.argv[1]))
        modules = json.loads(sys.argv[2])

        class Refuse:
            def find_spec(self, name, path=None, target=None):
                top = name.partition(".")[0]
                if top in sys.stdlib_module_names or top in allowed or top.startswith("_"):
                    return None
                raise ImportError(f"the pure core imported {name}")

        sys.meta_path.insert(0, Refuse())
        for module in modules:
            importlib.import_module(module)
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(sorted(allowed)), json.dumps(pure_modules())],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_the_refusing_import_hook_really_refuses():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "class R:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'yaml': raise ImportError('refused')\n"
            "sys.meta_path.insert(0, R())\n"
            "import cloudtty_core.cli.yamlio\n",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode != 0
    assert "PyYAML" in done.stderr or "refused" in done.stderr


def contract() -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter")
    return parser["importlinter:contract:pure-core"]


def listed(option: str) -> set[str]:
    return {line.strip() for line in contract()[option].splitlines() if line.strip()}


def test_every_pure_module_is_in_the_import_contract():
    sources = listed("source_modules")
    missing = [
        module
        for module in pure_modules()
        if module != "cloudtty_core"  # the facade; imported by the test above instead
        and not any(module == s or module.startswith(f"{s}.") for s in sources)
    ]
    assert missing == [], f"add these to source_modules in .importlinter: {missing}"


def test_the_contract_forbids_the_runtime_the_client_http_and_the_cli():
    forbidden = listed("forbidden_modules")
    assert {
        "kubernetes",
        "anyio",
        "aiohttp",
        "requests",
        "urllib3",
        "cloudtty_core.cli",
    } <= forbidden
    if (ROOT / "cloudtty_core" / "runtime").is_dir():
        assert "cloudtty_core.runtime" in forbidden
