"""``cloudtty rm NAME…``: delete CloudShells (the operator removes what it made for them)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cloudtty_core.cli.errors import CliError
from cloudtty_core.cli.shells import add_cluster_options, connect, parse_duration


def register(subparsers: Any) -> None:
    """Add ``rm`` to the command line."""
    parser = subparsers.add_parser(
        "rm",
        help="delete CloudShells",
        description="Delete CloudShells; their terminal pods, Services, routes and Secrets go "
        "with them. Exit status 1 when one of them did not exist.",
    )
    parser.add_argument("names", nargs="+", metavar="NAME", help="CloudShell names")
    parser.add_argument(
        "-n", "--namespace", help="namespace (default: the kubeconfig context's, else default)"
    )
    parser.add_argument(
        "--wait", action="store_true", help="wait until the operator finished removing them"
    )
    parser.add_argument(
        "--timeout", default="60s", metavar="DURATION", help="how long --wait waits (default 60s)"
    )
    add_cluster_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Delete each shell; report the ones that did not exist."""
    try:
        timeout = parse_duration(args.timeout, "--timeout")
    except ValueError as error:
        raise CliError(str(error)) from None
    cluster = connect(args)
    status = 0
    try:
        namespace = args.namespace or cluster.default_namespace
        cluster.require_crd()
        deleted = []
        for name in args.names:
            if cluster.delete(namespace, name):
                deleted.append(name)
                print(f'cloudshell.cloudshell.cloudtty.io "{name}" deleted')
            else:
                print(
                    f'cloudtty: error: cloudshell "{name}" not found in namespace {namespace}',
                    file=sys.stderr,
                )
                status = 1
        if args.wait:
            for name in deleted:
                if not cluster.wait_gone(namespace, name, timeout):
                    raise CliError(
                        f"CloudShell {namespace}/{name} still exists after {timeout}s "
                        "(is the operator running to remove its finalizer?)",
                        exit_status=1,
                    )
    finally:
        cluster.close()
    return status
