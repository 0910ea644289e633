"""CPU of the sandbox's CRD handling of a write: validation (jsonschema's ``Draft4Validator``
against the compiled checker) and defaulting and pruning (the generic walk over the raw schema
against the compiled plans), on the CloudShell CRD and the status the operator writes for a
Ready shell.

The status is built the way the operator builds it (``CloudShellStatus`` with the six
conditions of ``CONDITION_ORDER``, their reasons and messages, times and generations, turned
into JSON by ``status_to_dict``). Cases, each CPU time per object (``time.process_time`` over
``--iterations`` calls, best of ``--repeat`` runs):

- status: the status alone against the CRD's ``status`` schema;
- status write: ``CrdSchema.validate(shell, old)`` for a status PUT -- the top-level fields
  that did not change (spec) are not checked again, the root's own rules and the new status
  are; for jsonschema the same steps with its validators, as ``CrdSchema`` did before;
- create: a whole new CloudShell (spec and status) checked in one go.

Defaulting and pruning (``CrdSchema.default`` and ``CrdSchema.prune``), each on a fresh copy of
the object (copies made outside the timed loop), the walk as ``CrdSchema`` did it before
against the compiled plans (``cloudtty_sandbox.schemaplan``):

- create: a CloudShell as a client sends it, the defaulted fields of its spec left out;
- status write: the stored shell (defaults filled in) with the Ready status.

    .venv/bin/python benchmarks/schema_bench.py [--iterations 5000] [--repeat 3] [--json]

Figures only, no assertion on speed. The answers of both sides are compared first.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import time
from collections.abc import Callable
from typing import Any

import jsonschema
from cloudtty_sandbox.schema import CrdSchema, _to_json_schema
from cloudtty_sandbox.schemacheck import compile_schema
from cloudtty_sandbox.schemawalk import walk_defaults, walk_prune
from machine import machine  # beside this script

from cloudtty_core.crd import crd_manifest
from cloudtty_core.model import CloudShellStatus, Condition
from cloudtty_core.model.convert import status_to_dict
from cloudtty_core.phases import Phase
from cloudtty_core.plan.status import CONDITION_ORDER

_REASONS = {
    "Accepted": ("Accepted", ""),
    "KubeconfigReady": ("Found", "kubeconfig from secret cloudshell-kubeconfig"),
    "AuthReady": ("Configured", "auth mode none"),
    "WorkerReady": ("WorkerReady", "worker cloudshell-worker-7f9c2 is ready"),
    "RouteReady": ("Routed", "served at http://10.96.12.7:7681/"),
    "Ready": ("Ready", "the terminal is served at http://10.96.12.7:7681/"),
}


def ready_status() -> dict[str, Any]:
    """The status of a Ready shell as the operator writes it."""
    now = datetime.datetime(2024, 5, 1, 10, 0, 0, tzinfo=datetime.UTC)
    conditions = tuple(
        Condition(kind, "True", *_REASONS[kind], now + datetime.timedelta(seconds=i), 1)
        for i, kind in enumerate(CONDITION_ORDER)
    )
    status = CloudShellStatus(
        phase=Phase.READY,
        access_url="http://10.96.12.7:7681/",
        last_schedule_time=now,
        expires_at=now + datetime.timedelta(hours=1),
        observed_generation=1,
        conditions=conditions,
        worker="cloudshell-worker-7f9c2",
        kubeconfig_secret="cloudshell-kubeconfig",
    )
    return status_to_dict(status)


def shell(status: dict[str, Any] | None) -> dict[str, Any]:
    """A CloudShell as the sandbox stores it (defaults filled in), with ``status``."""
    obj: dict[str, Any] = {
        "apiVersion": "cloudtty.io/v1alpha1",
        "kind": "CloudShell",
        "metadata": {"name": "shell-1", "namespace": "default", "generation": 1},
        "spec": {
            "commandAction": "kubectl get pods -A",
            "exposureMode": "ClusterIP",
            "imageBackend": "webterm",
            "secretRef": {"name": "kubeconfig"},
            "ttl": 3600,
            "once": True,
        },
    }
    if status is not None:
        obj["status"] = status
    return obj


def created() -> dict[str, Any]:
    """A CloudShell as a client creates it: the fields with defaults left out."""
    obj = shell(None)
    spec = obj["spec"]
    del spec["imageBackend"]
    spec["exposureMode"] = "ClusterIP"
    return obj


class JsonschemaCrdValidation:
    """``CrdSchema.validate``'s steps with jsonschema's validators (as it was before)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        body = copy.deepcopy(raw)
        body.setdefault("properties", {}).pop("metadata", None)
        translated = _to_json_schema(body)
        fields = translated["properties"]
        self.whole = jsonschema.Draft4Validator(translated)
        self.fields = {key: jsonschema.Draft4Validator(sub) for key, sub in fields.items()}
        self.root = jsonschema.Draft4Validator(
            {**translated, "properties": {key: {} for key in fields}}
        )

    def errors(self, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[Any]:
        body = {k: v for k, v in obj.items() if k != "metadata"}
        if old is None:
            return list(self.whole.iter_errors(body))
        errors = list(self.root.iter_errors(body))
        for key, validator in self.fields.items():
            if key in body and not (key in old and old[key] == body[key]):
                errors.extend(validator.iter_errors(body[key]))
        return errors


def cpu_us(call: Callable[[], object], iterations: int, repeat: int) -> float:
    """CPU microseconds per call, best of ``repeat`` runs of ``iterations`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(iterations):
            call()
        best = min(best, time.process_time() - start)
    return best / iterations * 1e6


def cpu_us_each(
    call: Callable[[dict[str, Any]], object], obj: dict[str, Any], iterations: int, repeat: int
) -> float:
    """CPU microseconds per call on a fresh deep copy of ``obj`` (copies are not timed)."""
    best = float("inf")
    for _ in range(repeat):
        copies = [copy.deepcopy(obj) for _ in range(iterations)]
        start = time.process_time()
        for each in copies:
            call(each)
        best = min(best, time.process_time() - start)
    return best / iterations * 1e6


def defaults_and_pruning(
    raw: dict[str, Any], schema: CrdSchema, iterations: int, repeat: int
) -> dict[str, dict[str, dict[str, float]]]:
    """Defaulting and pruning of a create and of a Ready status write, before and compiled."""
    create = created()
    stored = copy.deepcopy(create)
    schema.default(stored)
    write = {**stored, "status": ready_status()}
    for case, obj in (("create", create), ("status write", write)):
        before, after = copy.deepcopy(obj), copy.deepcopy(obj)
        walk_defaults(before, raw, top=True)
        schema.default(after)
        dropped: list[str] = []
        walk_prune(before, raw, "", dropped, top=True)
        if schema.prune(after) != dropped or json.dumps(before) != json.dumps(after):
            raise RuntimeError(f"{case}: the compiled plans answer differently")
    if stored == create:
        raise RuntimeError("the created shell should have gained defaults")

    def old_prune(obj: dict[str, Any]) -> None:
        walk_prune(obj, raw, "", [], top=True)

    steps: dict[str, tuple[Callable[[dict[str, Any]], object], Callable[[dict[str, Any]], object]]]
    steps = {
        "default": (lambda obj: walk_defaults(obj, raw, top=True), schema.default),
        "prune": (old_prune, schema.prune),
    }
    out: dict[str, dict[str, dict[str, float]]] = {}
    for case, obj in (("create", create), ("status write", write)):
        out[case] = {}
        for step, (old_call, new_call) in steps.items():
            old_us = cpu_us_each(old_call, obj, iterations, repeat)
            new_us = cpu_us_each(new_call, obj, iterations, repeat)
            out[case][step] = {"walk": old_us, "compiled": new_us, "ratio": old_us / new_us}
    return out


def run(iterations: int, repeat: int) -> dict[str, Any]:
    raw = crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    compiled, before = CrdSchema(raw, "CloudShell"), JsonschemaCrdValidation(raw)
    status = ready_status()
    stored, written = shell(None), shell(status)
    status_checker = compile_schema(_to_json_schema(raw["properties"]["status"]))
    if not status_checker.compiled:
        raise RuntimeError(f"the status schema was not compiled: {status_checker.fallback_reason}")
    answers = {
        "status": (
            status_checker.errors(status),
            list(before.fields["status"].iter_errors(status)),
        ),
        "status write": (compiled.validate(written, stored), before.errors(written, stored)),
        "create": (compiled.validate(written), before.errors(written)),
    }
    for case, (new, old) in answers.items():
        if new or old:
            raise RuntimeError(f"{case}: the Ready shell should be valid: {new!r} / {old!r}")
    cases: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "status": (
            lambda: list(before.fields["status"].iter_errors(status)),
            lambda: status_checker.errors(status),
        ),
        "status write": (
            lambda: before.errors(written, stored),
            lambda: compiled.validate(written, stored),
        ),
        "create": (lambda: before.errors(written), lambda: compiled.validate(written)),
    }
    cpu: dict[str, dict[str, float]] = {}
    for case, (old_call, new_call) in cases.items():
        old_us = cpu_us(old_call, max(1, iterations // 10), repeat)
        new_us = cpu_us(new_call, iterations, repeat)
        cpu[case] = {"jsonschema": old_us, "compiled": new_us, "ratio": old_us / new_us}
    return {
        "machine": machine(),
        "conditions": len(status["conditions"]),
        "iterations": iterations,
        "repeat": repeat,
        "cpu_us": cpu,
        "defaults_prune_cpu_us": defaults_and_pruning(raw, compiled, iterations, repeat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--iterations",
        type=int,
        default=5000,
        help="objects per run for the compiled checker (a tenth of them for jsonschema)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (best is kept)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    result = run(args.iterations, args.repeat)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"Ready CloudShell, {result['conditions']} conditions; us of CPU per object")
    print(f"{'case':<14}{'jsonschema':>12}{'compiled':>10}{'ratio':>8}")
    for case, figures in result["cpu_us"].items():
        print(
            f"{case:<14}{figures['jsonschema']:12.1f}{figures['compiled']:10.1f}"
            f"{figures['ratio']:8.1f}"
        )
    print()
    print("Defaulting and pruning; us of CPU per object")
    print(f"{'case':<22}{'walk':>8}{'compiled':>10}{'ratio':>8}")
    for case, steps in result["defaults_prune_cpu_us"].items():
        for step, figures in steps.items():
            print(
                f"{case + ' ' + step:<22}{figures['walk']:8.1f}{figures['compiled']:10.1f}"
                f"{figures['ratio']:8.1f}"
            )
    print(f"machine: {result['machine']}")


if __name__ == "__main__":
    main()
