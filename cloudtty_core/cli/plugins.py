"""``cloudtty plugins``: installed plugins, the backends they provide, and the broken ones."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cloudtty_core.cli.pluginopts import add_plugin_options, load_from_args


def register(subparsers: Any) -> None:
    """Add ``plugins`` to the command line."""
    parser = subparsers.add_parser(
        "plugins",
        help="list plugins, their backends and load errors",
        description=(
            "List the installed plugins with distribution and version, the exposure, auth and "
            "image backends they register, and the plugins that failed to load (exit 1 then)."
        ),
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_plugin_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the report; the exit status is 1 when a plugin failed to load."""
    loaded = load_from_args(args)
    plugins: list[dict[str, Any]] = [
        {"name": p.name, "distribution": p.distribution, "version": p.version}
        for p in loaded.plugins
    ]
    backends: list[dict[str, Any]] = [
        {
            "kind": str(b.kind),
            "name": b.name,
            "distribution": b.distribution,
            "version": b.version,
        }
        for b in loaded.registry.entries()
    ]
    failures = [
        {"plugin": f.plugin, "distribution": f.distribution, "error": f.error}
        for f in loaded.failures
    ]
    if args.json:
        report = {
            "plugins": plugins,
            "backends": backends,
            "failures": failures,
            "blocked": list(loaded.blocked),
        }
        print(json.dumps(report, indent=2))
    else:
        _print_table("Plugins", [[str(p["name"]), _source(p)] for p in plugins])
        _print_table("Backends", [[str(b["kind"]), str(b["name"]), _source(b)] for b in backends])
        if failures:
            _print_table("Broken plugins (skipped)", [[str(f) for f in loaded.failures]])
        if loaded.blocked:
            print(f"Blocked: {', '.join(loaded.blocked)}")
    return 1 if failures else 0


def _source(entry: dict[str, Any]) -> str:
    if not entry["distribution"]:
        return "(registered directly)"
    return " ".join(str(part) for part in (entry["distribution"], entry["version"]) if part)


def _print_table(title: str, rows: list[list[str]]) -> None:
    print(f"{title}:")
    if not rows:
        print("  (none)")
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
