"""``cloudtty crd``: print the CloudShell CustomResourceDefinition (or its reference page)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cloudtty_core.crd import crd_manifest, crd_markdown


def register(subparsers: Any) -> None:
    """Add ``crd`` to the command line."""
    parser = subparsers.add_parser(
        "crd",
        help="print the CloudShell CustomResourceDefinition",
        description="Print the CloudShell CRD (apply it with `kubectl apply -f -`).",
    )
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="JSON instead of YAML")
    form.add_argument(
        "--markdown",
        action="store_true",
        help="the field reference page instead (docs/crd-reference.md)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the CRD in the requested form."""
    if args.markdown:
        sys.stdout.write(crd_markdown())
    elif args.json:
        sys.stdout.write(json.dumps(crd_manifest(), indent=2) + "\n")
    else:
        from cloudtty_core.cli.yamlio import dump_yaml

        sys.stdout.write(dump_yaml(crd_manifest()))
    return 0
