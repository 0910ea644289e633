"""``cloudtty demo``: the whole system on this machine, no cluster needed.

Starts the sandbox cluster, installs the CloudShell CRD, runs the operator with the installed
plugins and a warm pool, creates a sample shell and prints its login URL and how to point
kubectl at the sandbox; then runs until Ctrl-C (or SIGTERM) and stops everything, every pod
process included. The work is done by :class:`~cloudtty_core.cli.sandboxdemo.Demo`, imported
when the command runs.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from cloudtty_core.cli.errors import CliError

if TYPE_CHECKING:
    from cloudtty_core.cli.sandboxdemo import Demo

DESCRIPTION = (
    "Run cloudtty on this machine without a cluster: a sandbox Kubernetes API with a simulated "
    "kubelet, the CloudShell CRD, the operator with every installed plugin and a warm pool, "
    "and a sample CloudShell (token auth). Prints the shell's login URL and how to use "
    "kubectl against the sandbox, then runs until Ctrl-C, which stops everything."
)


def register(subparsers: Any) -> None:
    """Add ``demo`` to the command line."""
    parser = subparsers.add_parser(
        "demo",
        help="run the operator and a sample shell on a sandbox cluster",
        description=DESCRIPTION,
    )
    parser.add_argument(
        "--exposure",
        choices=("NodePort", "Ingress"),
        default="NodePort",
        help="how the sample shell is exposed (default NodePort)",
    )
    parser.add_argument(
        "--ingress-host",
        metavar="HOST",
        help="host of the sample shell's Ingress, e.g. '*.cloudtty.localhost' "
        "(default: the ingress listener's address)",
    )
    parser.add_argument(
        "--port-base",
        type=int,
        default=0,
        metavar="PORT",
        help="API server on PORT, ingress listener on PORT+1 (default: free ports)",
    )
    parser.add_argument(
        "--namespace", default="default", help="namespace of the pool and the sample shell"
    )
    parser.add_argument(
        "--min-idle", type=int, default=1, help="idle warm workers to keep (default 1)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long each step may take (default 60)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="keep the kubeconfig, pod directories and logs here "
        "(default: a temporary directory, removed on exit)",
    )
    parser.add_argument(
        "--no-browser-hint",
        action="store_true",
        help="print only the URL and kubectl lines, without the explanations",
    )
    parser.add_argument(
        "--open", action="store_true", help="open the login URL in the default browser"
    )
    parser.set_defaults(handler=run)


class _Stop(Exception):
    """SIGTERM arrived: stop like Ctrl-C does."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def run(args: argparse.Namespace) -> int:
    """Start the demo, print how to use it, wait for Ctrl-C or SIGTERM, stop everything."""
    from rich.console import Console

    from cloudtty_core.cli.sandboxdemo import Demo, DemoOptions

    try:
        options = DemoOptions(
            exposure=args.exposure,
            namespace=args.namespace,
            ingress_host=args.ingress_host,
            port_base=args.port_base,
            timeout=args.timeout,
            min_idle=args.min_idle,
            work_dir=args.work_dir,
            log=True,
        )
    except ValueError as error:
        raise CliError(str(error)) from None
    err = Console(stderr=True, highlight=False)
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_stop)
    demo: Demo | None = None
    try:
        with _StepDisplay(err) as display:
            demo = Demo(options, on_step=display.update)
            demo.start()
        _print_usage(demo, args, err)
        if args.open and demo.login_url:
            import webbrowser

            webbrowser.open(demo.login_url)
        threading.Event().wait()  # until Ctrl-C or SIGTERM
    except (KeyboardInterrupt, _Stop):
        err.print("\nStopping: operator, sandbox cluster and its pod processes…")
    finally:
        if demo is not None:
            _ignore_signals_while(demo.stop)
            err.print("Stopped; nothing is left running.")
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
    return 0


def _ignore_signals_while(stop: Any) -> None:
    """Cleanup must finish: a second Ctrl-C would otherwise leave pod processes behind."""
    if threading.current_thread() is not threading.main_thread():
        stop()
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


class _StepDisplay:
    """The steps of the demo as a live list: a spinner while running, a check mark when done."""

    def __init__(self, console: Any) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from cloudtty_core.cli.sandboxdemo import STEPS

        self.labels = dict(STEPS)
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/green]"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        # Not a terminal (a log, a pipe): one plain line per finished step, no animation.
        self.live = bool(console.is_terminal)
        self.console = console

    def __enter__(self) -> _StepDisplay:
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.progress.stop()

    def update(self, step: str, state: str, detail: str) -> None:
        label = self.labels.get(step, step)
        if not self.live:
            if state == "done":
                self.console.print(f"✓ {label}" + (f" ({detail})" if detail else ""), markup=False)
            return
        if state == "start":
            self.tasks[step] = self.progress.add_task(f"{label}…", total=1)
            return
        task = self.tasks.get(step)
        if task is None:
            task = self.tasks[step] = self.progress.add_task(label, total=1)
        text = f"{label}" + (f" [dim]({detail})[/dim]" if detail else "")
        self.progress.update(task, description=text, completed=1)


def _kubectl_command() -> str:
    """How to call the wheel's kubectl from the user's shell."""
    from cloudtty_core.cli.sandboxdemo import kubectl_directory

    wheel = kubectl_directory() / "kubectl"
    found = shutil.which("kubectl")
    if found and Path(found).resolve() == wheel.resolve():
        return "kubectl"
    return shlex.quote(str(wheel))


def _print_usage(demo: Demo, args: argparse.Namespace, err: Any) -> None:
    from cloudtty_core.cli.sandboxdemo import SAMPLE_APP

    kubectl = _kubectl_command()
    kubeconfig = shlex.quote(str(demo.kubeconfig_path))
    out = sys.stdout
    if args.no_browser_hint:
        print(f"login URL: {demo.login_url}", file=out)
        print(f"export KUBECONFIG={kubeconfig}; {kubectl} get cloudshells", file=out, flush=True)
        return
    cloudtty = shlex.quote(str(Path(sys.executable).parent / "cloudtty"))
    print(
        f"""
The sample shell is Ready. Open this URL in a browser (it logs you in; keep it private):

    {demo.login_url}

The terminal runs bash with kubectl, talking to the sandbox as the shell's own
ServiceAccount: try `kubectl get cloudshells` there.

kubectl on this machine, against the sandbox (admin):

    export KUBECONFIG={kubeconfig}
    {kubectl} get cloudshells
    {cloudtty} shell --open                  # another shell, with its own URL
    {cloudtty} shell --exec {SAMPLE_APP}        # a shell inside the sample app's pod
    {cloudtty} ls                            # the shells, like kubectl get cloudshells

Operator log: {demo.log_path}{"" if args.work_dir else " (removed on exit)"}
Press Ctrl-C to stop everything (sandbox, operator, terminals).""",
        file=out,
        flush=True,
    )
