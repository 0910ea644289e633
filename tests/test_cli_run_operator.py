"""``cloudtty run``: flags, one-line errors, and the real process against the sandbox -- JSON
logs, probes, leader election, reconciling, graceful SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudtty_core.cli import main

CLOUDTTY = str(Path(sys.executable).parent / "cloudtty")


def test_help_lists_the_operator_flags(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["run", "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--kubeconfig",
        "--in-cluster",
        "--namespace",
        "--workers",
        "--min-idle",
        "--min-idle-namespace",
        "--cluster-role",
        "--node-address",
        "--block",
        "--strict",
        "--no-autoload",
        "--metrics-port",
        "--leader-elect",
        "--lease-name",
        "--lease-namespace",
        "--log-level",
    ):
        assert flag in out, flag


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "0"], "workers must be at least 1, got 0"),
        (["--min-idle-namespace", "team-a"], "--min-idle-namespace: expected KEY=VALUE"),
        (["--min-idle", "-1"], "--min-idle and --min-idle-namespace must not be negative"),
        (["--image", "webterm"], "--image: expected KEY=VALUE"),
    ],
)
def test_bad_flags_are_one_line_errors(capsys, flags, message):
    assert main(["run", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cloudtty: error: ")
    assert message in err
    assert "Traceback" not in err


def test_a_missing_kubeconfig_is_one_line(tmp_path, capsys):
    status = main(["run", "--kubeconfig", str(tmp_path / "nope"), "--metrics-port", "0"])
    assert status == 1
    err = capsys.readouterr().err
    assert "cloudtty: error: cannot load the cluster configuration" in err
    assert "Traceback" not in err


def test_the_other_commands_work_without_the_runtime_extra():
    # A fresh interpreter in which the runtime's dependencies cannot be imported.
    script = textwrap.dedent(
        """
        import sys
        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in ("anyio", "kubernetes", "prometheus_client"):
                    raise ImportError(f"No module named {name!r}", name=name)
        sys.meta_path.insert(0, Refuse())
        from cloudtty_core.cli import main
        assert main(["crd", "--json"]) == 0
        sys.exit(main(["run"]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert '"kind": "CustomResourceDefinition"' in done.stdout
    assert "`cloudtty run` needs the runtime extra" in done.stderr
    assert "pip install 'cloudtty-core[runtime]'" in done.stderr


class OperatorProcess:
    """``cloudtty run`` as a child process, its stderr collected line by line."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "CLOUDTTY_DEBUG": "1"}
        env.pop("KUBECONFIG", None)
        self.process = subprocess.Popen(
            [CLOUDTTY, "run", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines) if line.startswith("{")]

    def wait_for(self, check: Callable[[], Any], timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            if self.process.poll() is not None:
                raise AssertionError("cloudtty run exited:\n" + "\n".join(self.lines[-30:]))
            time.sleep(0.05)
        raise AssertionError("timed out; last lines:\n" + "\n".join(self.lines[-30:]))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(5)


@pytest.fixture
def operator_process() -> Iterator[Callable[..., OperatorProcess]]:
    started: list[OperatorProcess] = []

    def start(*args: str) -> OperatorProcess:
        process = OperatorProcess(*args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


BROKEN_SHELL = {
    "apiVersion": "cloudshell.cloudtty.io/v1alpha1",
    "kind": "CloudShell",
    "metadata": {"name": "needs-a-plugin", "namespace": "default"},
    "spec": {"exposureMode": "NoSuchExposure", "commandAction": "bash"},
}


@pytest.mark.slow
def test_run_serves_probes_leads_reconciles_and_stops_on_sigterm(sandbox, operator_process):
    operator = operator_process(
        "--kubeconfig",
        str(sandbox.kubeconfig_path),
        "--install-crd",
        "--min-idle",
        "0",
        "--metrics-host",
        "127.0.0.1",
        "--metrics-port",
        "0",
        "--leader-elect",
        "--lease-namespace",
        "default",
        "--identity",
        "cli-test-replica",
    )

    def serving() -> str | None:
        for record in operator.records():
            found = re.search(r"on 127\.0\.0\.1:(\d+)$", record["message"])
            if found and record["message"].startswith("serving /metrics"):
                return f"http://127.0.0.1:{found.group(1)}"
        return None

    base = operator.wait_for(serving)
    operator.wait_for(lambda: http_get(base + "/readyz")[0] == 200)
    assert http_get(base + "/healthz") == (200, "ok\n")
    lease = sandbox.get_object("leases.coordination.k8s.io", "default", "cloudtty-operator")
    assert lease["spec"]["holderIdentity"] == "cli-test-replica"

    # Status writes fail for a while: the operator logs the failure about this shell.
    status_writes = "cloudshells.cloudshell.cloudtty.io/status"
    sandbox.set_faults({"errors": [{"rate": 1.0, "resource": status_writes, "codes": [500]}]})
    sandbox.kubectl("apply", "-f", "-", input=json.dumps(BROKEN_SHELL))
    operator.wait_for(lambda: any(r.get("name") == "needs-a-plugin" for r in operator.records()))
    sandbox.clear_faults()

    def failed() -> dict[str, Any] | None:
        shell = sandbox.get_object(
            "cloudshells.cloudshell.cloudtty.io", "default", "needs-a-plugin"
        )
        status = (shell or {}).get("status") or {}
        return status if status.get("phase") == "Failed" else None

    status = operator.wait_for(failed)
    accepted = next(c for c in status["conditions"] if c["type"] == "Accepted")
    assert accepted["reason"] == "BackendNotInstalled"
    assert "NoSuchExposure" in accepted["message"]
    code, metrics = http_get(base + "/metrics")
    assert code == 200
    assert "cloudtty_leader 1.0" in metrics
    assert re.search(r'cloudtty_reconciles_total\{kind="shell",result="[a-z]+"\} [1-9]', metrics)
    assert re.search(
        r'cloudtty_api_requests_total\{code="20[01]",resource="leases",verb="[a-z]+"\}', metrics
    )
    # The shell's own requests are counted too, the refused status writes by their code.
    shells = "cloudshells.cloudshell.cloudtty.io"
    assert re.search(
        rf'cloudtty_api_requests_total\{{code="500",resource="{shells}/status",verb="update"\}} '
        r"[1-9]",
        metrics,
    )
    assert re.search(
        rf'cloudtty_api_requests_total\{{code="200",resource="{shells}",verb="list"\}}', metrics
    )

    operator.process.send_signal(signal.SIGTERM)
    assert operator.process.wait(30) == 0
    operator._reader.join(5)
    records = operator.records()
    assert records, "no JSON log lines"
    assert all({"time", "level", "logger", "message"} <= record.keys() for record in records)
    about_shell = [r for r in records if "needs-a-plugin" in r["message"]]
    assert about_shell, "no log line is about the shell"
    assert all(
        (r.get("namespace"), r.get("name")) == ("default", "needs-a-plugin") for r in about_shell
    )
    assert any("SIGTERM" in r["message"] for r in records)
    released = sandbox.get_object("leases.coordination.k8s.io", "default", "cloudtty-operator")
    assert released["spec"]["holderIdentity"] == ""
    output = "\n".join(operator.lines)
    assert sandbox.admin_token not in output
