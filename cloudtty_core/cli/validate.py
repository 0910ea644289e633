"""``cloudtty validate FILE...``: every problem of every CloudShell in the files."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cloudtty_core.model import GROUP, KIND
from cloudtty_core.validation import validate_shell


def register(subparsers: Any) -> None:
    """Add ``validate`` to the command line."""
    parser = subparsers.add_parser(
        "validate",
        help="check CloudShell manifests, reporting every problem",
        description=(
            "Check the CloudShells in YAML files (several documents per file allowed; other "
            "kinds are skipped). Prints FILE:LINE: PATH: PROBLEM for each problem and exits 1 "
            "when there is any."
        ),
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="YAML file, or - for stdin")
    parser.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    parser.set_defaults(handler=run)


def is_cloudshell(data: Any) -> bool:
    """True for documents meant as CloudShells (right kind or our API group)."""
    if not isinstance(data, dict):
        return True  # not a manifest at all: let validation say so
    api_version = data.get("apiVersion")
    in_group = isinstance(api_version, str) and api_version.split("/")[0] == GROUP
    return data.get("kind") == KIND or in_group or "kind" not in data


def run(args: argparse.Namespace) -> int:
    """Validate every file; the exit status is 1 when any problem was found."""
    from cloudtty_core.cli.yamlio import documents

    shells = bad = 0
    for name in args.files:
        found = 0
        for doc in documents(name):
            if not is_cloudshell(doc.data):
                if not args.quiet:
                    print(f"{doc.source}:{doc.line}: skipped {doc.describe()}", file=sys.stderr)
                continue
            found += 1
            problems = validate_shell(doc.data)
            bad += bool(problems)
            for problem in problems:
                print(f"{doc.source}:{doc.line_of(problem.path)}: {problem}")
        if not found and not args.quiet:
            print(f"{name}: no CloudShell found", file=sys.stderr)
        shells += found
    if not args.quiet:
        verdict = f"{bad} of {shells} CloudShells invalid" if bad else f"{shells} CloudShells valid"
        print(verdict, file=sys.stderr)
    return 1 if bad else 0
