"""What a benchmark's figures were measured on, for the JSON every benchmark prints."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory, Python version and the load average when the run started
    (other work on the machine moves latencies by tens of percent)."""
    model = memory = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory": memory,
        "python": platform.python_version(),
        "loadavg_at_start": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def calibration_ms(rounds: int = 3) -> float:
    """CPU milliseconds of a fixed pure-Python workload (dicts, lists, strings, JSON), the
    least of ``rounds``: taken next to a timed phase, it shows how fast the machine was then
    (the cores of a shared machine run faster or slower from one minute to the next)."""
    import gc
    import json
    import time

    def work() -> None:
        for i in range(3000):
            obj = {
                "metadata": {"name": f"shell-{i}", "labels": {"a": str(i), "b": "x" * 8}},
                "spec": {"items": [{"k": j, "v": f"{j}-{i}"} for j in range(8)]},
            }
            text = json.dumps(obj, sort_keys=True)
            back = json.loads(text)
            sorted(back["spec"]["items"], key=lambda item: item["v"])

    best = float("inf")
    # Without the collector: its passes would measure the calling process's heap instead.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            started = time.process_time()
            work()
            best = min(best, time.process_time() - started)
    finally:
        if collecting:
            gc.enable()
    return round(best * 1000, 1)
