"""The simulated kubelet: scheduling, Pending -> Running -> Ready, exits with termination
messages, grace periods, local processes reachable through NodePort and ingress, and no
process left behind."""

from __future__ import annotations

import os
import sys
import textwrap
import urllib.request

import attrs
import pytest
from cloudtty_sandbox import SandboxConfig, run_sandbox_in_thread
from cloudtty_sandbox.localrun import group_members
from kubernetes import client

LOCAL = "example.com/local"


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        pod_start_delay=0.05, bookmark_interval=0.5, local_images={LOCAL: []}, restart_backoff=0.1
    )


def _pod(
    name: str,
    *,
    image: str = "busybox",
    command: list[str] | None = None,
    restart: str = "Always",
    labels: dict | None = None,
    **extra,
) -> dict:
    container = {"name": "main", "image": image, **extra}
    if command:
        container["command"] = command
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"restartPolicy": restart, "containers": [container]},
    }


def _phase(core, name: str) -> str:
    return core.read_namespaced_pod(name, "default").status.phase


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie waiting to be reaped is not running
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _group_alive(pgid: int) -> bool:
    return bool(group_members(pgid))


HTTP_SERVER = [sys.executable, "-m", "http.server", "8080", "--bind", "$(POD_IP)"]
POD_IP_ENV = [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]


def test_simulated_pod_goes_running_and_ready(sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_pod("default", _pod("sim"))
    pod = wait(
        lambda: (
            (p := core.read_namespaced_pod("sim", "default")).status.phase == "Running"
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions)
            and p
        )
    )
    assert pod.spec.node_name == "sandbox-node"
    ip = pod.status.pod_ip
    assert ip.startswith("127.")
    assert ip != "127.0.0.1"
    assert pod.status.container_statuses[0].ready is True
    assert pod.status.container_statuses[0].state.running is not None
    assert {c.type for c in pod.status.conditions} >= {
        "PodScheduled",
        "Initialized",
        "ContainersReady",
        "Ready",
    }


def test_pods_get_distinct_loopback_ips(sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    for i in range(3):
        core.create_namespaced_pod("default", _pod(f"p{i}"))
    ips = wait(
        lambda: (
            (
                found := [
                    core.read_namespaced_pod(f"p{i}", "default").status.pod_ip for i in range(3)
                ]
            )
            and all(found)
            and found
        )
    )
    assert len(set(ips)) == 3


def test_simulated_exit_after_annotation_ends_never_pod(sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    pod = _pod("once", restart="Never")
    pod["metadata"]["annotations"] = {
        "sandbox.cloudtty.io/exit-after-seconds": "0.1",
        "sandbox.cloudtty.io/termination-message": "once",
    }
    core.create_namespaced_pod("default", pod)
    wait(lambda: _phase(core, "once") == "Succeeded")
    status = core.read_namespaced_pod("once", "default").status
    terminated = status.container_statuses[0].state.terminated
    assert terminated.exit_code == 0
    assert terminated.message == "once"
    assert terminated.reason == "Completed"


def test_admin_exit_marks_failure(sandbox, sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_pod("default", _pod("f", restart="Never"))
    wait(lambda: _phase(core, "f") == "Running")
    assert sandbox.exit_container("default", "f", exit_code=3, message="boom")
    wait(lambda: _phase(core, "f") == "Failed")
    terminated = core.read_namespaced_pod("f", "default").status.container_statuses[0].state
    assert terminated.terminated.exit_code == 3
    assert terminated.terminated.message == "boom"


def test_local_process_termination_message(sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    script = (
        "import os; open(os.environ['CLOUDTTY_SANDBOX_ROOT'] + '/dev/termination-log',"
        " 'w').write('idle')"
    )
    core.create_namespaced_pod(
        "default", _pod("job", image=LOCAL, restart="Never", command=[sys.executable, "-c", script])
    )
    wait(lambda: _phase(core, "job") == "Succeeded")
    state = core.read_namespaced_pod("job", "default").status.container_statuses[0].state
    assert state.terminated.message == "idle"
    failing = _pod(
        "bad", image=LOCAL, restart="Never", command=[sys.executable, "-c", "raise SystemExit(4)"]
    )
    core.create_namespaced_pod("default", failing)
    wait(lambda: _phase(core, "bad") == "Failed")
    state = core.read_namespaced_pod("bad", "default").status.container_statuses[0].state
    assert state.terminated.exit_code == 4


def test_restart_policy_always_restarts_local_container(sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_pod(
        "default", _pod("crash", image=LOCAL, command=[sys.executable, "-c", "pass"])
    )
    wait(
        lambda: (
            (core.read_namespaced_pod("crash", "default").status.container_statuses or [None])[0]
            and core.read_namespaced_pod("crash", "default")
            .status.container_statuses[0]
            .restart_count
            >= 2
        )
    )
    assert _phase(core, "crash") == "Running"


def test_local_env_volumes_and_token(sandbox, sandbox_api_client, wait, tmp_path):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_secret(
        "default", {"metadata": {"name": "sec"}, "stringData": {"key": "s3cret"}}
    )
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "cfg"}, "data": {"setting": "on"}}
    )
    out = tmp_path / "seen.txt"
    script = textwrap.dedent(f"""
        import os, pathlib
        root = pathlib.Path(os.environ["CLOUDTTY_SANDBOX_ROOT"])
        token = (root / "var/run/secrets/kubernetes.io/serviceaccount/token").read_text()
        ns = (root / "var/run/secrets/kubernetes.io/serviceaccount/namespace").read_text()
        pathlib.Path({str(out)!r}).write_text("|".join([
            os.environ["MY_NAME"], os.environ["MY_NS"], os.environ["SECRET"],
            os.environ["SETTING"], os.environ["KUBERNETES_SERVICE_HOST"],
            os.environ["KUBERNETES_SERVICE_PORT"], (root / "etc/sec/key").read_text(),
            ns, str(token.count(".")), os.getcwd().startswith(str(root)) and "cwd-ok" or "no"]))
    """)
    pod = _pod(
        "env",
        image=LOCAL,
        restart="Never",
        command=[sys.executable, "-c", script],
        env=[
            {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "MY_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "key"}}},
            {
                "name": "SETTING",
                "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "setting"}},
            },
        ],
        volumeMounts=[{"name": "sec", "mountPath": "/etc/sec"}],
    )
    pod["spec"]["volumes"] = [{"name": "sec", "secret": {"secretName": "sec"}}]
    core.create_namespaced_pod("default", pod)
    wait(lambda: _phase(core, "env") in ("Succeeded", "Failed"))
    assert _phase(core, "env") == "Succeeded", sandbox.kubectl("logs", "env").stdout
    fields = out.read_text().split("|")
    assert fields[:4] == ["env", "default", "s3cret", "on"]
    assert fields[4] == "127.0.0.1"
    assert fields[5] == str(sandbox.port)
    assert fields[6] == "s3cret"
    assert fields[7] == "default"
    assert fields[8] == "2"  # a JWT: header.payload.signature
    assert fields[9] == "cwd-ok"


def test_logs_of_a_local_container(sandbox, sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_pod(
        "default",
        _pod(
            "talk", image=LOCAL, restart="Never", command=[sys.executable, "-c", "print('hello')"]
        ),
    )
    wait(lambda: _phase(core, "talk") == "Succeeded")
    assert core.read_namespaced_pod_log("talk", "default").strip() == "hello"


def test_local_pod_reachable_through_nodeport_and_ingress_then_gone(
    sandbox, sandbox_api_client, wait
):
    core = client.CoreV1Api(sandbox_api_client)
    net = client.NetworkingV1Api(sandbox_api_client)
    pod = _pod(
        "web",
        image=LOCAL,
        command=HTTP_SERVER,
        labels={"app": "web"},
        env=POD_IP_ENV,
        ports=[{"containerPort": 8080, "name": "http"}],
        readinessProbe={"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
    )
    core.create_namespaced_pod("default", pod)
    svc = core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {
                "type": "NodePort",
                "selector": {"app": "web"},
                "ports": [{"port": 80, "targetPort": "http"}],
            },
        },
    )
    node_port = svc.spec.ports[0].node_port
    net.create_namespaced_ingress(
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {
                "rules": [
                    {
                        "host": "web.localhost",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "web", "port": {"number": 80}}},
                                }
                            ]
                        },
                    }
                ]
            },
        },
    )
    wait(
        lambda: any(
            c.type == "Ready" and c.status == "True"
            for c in core.read_namespaced_pod("web", "default").status.conditions or ()
        )
    )
    wait(lambda: (core.read_namespaced_endpoints("web", "default").subsets or [None])[0])
    endpoints = core.read_namespaced_endpoints("web", "default")
    assert endpoints.subsets[0].ports[0].port == 8080

    def fetch(url: str, host: str | None = None) -> int:
        request = urllib.request.Request(url, headers={"Host": host} if host else {})
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status

    assert wait(lambda: _try(lambda: fetch(f"http://127.0.0.1:{node_port}/"))) == 200
    assert fetch(f"http://127.0.0.1:{sandbox.ingress_port}/", host="web.localhost") == 200
    with pytest.raises(urllib.error.HTTPError) as err:
        fetch(f"http://127.0.0.1:{sandbox.ingress_port}/", host="other.localhost")
    assert err.value.code == 404
    status = wait(
        lambda: net.read_namespaced_ingress("web", "default").status.load_balancer.ingress
    )
    assert status[0].ip == "127.0.0.1"

    pids = [p["pid"] for p in sandbox.local_processes() if p["pod"] == "web"]
    assert len(pids) == 1
    core.delete_namespaced_pod("web", "default")
    wait(lambda: not _alive(pids[0]))
    wait(lambda: not core.list_namespaced_pod("default").items)
    with pytest.raises(OSError):
        fetch(f"http://127.0.0.1:{node_port}/")


def _try(fn):
    try:
        return fn()
    except OSError:
        return None


def test_grace_period_sigterm_then_sigkill(sandbox, sandbox_api_client, wait, tmp_path):
    core = client.CoreV1Api(sandbox_api_client)
    stubborn = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "open('ready', 'w').close()\nwhile True: time.sleep(0.1)"
    )
    pod = _pod("stubborn", image=LOCAL, command=[sys.executable, "-c", stubborn])
    pod["spec"]["terminationGracePeriodSeconds"] = 1
    core.create_namespaced_pod("default", pod)
    wait(lambda: list(tmp_path.glob("sandbox/pods/*/workdir/ready")))  # SIGTERM is ignored now
    pid = sandbox.local_processes()[0]["pid"]
    core.delete_namespaced_pod("stubborn", "default")
    deleting = core.read_namespaced_pod("stubborn", "default")
    assert deleting.metadata.deletion_timestamp is not None
    assert deleting.metadata.deletion_grace_period_seconds == 1
    assert _alive(pid)  # SIGTERM is ignored; the kubelet waits for the grace period
    wait(lambda: not _alive(pid))
    wait(lambda: not core.list_namespaced_pod("default").items)


def test_no_process_left_after_stop(sandbox_config, tmp_path, wait):
    config = attrs.evolve(sandbox_config, work_dir=tmp_path)
    with run_sandbox_in_thread(config) as sb:
        core = client.CoreV1Api(sb.api_client())
        core.create_namespaced_pod(
            "default",
            _pod("tree", image=LOCAL, command=["sh", "-c", "sleep 300 & sleep 300 & wait"]),
        )
        wait(lambda: sb.local_processes())
        leader = sb.local_processes()[0]["pid"]
        wait(lambda: len(group_members(leader)) >= 3)  # sh and both sleeps
    assert not _group_alive(leader)


def test_unknown_service_account_is_forbidden(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    pod = _pod("nosa")
    pod["spec"]["serviceAccountName"] = "missing"
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_pod("default", pod)
    assert err.value.status == 403


def test_pod_spec_is_immutable_but_image_may_change(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_pod("default", _pod("imm"))
    core.patch_namespaced_pod(
        "imm", "default", {"spec": {"containers": [{"name": "main", "image": "busybox:2"}]}}
    )
    with pytest.raises(client.ApiException) as err:
        core.patch_namespaced_pod(
            "imm",
            "default",
            {"spec": {"containers": [{"name": "main", "env": [{"name": "X", "value": "1"}]}]}},
        )
    assert err.value.status == 422


def test_kubectl_logs_follow_streams_until_the_container_ends(sandbox, sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    script = "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.3)"
    core.create_namespaced_pod(
        "default",
        _pod("count", image=LOCAL, restart="Never", command=[sys.executable, "-c", script]),
    )
    wait(lambda: _phase(core, "count") == "Running")
    followed = sandbox.kubectl("logs", "-f", "count", timeout=30)
    assert followed.stdout.split() == ["0", "1", "2"]
