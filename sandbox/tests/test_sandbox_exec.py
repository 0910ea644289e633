"""kubectl exec (WebSocket remote-command protocol) into locally run and simulated containers."""

from __future__ import annotations

import pytest
from cloudtty_sandbox import SandboxConfig
from kubernetes import client
from kubernetes.stream import stream

LOCAL = "example.com/local"


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(pod_start_delay=0.05, local_images={LOCAL: []})


@pytest.fixture
def running(sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "box"},
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": LOCAL,
                        "command": ["sleep", "300"],
                        "env": [{"name": "GREETING", "value": "hello"}],
                    }
                ]
            },
        },
    )
    wait(lambda: core.read_namespaced_pod("box", "default").status.phase == "Running")
    wait(
        lambda: (core.read_namespaced_pod("box", "default").status.container_statuses or [None])[0]
    )
    return core


def test_kubectl_exec_streams_and_exit_code(sandbox, running):
    result = sandbox.kubectl(
        "exec",
        "box",
        "--",
        "sh",
        "-c",
        'echo "$GREETING from $(basename $PWD)"; echo oops >&2; exit 3',
        check=False,
    )
    assert result.stdout == "hello from workdir\n"
    assert "oops" in result.stderr
    assert result.returncode == 3


def test_kubectl_exec_with_stdin(sandbox, running):
    result = sandbox.kubectl("exec", "-i", "box", "--", "cat", input="piped text\n")
    assert result.stdout == "piped text\n"


def test_exec_with_a_tty_through_the_python_client(sandbox_api_client, running):
    session = stream(
        running.connect_get_namespaced_pod_exec,
        "box",
        "default",
        command=["sh", "-c", "tty >/dev/null && echo is-a-tty; stty size"],
        stdin=False,
        stdout=True,
        stderr=True,
        tty=True,
        _preload_content=False,
    )
    session.run_forever(timeout=30)
    assert session.returncode == 0  # read from the Status on channel 3
    output = session.read_all()
    assert "is-a-tty" in output


def test_kubectl_exec_into_a_simulated_container_runs_in_its_pod_directory(
    sandbox, sandbox_api_client, wait
):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_secret(
        "default", {"metadata": {"name": "creds"}, "stringData": {"password": "s3cret"}}
    )
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "sim"},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "busybox",
                        "env": [{"name": "GREETING", "value": "hi"}],
                        "volumeMounts": [{"name": "creds", "mountPath": "/etc/creds"}],
                    },
                    {"name": "other", "image": "busybox", "workingDir": "/srv"},
                ],
                "volumes": [{"name": "creds", "secret": {"secretName": "creds"}}],
            },
        },
    )
    wait(lambda: core.read_namespaced_pod("sim", "default").status.phase == "Running")
    result = sandbox.kubectl(
        "exec",
        "sim",
        "--",
        "sh",
        "-c",
        'echo "$GREETING $(basename $PWD)"; cat "$CLOUDTTY_SANDBOX_ROOT/etc/creds/password"',
    )
    assert result.stdout.splitlines() == ["hi workdir", "s3cret"]
    root = sandbox.kubectl("exec", "sim", "--", "sh", "-c", "echo $CLOUDTTY_SANDBOX_ROOT").stdout
    assert root.strip().startswith(str(sandbox.sandbox.work_dir))
    other = sandbox.kubectl("exec", "sim", "-c", "other", "--", "pwd").stdout.strip()
    assert other == f"{root.strip()}/srv"
    piped = sandbox.kubectl("exec", "-i", "sim", "--", "cat", input="to a simulated pod\n")
    assert piped.stdout == "to a simulated pod\n"
    failed = sandbox.kubectl("exec", "sim", "--", "sh", "-c", "exit 4", check=False)
    assert failed.returncode == 4


def test_exec_into_an_exited_simulated_container_is_refused(sandbox, sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "done"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox"}],
            },
        },
    )
    wait(lambda: core.read_namespaced_pod("done", "default").status.phase == "Running")
    sandbox.exit_container("default", "done", 0)
    wait(lambda: core.read_namespaced_pod("done", "default").status.phase == "Succeeded")
    result = sandbox.kubectl("exec", "done", "--", "true", check=False)
    assert result.returncode != 0
    assert "not running" in result.stderr or "completed pod" in result.stderr


def test_exec_sessions_end_with_the_sandbox(sandbox_config, tmp_path, wait):
    import threading

    import attrs
    from cloudtty_sandbox import run_sandbox_in_thread
    from cloudtty_sandbox.localrun import group_members

    with run_sandbox_in_thread(attrs.evolve(sandbox_config, work_dir=tmp_path)) as sb:
        core = client.CoreV1Api(sb.api_client())
        core.create_namespaced_pod(
            "default",
            {
                "metadata": {"name": "box"},
                "spec": {
                    "containers": [{"name": "main", "image": LOCAL, "command": ["sleep", "300"]}]
                },
            },
        )
        wait(lambda: sb.local_processes())
        pid = sb.local_processes()[0]["pid"]
        runner = threading.Thread(
            target=sb.kubectl,
            args=("exec", "box", "--", "sleep", "300"),
            kwargs={"check": False},
            daemon=True,
        )
        runner.start()
        wait(lambda: sb.call(lambda: len(sb.sandbox.kubelet.exec_sessions)) == 1)
        session_pid = sb.call(lambda: next(iter(sb.sandbox.kubelet.exec_sessions)).process.pid)
    runner.join(30)
    assert not group_members(pid)
    assert not group_members(session_pid)
