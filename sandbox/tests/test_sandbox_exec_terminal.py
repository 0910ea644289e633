"""``kubectl exec -it`` with the real kubectl on a real pseudo-terminal, as a browser terminal
runs it: an interactive shell in the container, window resizes reaching it, the exit status,
and ``kubectl logs -f`` of the same pod."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cloudtty_sandbox import SandboxConfig
from cloudtty_sandbox.kubectl import kubectl_binary

LOCAL = "local.example/terminal-test"


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(pod_start_delay=0.05, local_images={LOCAL: []})


@pytest.fixture
def app(sandbox: Any) -> str:
    """A running local pod that prints a line, then sleeps."""
    sandbox.kubectl(
        "run",
        "app",
        f"--image={LOCAL}",
        "--env=GREETING=hello",
        "--command",
        "--",
        "sh",
        "-c",
        "echo started; exec sleep 300",
    )
    deadline = time.monotonic() + 20
    while not any(p["pod"] == "app" for p in sandbox.local_processes()):
        assert time.monotonic() < deadline, "the pod did not start"
        time.sleep(0.05)
    return "app"


class Terminal:
    """kubectl running on the slave side of a pseudo-terminal we hold the master of."""

    def __init__(self, sandbox: Any, *args: str) -> None:
        self.master, slave = pty.openpty()
        self.set_size(24, 80)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env |= {
            "KUBECONFIG": str(sandbox.kubeconfig_path),
            "HOME": str(sandbox.kubeconfig_path.parent),
        }
        self.process = subprocess.Popen(
            [str(kubectl_binary()), *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.output = b""

    def set_size(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def expect(self, pattern: str, timeout: float = 20) -> re.Match[bytes]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern.encode(), self.output, re.M)
            if found:
                return found
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} in {self.output[-500:]!r}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:  # the slave side closed: kubectl exited
                    time.sleep(0.05)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        os.close(self.master)


@pytest.fixture
def terminal(sandbox: Any, app: str) -> Iterator[Any]:
    opened: list[Terminal] = []

    def open_(*args: str) -> Terminal:
        opened.append(Terminal(sandbox, *args))
        return opened[-1]

    yield open_
    for term in opened:
        term.close()


def test_an_interactive_shell_in_the_pod_follows_resizes_and_reports_its_exit_status(
    terminal: Any,
) -> None:
    term = terminal("exec", "-it", "app", "--", "sh")
    term.expect(r"[#$] $")  # the prompt: typing earlier would mix the echo and the output
    term.type('echo "$GREETING from $(basename "$PWD") on a $(tty | cut -c1-8)"\r')
    term.expect(r"^hello from workdir on a /dev/pts\r?$")
    term.type("stty size\r")
    # Input typed ahead is echoed before the shell prints its next prompt, so an answer may
    # follow a prompt on its line.
    term.expect(r"^(?:[#$] )?24 80\r?$")
    # A resize of kubectl's terminal reaches the container's (channel 4). kubectl is not in
    # the terminal's session, so the SIGWINCH a terminal emulator's kernel sends comes by hand.
    term.set_size(40, 120)
    os.kill(term.process.pid, signal.SIGWINCH)
    for _ in range(40):  # the resize travels asynchronously: ask until it has arrived
        term.type("stty size\r")
        try:
            term.expect(r"^(?:[#$] )?40 120\r?$", timeout=0.5)
            break
        except AssertionError:
            continue
    term.expect(r"^(?:[#$] )?40 120\r?$")
    # The loop may have typed `stty size` ahead more than once: wait until the shell ran all
    # of it and sits at a prompt, so the Ctrl-C below meets the command it is meant for.
    term.type("echo idle-$((20 + 22))\r")
    term.expect(r"^(?:[#$] )?idle-42\r?\n[#$] $")
    # The pod's terminal is the shell's controlling terminal: Ctrl-C interrupts a command.
    term.type("sleep 120; echo not-interrupted\r")
    term.expect(r"sleep 120; echo not-interrupted\r?$")
    for _ in range(10):  # a Ctrl-C that lands before the shell started sleep is the shell's
        term.type("\x03")
        try:
            term.expect(r"\^C\s*[#$] $", timeout=2)  # interrupted, and a new prompt
            break
        except AssertionError:
            continue
    term.expect(r"\^C\s*[#$] $")
    term.type("echo after-ctrl-c\r")
    term.expect(r"^after-ctrl-c\r?$")
    assert b"not-interrupted\r\n" not in term.output.replace(b"echo not-interrupted", b"")
    term.type("exit 7\r")
    assert term.process.wait(20) == 7


def test_logs_follow_streams_what_the_pod_prints(sandbox: Any, app: str) -> None:
    follower = subprocess.Popen(
        [str(kubectl_binary()), "logs", "-f", app],
        stdout=subprocess.PIPE,
        env={
            "KUBECONFIG": str(sandbox.kubeconfig_path),
            "HOME": str(sandbox.kubeconfig_path.parent),
            "PATH": os.environ.get("PATH", ""),
        },
    )
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline() == b"started\n"
        # Still following: deleting the pod ends the stream and kubectl.
        assert follower.poll() is None
        sandbox.kubectl("delete", "pod", app, "--grace-period=1", "--wait=false")
        assert follower.wait(30) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait(10)
