"""Pod processes die with the sandbox even when the sandbox is killed with SIGKILL (no chance
to stop them itself): the kernel's parent-death signal ends them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from cloudtty_sandbox.kubectl import run_kubectl

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux prctl")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _poll(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {check}")


def test_local_pod_process_dies_when_the_sandbox_is_sigkilled(tmp_path: Path):
    kubeconfig = tmp_path / "kubeconfig"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloudtty_sandbox.cli",
            "serve",
            "--work-dir",
            str(tmp_path / "work"),
            "--kubeconfig",
            str(kubeconfig),
            "--pod-start-delay",
            "0.05",
            "--ingress-port",
            "-1",
            "--local-image",
            "example.test/sleeper",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pid = None
    try:
        _poll(kubeconfig.exists)
        url = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "sleeper"},
            "spec": {
                "containers": [
                    {"name": "c", "image": "example.test/sleeper", "command": ["sleep", "600"]}
                ]
            },
        }
        run_kubectl(kubeconfig, ["apply", "-f", "-"], input=yaml.safe_dump(pod))

        def local_pid() -> int | None:
            with urllib.request.urlopen(f"{url}/sandbox/processes", timeout=10) as response:
                processes = json.loads(response.read())["processes"]
            return processes[0]["pid"] if processes else None

        pid = _poll(local_pid)
        assert _alive(pid)
        server.send_signal(signal.SIGKILL)
        server.wait(30)
        _poll(lambda: not _alive(pid))
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(30)
        if pid is not None and _alive(pid):
            os.killpg(pid, signal.SIGKILL)  # never leave the process behind, even on failure
