"""``cloudtty render FILE``: the objects the planner would create for a shell."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cloudtty_core.cli.errors import CliError
from cloudtty_core.cli.pluginopts import add_plugin_options, load_from_args
from cloudtty_core.model import Manifest

#: Stands in for credentials in rendered objects: render never prints a real token.
TOKEN_PLACEHOLDER = "rendered-placeholder-token"

_STAND_IN_KUBECONFIG = (
    "apiVersion: v1\nkind: Config\n"
    "clusters: [{name: c, cluster: {server: 'https://kubernetes.default.svc'}}]\n"
    "users: [{name: u, user: {token: placeholder}}]\n"
    "contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
)


def register(subparsers: Any) -> None:
    """Add ``render`` to the command line."""
    parser = subparsers.add_parser(
        "render",
        help="print the objects the operator would create for a CloudShell",
        description=(
            "Plan a CloudShell with the installed backends against a simulated cluster (one "
            "Ready node; the kubeconfig the shell names is assumed to exist) until nothing "
            "changes, and print every object the planner creates, as YAML. Tokens are "
            "placeholders. The outcome (phase, URL or the reason it failed) goes to stderr."
        ),
    )
    parser.add_argument("file", metavar="FILE", help="YAML file with one CloudShell, or -")
    parser.add_argument(
        "--node-address",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="address of the simulated node (NodePort URLs use it)",
    )
    add_plugin_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Render the shell; exit 1 when it is invalid or would fail."""
    from cloudtty_core.backends import ObjectRef, Snapshot
    from cloudtty_core.cli.validate import is_cloudshell
    from cloudtty_core.cli.yamlio import documents, dump_yaml_all
    from cloudtty_core.plan import PlanContext
    from cloudtty_core.simulation import ApiError, converge
    from cloudtty_core.validation import validate_shell

    docs = [doc for doc in documents(args.file) if is_cloudshell(doc.data)]
    if len(docs) != 1:
        raise CliError(f"{args.file}: expected one CloudShell, found {len(docs)}")
    doc = docs[0]
    problems = validate_shell(doc.data)
    for problem in problems:
        print(f"{doc.source}:{doc.line_of(problem.path)}: {problem}")
    if problems:
        return 1
    shell: Manifest = dict(doc.data)
    shell["metadata"] = {"namespace": "default", **shell["metadata"]}
    shell["metadata"].setdefault("name", f"{shell['metadata'].get('generateName', 'shell')}x")
    loaded = load_from_args(args)
    context = PlanContext(
        loaded.registry, token_source=lambda: TOKEN_PLACEHOLDER, hooks=loaded.hooks
    )
    snapshot = Snapshot.with_default_node(shell, *_stand_ins(shell), address=args.node_address)
    ref = ObjectRef.of(shell)
    try:
        result = converge(snapshot, [ref], context)
    except (AssertionError, ApiError) as error:
        raise CliError(f"planning did not settle: {str(error).splitlines()[0]}") from None
    created = [obj for plan in result.plans for obj in plan.creates]
    sys.stdout.write(dump_yaml_all(created) if created else "")
    final = result.shell(ref) or {}
    return _report_outcome(final.get("status") or {})


def _stand_ins(shell: Manifest) -> list[Manifest]:
    """The kubeconfig ConfigMap or Secret the shell names, so planning can proceed."""
    spec = shell.get("spec") or {}
    namespace = shell["metadata"]["namespace"]
    if spec.get("configmapName"):
        meta = {"name": spec["configmapName"], "namespace": namespace}
        return [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": meta,
                "data": {"config": _STAND_IN_KUBECONFIG},
            }
        ]
    if spec.get("secretRef"):
        ref = spec["secretRef"]
        meta = {"name": ref["name"], "namespace": namespace}
        key = ref.get("key", "config")
        return [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": meta,
                "stringData": {key: _STAND_IN_KUBECONFIG},
            }
        ]
    return []


def _report_outcome(status: Manifest) -> int:
    phase = status.get("phase") or "Pending"
    line = f"phase: {phase}"
    if status.get("accessUrl"):
        line += f", url: {status['accessUrl']}"
    print(line, file=sys.stderr)
    if phase in ("Ready", "Completed"):
        return 0
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True" and condition.get("message"):
            print(f"  {condition.get('type')}: {condition['message']}", file=sys.stderr)
    return 1
