"""``cloudtty demo`` and its library form :class:`~cloudtty_core.cli.sandboxdemo.Demo`: every
step is done, the login URL and the kubeconfig work, and nothing is left running afterwards --
after a normal stop, an exception, a failed start, SIGTERM and Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudtty_core.cli import main
from cloudtty_core.cli.sandboxdemo import STEPS, Demo, DemoError, DemoOptions, processes_using

pytest.importorskip("kubernetes")
pytest.importorskip("cloudtty_sandbox")
pytest.importorskip("cloudtty_webterm")

CLOUDTTY = str(Path(sys.executable).parent / "cloudtty")


def children_of(pid: int) -> list[int]:
    """Live (non-zombie) processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def http_status(url: str) -> int:
    """GET as a browser would: the token in the URL becomes a cookie on a redirect."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(url, timeout=10) as response:
        return int(response.status)


@pytest.mark.slow
def test_the_library_form_runs_every_step_and_leaves_nothing_behind(tmp_path: Path) -> None:
    steps: list[tuple[str, str]] = []
    work_dir = tmp_path / "demo"
    before = set(children_of(os.getpid()))
    with Demo(
        DemoOptions(work_dir=work_dir, log=True), on_step=lambda s, st, d: steps.append((s, st))
    ) as demo:
        assert steps == [(key, state) for key, _ in STEPS for state in ("start", "done")]
        # The login URL carries the access token; status.accessUrl never does.
        assert demo.login_url is not None
        assert demo.shell is not None
        access_url = demo.shell["status"]["accessUrl"]
        assert "token=" not in access_url
        assert demo.login_url.startswith(access_url)
        assert re.search(r"\?token=[A-Za-z0-9_-]{22,}$", demo.login_url)
        assert http_status(demo.login_url) == 200
        # kubectl with the printed kubeconfig sees the sample shell Ready.
        listed = demo.sandbox.kubectl("get", "cloudshells", "--no-headers").stdout
        assert re.search(r"^demo\s.*\sReady\s", listed, re.M)
        assert demo.kubeconfig_path == work_dir / "kubeconfig"
        assert demo.log_path is not None
        assert demo.log_path.exists()
        # The sample shell's worker and an idle one run as local processes.
        pods = {p["pod"] for p in demo.local_processes()}
        assert demo.shell["status"]["worker"] in pods
        assert len(pods) >= 2
        assert processes_using(work_dir)
        # A user's shell that points kubectl at the demo is not the demo's to stop.
        user_shell = subprocess.Popen(
            ["sleep", "60"],
            cwd=tmp_path,
            env={**os.environ, "KUBECONFIG": str(demo.kubeconfig_path)},
        )
    try:
        assert processes_using(work_dir) == []
        assert set(children_of(os.getpid())) - before == {user_shell.pid}
        assert user_shell.poll() is None
    finally:
        user_shell.kill()
        user_shell.wait(10)
    assert work_dir.exists()  # a directory it was given is kept


@pytest.mark.slow
def test_an_error_inside_the_demo_still_stops_everything(tmp_path: Path) -> None:
    seen: list[int] = []
    demo = Demo(DemoOptions())

    def fail_inside() -> None:
        with demo:
            assert demo.work_dir is not None
            seen.extend(processes_using(demo.work_dir))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()
    assert seen
    work_dir = demo.work_dir
    assert work_dir is not None
    assert processes_using(work_dir) == []
    assert not work_dir.exists()  # its own temporary directory is removed


def test_a_failed_start_is_one_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        if port > 65534:
            pytest.skip("the free port is the last one")
        demo = Demo(DemoOptions(port_base=port, work_dir=tmp_path / "d", sample_shell=False))
        with pytest.raises(DemoError, match="the sandbox cluster did not start"):
            demo.start()
    assert demo.sandbox is None
    assert demo.operator is None
    assert processes_using(tmp_path / "d") == []


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="exposure must be one of NodePort, Ingress"):
        DemoOptions(exposure="LoadBalancer")
    with pytest.raises(ValueError, match="port_base must be 0"):
        DemoOptions(port_base=80)


def test_bad_demo_options_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--port-base", "80"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cloudtty: error: port_base must be 0")
    assert "Traceback" not in err


class DemoProcess:
    """``cloudtty demo`` as a child process; stdout collected line by line."""

    def __init__(self, work_dir: Path, *args: str) -> None:
        self.work_dir = work_dir
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        self.process = subprocess.Popen(
            [CLOUDTTY, "demo", "--work-dir", str(work_dir), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line.rstrip("\n"))

    def wait_for_line(self, pattern: str, timeout: float = 90) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.out):
                found = re.search(pattern, line)
                if found:
                    return found
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(
            f"no line matching {pattern!r}; stdout: {self.out}; stderr: {self.err[-20:]}"
        )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for reader in self._readers:
            reader.join(5)


@pytest.fixture
def demo_process() -> Iterator[list[DemoProcess]]:
    started: list[DemoProcess] = []
    yield started
    for running in started:
        running.kill()
        # Even a killed demo must not leave pod processes behind for the next tests.
        for pid in processes_using(running.work_dir):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_command_prints_the_url_and_kubeconfig_and_stops_cleanly_on_a_signal(
    tmp_path: Path, demo_process: list[DemoProcess], sig: signal.Signals
) -> None:
    work_dir = tmp_path / "demo"
    running = DemoProcess(work_dir, "--no-browser-hint", "--timeout", "60")
    demo_process.append(running)
    url = running.wait_for_line(r"^login URL: (http://127\.0\.0\.1:\d+/\?token=\S+)$").group(1)
    line = running.wait_for_line(r"^export KUBECONFIG=(\S+); (\S+) get cloudshells$")
    assert Path(line.group(1)) == work_dir / "kubeconfig"
    assert http_status(url) == 200
    kubectl = subprocess.run(
        [line.group(2), "get", "cloudshells", "--no-headers"],
        env={**os.environ, "KUBECONFIG": line.group(1), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert re.search(r"^demo\s.*\sReady\s", kubectl.stdout, re.M)
    for label in ("Sandbox cluster up", "Operator running", "Warm pool ready", "Sample shell"):
        assert any(label in err for err in running.err), running.err
    assert processes_using(work_dir)

    running.process.send_signal(sig)
    assert running.process.wait(30) == 0
    running.kill()
    assert processes_using(work_dir) == []
    assert any("Stopped; nothing is left running." in err for err in running.err)
