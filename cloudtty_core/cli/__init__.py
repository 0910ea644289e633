"""The ``cloudtty`` command line.

Each subcommand lives in its own module under ``cloudtty_core.cli`` with a
``register(subparsers)`` function that adds its parser and sets ``handler`` (a function taking the
parsed arguments and returning the exit status). To add a command, write such a module and add
its name to :data:`COMMANDS`. Handlers raise :class:`CliError` for anything the user must fix;
:func:`main` prints it as one line, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from cloudtty_core.cli.errors import CliError

#: Subcommand modules, in the order ``cloudtty --help`` lists them.
COMMANDS: tuple[str, ...] = (
    "crd",
    "validate",
    "plugins",
    "render",
    "manifests",
    "run",
    "demo",
    "shell",
    "ls",
    "rm",
)

#: Set to 1 to see the traceback of an unexpected error.
ENV_DEBUG = "CLOUDTTY_DEBUG"

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand of :data:`COMMANDS` registered."""
    parser = argparse.ArgumentParser(
        prog="cloudtty",
        description="Kubernetes-native cloud shell: CRD, validation and the operator's tools.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"cloudtty_core.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cloudtty`` with ``argv`` (default: the process arguments); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
    except CliError as error:
        print(f"cloudtty: error: {error}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:
        print("cloudtty: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`cloudtty crd | head`); that is not our error.
        sys.stderr.close()
        return EXIT_OK
    except Exception as error:
        if os.environ.get(ENV_DEBUG, "") not in ("", "0"):
            raise
        detail = str(error).splitlines()[0] if str(error) else ""
        print(
            f"cloudtty: internal error: {type(error).__name__}: {detail} "
            f"(set {ENV_DEBUG}=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return status


__all__ = ["COMMANDS", "CliError", "build_parser", "main"]
