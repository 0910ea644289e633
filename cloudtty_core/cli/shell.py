"""``cloudtty shell``: a CloudShell now -- create it, wait until it is Ready, print (or open)
its login URL.

``--exec POD`` opens a shell in a pod (``kubectl exec -it``), ``--logs POD`` follows a pod's
log (``kubectl logs -f``); otherwise the terminal runs bash with kubectl. Works against the
cluster of the current kubeconfig (``--kubeconfig``/``--context``), the sandbox included. The
URL goes to stdout (``URL=$(cloudtty shell)`` works); progress goes to stderr.
"""

from __future__ import annotations

import argparse
from typing import Any

from cloudtty_core.cli.errors import CliError
from cloudtty_core.cli.shells import (
    add_cluster_options,
    connect,
    exec_command,
    logs_command,
    parse_duration,
)
from cloudtty_core.model import API_VERSION, KIND, Manifest

DESCRIPTION = (
    "Create a CloudShell, wait until the operator has it Ready, and print its login URL (for "
    "token auth the URL carries the access token, read from the shell's access Secret). The "
    "cluster needs the CloudShell CRD and a running operator."
)

AUTH_MODES = ("token", "none", "basic", "header")


def register(subparsers: Any) -> None:
    """Add ``shell`` to the command line."""
    parser = subparsers.add_parser(
        "shell", help="create a CloudShell and print its login URL", description=DESCRIPTION
    )
    what = parser.add_argument_group("what the terminal runs (default: bash with kubectl)")
    runs = what.add_mutually_exclusive_group()
    runs.add_argument("--exec", metavar="POD", help="a shell in POD (kubectl exec -it)")
    runs.add_argument("--logs", metavar="POD", help="follow the log of POD (kubectl logs -f)")
    runs.add_argument("--command", metavar="CMD", help="any command line (spec.commandAction)")
    what.add_argument("-c", "--container", help="the container of --exec/--logs")
    spec = parser.add_argument_group("the shell")
    spec.add_argument("--name", help="the CloudShell's name (default: shell-<random>)")
    spec.add_argument(
        "-n", "--namespace", help="its namespace (default: the kubeconfig context's, else default)"
    )
    spec.add_argument(
        "--ttl", metavar="DURATION", help="end the shell after this long, e.g. 30m, 1h, 1h30m"
    )
    spec.add_argument(
        "--expose",
        metavar="MODE",
        help="exposure backend: NodePort (default), Ingress, ClusterIP, VirtualService, …",
    )
    spec.add_argument("--ingress-host", metavar="HOST", help="host of the Ingress (with Ingress)")
    spec.add_argument(
        "--auth", choices=AUTH_MODES, default="token", help="who may use it (default token)"
    )
    spec.add_argument(
        "--auth-secret", metavar="SECRET", help="Secret with the credential (--auth basic)"
    )
    spec.add_argument(
        "--kubeconfig-secret",
        metavar="SECRET",
        help="the terminal's kubeconfig from this Secret (key config) instead of a "
        "ServiceAccount of its own",
    )
    spec.add_argument("--once", action="store_true", help="end the shell when the user leaves")
    parser.add_argument(
        "--open", action="store_true", help="open the URL in the default browser as well"
    )
    parser.add_argument(
        "--timeout",
        default="60s",
        metavar="DURATION",
        help="how long to wait for Ready (default 60s)",
    )
    add_cluster_options(parser)
    parser.set_defaults(handler=run)


def build_manifest(args: argparse.Namespace, namespace: str) -> Manifest:
    """The CloudShell the options describe (``ValueError`` names a bad option)."""
    if args.container and not (args.exec or args.logs):
        raise ValueError("-c/--container goes with --exec or --logs")
    if args.exec:
        command = exec_command(args.exec, namespace, args.container)
    elif args.logs:
        command = logs_command(args.logs, namespace, args.container)
    else:
        command = args.command or "bash"
    spec: dict[str, Any] = {"commandAction": command}
    if args.ttl:
        spec["ttlSecondsAfterStarted"] = parse_duration(args.ttl, "--ttl")
    if args.expose:
        spec["exposureMode"] = args.expose
    if args.ingress_host:
        spec["ingressConfig"] = {"host": args.ingress_host}
    auth: dict[str, Any] = {"mode": args.auth}
    if args.auth_secret:
        auth["secretRef"] = {"name": args.auth_secret}
    elif args.auth == "basic":
        raise ValueError("--auth basic needs --auth-secret SECRET (keys username and password)")
    spec["auth"] = auth
    if args.kubeconfig_secret:
        spec["secretRef"] = {"name": args.kubeconfig_secret}
    if args.once:
        spec["once"] = True
    metadata: dict[str, Any] = {"namespace": namespace}
    if args.name:
        metadata["name"] = args.name
    else:
        metadata["generateName"] = "shell-"
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def run(args: argparse.Namespace) -> int:
    """Create the shell, wait for Ready with a progress display, print the login URL."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from cloudtty_core.cli.shells import summarize_status

    try:
        timeout = parse_duration(args.timeout, "--timeout")
    except ValueError as error:
        raise CliError(str(error)) from None
    cluster = connect(args)
    try:
        namespace = args.namespace or cluster.default_namespace
        try:
            manifest = build_manifest(args, namespace)
        except ValueError as error:
            raise CliError(str(error)) from None
        cluster.require_crd()
        created = cluster.create(manifest)
        name = str(created["metadata"]["name"])
        err = Console(stderr=True, highlight=False)
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(
            *columns, console=err, transient=True, disable=not err.is_terminal
        ) as progress:
            task = progress.add_task(f"CloudShell {namespace}/{name}: created", total=None)

            def show(shell: Manifest) -> None:
                progress.update(
                    task, description=f"CloudShell {namespace}/{name}: {summarize_status(shell)}"
                )

            shell = cluster.wait_ready(namespace, name, timeout, on_change=show)
        url = cluster.login_url(shell)
        err.print(f"CloudShell {namespace}/{name} is Ready. Login URL:")
        print(url, flush=True)
        if args.open and url:
            import webbrowser

            webbrowser.open(url)
    finally:
        cluster.close()
    return 0
