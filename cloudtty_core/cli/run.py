"""``cloudtty run``: the operator, until SIGTERM or Ctrl-C.

The runtime is imported only when this command is set up, and its absence is reported only
when it is run: ``cloudtty crd`` and the other commands work without the ``runtime`` extra.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

from cloudtty_core.cli.errors import CliError
from cloudtty_core.cli.pluginopts import add_plugin_options

DESCRIPTION = (
    "Run the CloudShell operator against the cluster of a kubeconfig (or, in a pod, its "
    "ServiceAccount) with the installed, unblocked plugins. Logs are JSON lines on stderr; "
    "/metrics, /healthz and /readyz are served on --metrics-port. SIGTERM or Ctrl-C stops it "
    "gracefully: work in flight finishes and the leader-election Lease is released."
)

RUNTIME_EXTRA = "pip install 'cloudtty-core[runtime]'"


def register(subparsers: Any) -> None:
    """Add ``run`` to the command line."""
    parser = subparsers.add_parser(
        "run",
        help="run the operator",
        description=DESCRIPTION,
    )
    try:
        from cloudtty_core.runtime.config import add_arguments
    except ImportError as error:
        parser.set_defaults(handler=_runtime_missing, missing=error.name or str(error))
        return
    add_arguments(parser)
    add_plugin_options(parser)
    parser.set_defaults(handler=run)


def _runtime_missing(args: argparse.Namespace) -> int:
    raise CliError(
        f"`cloudtty run` needs the runtime extra ({args.missing} is missing): {RUNTIME_EXTRA}"
    )


def run(args: argparse.Namespace) -> int:
    """Build the configuration from the flags and run the operator until it is stopped."""
    try:
        from cloudtty_core.runtime.config import config_from_args
        from cloudtty_core.runtime.operator import run_operator
    except ImportError as error:
        args.missing = error.name or str(error)
        return _runtime_missing(args)
    try:
        config = config_from_args(args)
    except ValueError as error:
        raise CliError(str(error)) from None
    try:
        return run_operator(config)
    except BaseException as error:
        problem = _user_problem(error)
        if problem is None:
            raise
        raise CliError(problem, exit_status=1) from None


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


def _user_problem(error: BaseException) -> str | None:
    """One line for failures the user must fix (configuration, port, plugins), else None."""
    from cloudtty_core.plugins import PluginLoadError
    from cloudtty_core.registry import BackendError

    for leaf in _leaves(error):
        if isinstance(leaf, PluginLoadError | BackendError):
            return str(leaf)
        if type(leaf).__name__ == "ConfigException":  # kubernetes.config: no usable kubeconfig
            return f"cannot load the cluster configuration: {leaf}"
        if isinstance(leaf, FileNotFoundError) and leaf.filename:
            return f"{leaf.filename}: no such file"
        if isinstance(leaf, OSError) and "cannot serve health and metrics" in str(leaf):
            return str(leaf.strerror or leaf)
    return None
