"""A webterm warm worker as the sandbox cluster runs it: a real pod, a real Secret, a real shell.

The sandbox's kubelet runs the worker pod built by the backend as a local process on its own
loopback podIP; the test plays the operator (it creates the session Secret) and the user.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import aiohttp
import pytest
from cloudtty_webterm.backend import WebtermBackend
from cloudtty_webterm.testing import terminal

from cloudtty_core import (
    OperatorSettings,
    PoolKey,
    SessionRequest,
    WorkerRef,
    WorkerRequest,
    shell_from_dict,
)
from cloudtty_core.testing import cloudshell

pytest.importorskip("cloudtty_sandbox")
kubernetes = pytest.importorskip("kubernetes")

BACKEND = WebtermBackend()
NAMESPACE = "default"


def wait_for(predicate: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_warm_worker_in_the_sandbox_serves_its_session(
    sandbox: Any, sandbox_api_client: Any
) -> None:
    core = kubernetes.client.CoreV1Api(sandbox_api_client)
    settings = OperatorSettings()
    core.create_namespaced_service_account(NAMESPACE, {"metadata": {"name": "webterm-worker-1"}})
    pod = BACKEND.worker_pod(
        WorkerRequest(PoolKey(NAMESPACE, "webterm", BACKEND.default_image), settings)
    )
    pod["metadata"]["name"] = "webterm-worker-1"
    pod["spec"]["serviceAccountName"] = "webterm-worker-1"  # the planner gives each its own
    # once ends the worker after its client left and did not come back within the grace time.
    pod["spec"]["containers"][0]["args"] += ["--reconnect-grace", "0.5"]
    core.create_namespaced_pod(NAMESPACE, pod)

    def ready_ip() -> str | None:
        status = core.read_namespaced_pod("webterm-worker-1", NAMESPACE).status
        ready = any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])
        return status.pod_ip if ready else None

    pod_ip = wait_for(ready_ip, what="the worker to be Ready")
    assert pod_ip.startswith("127.")
    assert pod_ip != "127.0.0.1"
    url = f"http://{pod_ip}:{BACKEND.port}"

    shell = shell_from_dict(cloudshell("alice", NAMESPACE, once=True))
    request = SessionRequest(
        shell=shell,
        worker=WorkerRef("webterm-worker-1", NAMESPACE, BACKEND.port, "svc", {}),
        secret_name="webterm-worker-1-session",
        kubeconfig=sandbox.kubeconfig_path.read_text(),
        command=("bash", "--norc", "--noprofile"),
        auth={"mode": "none"},
        base_path="/default/alice/",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        settings=settings,
    )

    async def use() -> bytes:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/default/alice/") as r:
                assert r.status == 503  # no session yet
            core.create_namespaced_secret(NAMESPACE, BACKEND.session(request))
            for _ in range(200):
                async with http.get(url + "/default/alice/") as r:
                    if r.status == 200:
                        break
                await asyncio.sleep(0.05)
            async with terminal(http, url + "/default/alice/") as term:
                await term.send("kubectl get namespace default -o name; echo END-$((6*7))\r")
                return await term.read_until("END-42", timeout=30)

    output = asyncio.run(use())
    assert b"namespace/default" in output  # the shell's kubeconfig reaches the sandbox API

    def finished() -> Any:
        state = core.read_namespaced_pod("webterm-worker-1", NAMESPACE).status
        statuses = state.container_statuses or []
        terminated = statuses[0].state.terminated if statuses else None
        return (state.phase, terminated) if terminated else None

    phase, terminated = wait_for(finished, what="the worker to end")
    assert phase == "Succeeded"
    assert terminated.exit_code == 0
    assert terminated.message.strip() == "once"
