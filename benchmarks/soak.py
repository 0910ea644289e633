"""The soak: the fault suite's scenarios, longer and over and over, against one sandbox cluster.

Phases cycle through every scenario of :data:`cloudtty_core.testing.chaos.SCENARIOS` (API
errors, latency, watch cuts, compaction, SIGKILLs, leader kills), each scaled up, with a mixed
workload of CloudShells; after each phase the cluster must settle with every invariant holding.
It runs until at least ``--min-kills`` SIGKILLs of the operator happened and at least one full
cycle ran, within ``--max-minutes`` (a hard bound: no new phase starts after it).

    .venv/bin/python benchmarks/soak.py --max-minutes 20 --out soak.json

Prints one line per phase and the totals; writes the figures as JSON to ``--out``. Exits 1 when
a phase did not settle, broke an invariant or saw the operator crash.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
from cloudtty_sandbox import SandboxConfig, run_sandbox_in_thread

from cloudtty_core.testing.chaos import SCENARIOS, FaultRun, Figures, Scenario


def phases(factor: float, kills_per_phase: int, leader_kills: int) -> list[Scenario]:
    """One cycle: every scenario, ``factor`` times longer, with more kills."""
    cycle = []
    for scenario in SCENARIOS:
        kills = None
        if scenario.kills and scenario.replicas == 1:
            kills = kills_per_phase
        elif scenario.kills:
            kills = leader_kills
        cycle.append(scenario.scaled(factor, kills=kills))
    return cycle


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    memory = ""
    try:
        with open("/proc/meminfo") as info:
            memory = info.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory": memory,
        "processor": platform.processor() or platform.machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-minutes", type=float, default=20.0, help="hard time bound")
    parser.add_argument("--min-kills", type=int, default=50, help="SIGKILLs to reach at least")
    parser.add_argument("--factor", type=float, default=2.0, help="phase length vs the suite")
    parser.add_argument("--kills-per-phase", type=int, default=25, help="in the SIGKILL phase")
    parser.add_argument("--leader-kills", type=int, default=6, help="in the leader-kill phase")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("soak.json"), help="JSON figures")
    parser.add_argument("--work-dir", type=Path, help="logs and sandbox files (default: temp)")
    args = parser.parse_args(argv)

    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="cloudtty-soak-"))
    deadline = time.monotonic() + args.max_minutes * 60
    started_at = datetime.now(UTC)
    started = time.monotonic()
    totals = Figures()
    results: list[dict[str, Any]] = []
    failed = False
    config = SandboxConfig(
        pod_start_delay=0.05,
        bookmark_interval=0.5,
        local_images={},
        forward_node_ports=False,
        max_grace_seconds=0.2,
        work_dir=work_dir / "sandbox",
    )

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {message}", flush=True)

    with run_sandbox_in_thread(config) as sandbox:
        run = FaultRun(
            sandbox,
            work_dir / "operators",
            seed=args.seed,
            log=log,
        )
        with run.running():
            cycle = phases(args.factor, args.kills_per_phase, args.leader_kills)
            index = 0
            while time.monotonic() < deadline:
                scenario = cycle[index % len(cycle)]
                if index >= len(cycle) and run.figures.kills >= args.min_kills:
                    break
                result = run.run(scenario, settle_timeout=120)
                index += 1
                phase = {
                    "phase": index,
                    "scenario": scenario.name,
                    "ok": result.ok,
                    "settled": result.settled,
                    "violations": [str(v) for v in result.report.violations[:20]],
                    "reconcileErrors": dict(result.error_types),
                    "crashLines": result.crash_lines[:5],
                    "figures": result.figures.as_dict(),
                }
                results.append(phase)
                if not result.ok:
                    failed = True
                    log("FAILED\n" + result.summary())
            totals = run.figures
    elapsed = time.monotonic() - started
    figures = totals.as_dict()
    report = {
        "date": started_at.isoformat(timespec="seconds"),
        "seconds": round(elapsed, 1),
        "machine": machine(),
        "settings": {
            **{k: v for k, v in vars(args).items() if k not in ("out", "work_dir")},
            "scenarios": [attrs.asdict(s) for s in phases(args.factor, 0, 0)],
        },
        "phases": len(results),
        "failedPhases": sum(1 for r in results if not r["ok"]),
        "totals": figures,
        "results": results,
    }
    args.out.write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
    print(json.dumps({k: report[k] for k in ("date", "seconds", "phases", "failedPhases")}))
    print(json.dumps(figures, sort_keys=True))
    if totals.kills < args.min_kills:
        print(f"only {totals.kills} kills within {args.max_minutes} minutes", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
