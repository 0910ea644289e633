"""``cloudtty render FILE``: the objects the planner would create for a shell."""

from __future__ import annotations

import argparse
from typing import Any

from cloudtty_core.cli.errors import CliError
from cloudtty_core.cli.pluginopts import add_plugin_options


def register(subparsers: Any) -> None:
    """Add ``render`` to the command line."""
    parser = subparsers.add_parser(
        "render",
        help="print the objects the operator would create for a CloudShell",
        description=(
            "Plan a CloudShell against an empty cluster with the installed backends and print "
            "the objects the operator would create, as YAML."
        ),
    )
    parser.add_argument("file", metavar="FILE", help="YAML file with one CloudShell, or -")
    add_plugin_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Not available until the planner exists."""
    raise CliError("render needs the planner, which this installation does not have yet")
