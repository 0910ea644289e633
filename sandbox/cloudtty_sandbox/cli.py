"""``cloudtty-sandbox serve``: run a sandbox cluster until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import signal
import sys
from pathlib import Path

from .config import SandboxConfig
from .faults import FaultConfig
from .sandbox import Sandbox


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cloudtty-sandbox", description="A sandbox Kubernetes cluster on 127.0.0.1."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the sandbox until interrupted")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    serve.add_argument("--port", type=int, default=0, help="API port (0: any free port)")
    serve.add_argument(
        "--ingress-port",
        type=int,
        default=0,
        help="ingress listener port (0: any free port, -1: none)",
    )
    serve.add_argument(
        "--gateway-port",
        type=int,
        default=-1,
        help="Istio gateway listener port (0: any free port, -1: none)",
    )
    serve.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        help="where to write the kubeconfig (default: in the work directory)",
    )
    serve.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="pod directories and kubeconfig (default: a temporary directory)",
    )
    serve.add_argument(
        "--pod-start-delay",
        type=float,
        default=0.5,
        help="seconds a pod stays Pending before Running",
    )
    serve.add_argument(
        "--pod-ready-delay",
        type=float,
        default=0.0,
        help="seconds from Running to Ready (without a readiness probe)",
    )
    serve.add_argument(
        "--local-image",
        action="append",
        default=[],
        metavar="PREFIX[=COMMAND]",
        help="run images with this prefix as local processes (repeatable)",
    )
    serve.add_argument(
        "--rbac",
        action="store_true",
        help="authenticate bearer tokens and authorize requests with RBAC",
    )
    serve.add_argument(
        "--faults",
        type=str,
        default=None,
        help="fault configuration as JSON (same as PUT /sandbox/faults)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    config = SandboxConfig(
        host=args.host,
        port=args.port,
        ingress_port=None if args.ingress_port < 0 else args.ingress_port,
        gateway_port=None if args.gateway_port < 0 else args.gateway_port,
        kubeconfig_path=args.kubeconfig,
        work_dir=args.work_dir,
        pod_start_delay=args.pod_start_delay,
        pod_ready_delay=args.pod_ready_delay,
        rbac=args.rbac,
    )
    for item in args.local_image:
        prefix, _, command = item.partition("=")
        config.local_images[prefix] = command.split() if command else []
    if args.faults:
        try:
            config.faults = FaultConfig.from_dict(json.loads(args.faults))
        except (ValueError, TypeError) as exc:
            raise SystemExit(f"cloudtty-sandbox: invalid --faults: {exc}") from None
    return config


async def serve(config: SandboxConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with Sandbox(config) as sb:
        _collect_rarely()
        print(f"sandbox API:  {sb.url}", flush=True)
        print(f"kubeconfig:   {sb.kubeconfig_path}", flush=True)
        if sb.ingress_url:
            print(f"ingress:      {sb.ingress_url}", flush=True)
        if sb.gateway_port:
            print(f"gateway:      http://{config.host}:{sb.gateway_port}", flush=True)
        print("press Ctrl-C to stop", flush=True)
        await stop.wait()
    print("sandbox stopped", flush=True)


GC_THRESHOLDS = (5000, 20, 100)
"""The collector's thresholds while serving (CPython's defaults are 700, 10, 10)."""


def _collect_rarely() -> None:
    """Collect cyclic garbage rarely, and never walk what exists once the sandbox is up.

    The store keeps every object as a tree of dicts and lists: in a 1,000-shell burst that is
    hundreds of thousands of long-lived containers, and with the default thresholds a full
    collection walked them all every few seconds, stopping every request for up to 0.8 s while
    finding nothing to free (JSON trees are not cyclic). A real API server does not stall like
    that, so the sandbox should not either. Only a sandbox serving as its own process does
    this; one embedded in a test leaves the test process's collector alone.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        asyncio.run(serve(config_from_args(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
