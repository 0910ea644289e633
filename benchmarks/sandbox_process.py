"""``cloudtty-sandbox serve`` in a child process, for the benchmarks.

A process of its own keeps the sandbox's CPU and memory apart from the load generator's and the
operator's, so each side's figures are its own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml


class SandboxProcess:
    """A sandbox serving on a free port; ``url``, ``kubeconfig`` and the admin ``token``."""

    def __init__(self, work: Path, *serve_args: str) -> None:
        self.work = work
        self.kubeconfig = work / "kubeconfig"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cloudtty_sandbox.cli",
                "serve",
                "--kubeconfig",
                str(self.kubeconfig),
                "--work-dir",
                str(work / "pods"),
                "--ingress-port",
                "-1",
                *serve_args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("sandbox API:"):
            self.stop()
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        self.url = line.split()[-1]
        config = yaml.safe_load(self.kubeconfig.read_text())
        self.token: str = config["users"][0]["user"]["token"]

    def stop(self) -> None:
        """Terminate the sandbox (it stops its pod processes), killing it after 30 s."""
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
