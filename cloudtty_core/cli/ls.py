"""``cloudtty ls``: the CloudShells of a namespace (or all), as ``kubectl get cloudshells``
shows them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cloudtty_core.cli.shells import add_cluster_options, connect, format_age

COLUMNS = ("NAME", "USER", "COMMAND", "TYPE", "URL", "PHASE", "AGE")


def register(subparsers: Any) -> None:
    """Add ``ls`` to the command line."""
    parser = subparsers.add_parser(
        "ls",
        help="list CloudShells",
        description="List CloudShells with the columns of `kubectl get cloudshells`.",
    )
    parser.add_argument(
        "-n", "--namespace", help="namespace (default: the kubeconfig context's, else default)"
    )
    parser.add_argument(
        "-A", "--all-namespaces", action="store_true", help="list shells of every namespace"
    )
    add_cluster_options(parser)
    parser.set_defaults(handler=run)


def rows(
    shells: Sequence[Mapping[str, Any]], all_namespaces: bool, now: datetime | None = None
) -> list[list[str]]:
    """The table's rows (header first) for ``shells``."""
    header = (["NAMESPACE"] if all_namespaces else []) + list(COLUMNS)
    table = [header]
    for shell in shells:
        meta = shell.get("metadata") or {}
        spec = shell.get("spec") or {}
        status = shell.get("status") or {}
        phase = status.get("phase") or ""
        row = [
            str(meta.get("name", "")),
            str(spec.get("runAsUser") or ""),
            str(spec.get("commandAction") or ""),
            str(spec.get("exposureMode") or ""),
            str(status.get("accessUrl") or ""),
            "Completed" if phase == "Complete" else str(phase),
            format_age(meta.get("creationTimestamp"), now),
        ]
        table.append(([str(meta.get("namespace", ""))] if all_namespaces else []) + row)
    return table


def format_table(table: list[list[str]]) -> str:
    """Columns padded like kubectl's (three spaces apart, no trailing blanks)."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = [
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the table ("No resources found" on stderr when there is none)."""
    cluster = connect(args)
    try:
        namespace = None if args.all_namespaces else (args.namespace or cluster.default_namespace)
        cluster.require_crd()
        shells = cluster.list(namespace)
    finally:
        cluster.close()
    if not shells:
        where = "" if namespace is None else f" in {namespace} namespace"
        print(f"No resources found{where}.", file=sys.stderr)
        return 0
    print(format_table(rows(shells, args.all_namespaces)))
    return 0
