"""Warm-worker mode end to end: a real worker process against a small fake Kubernetes API."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl
from aiohttp import web
from cloudtty_webterm.auth import TOKEN_COOKIE, sha256_hex
from cloudtty_webterm.testing import run_cli, terminal

SA_TOKEN = "sa-token-NOT-A-SESSION-SECRET"
KUBECONFIG_MARKER = "KUBECONFIG-SECRET-MARKER-42"
ACCESS_TOKEN = "access-token-ABCDEF"


class FakeKubeAPI:
    """Serves GET and watch of Secrets from memory, on its own thread and event loop."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.authorizations: list[str] = []
        self.watches = 0
        self.closing = False
        self._changed: asyncio.Condition | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/{ns}/secrets/{name}", self._get)
        app.router.add_get("/api/v1/namespaces/{ns}/secrets", self._watch)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def __enter__(self) -> FakeKubeAPI:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._changed is not None
            async with self._changed:
                self.closing = True
                self._changed.notify_all()
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        # A loop left open is reported (ResourceWarning) whenever the collector gets to it.
        self._loop.close()

    async def _get(self, request: web.Request) -> web.Response:
        self.authorizations.append(request.headers.get("Authorization", ""))
        secret = self.secrets.get((request.match_info["ns"], request.match_info["name"]))
        if secret is None:
            status = {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404}
            return web.json_response(status, status=404)
        return web.json_response(secret)

    async def _watch(self, request: web.Request) -> web.StreamResponse:
        self.authorizations.append(request.headers.get("Authorization", ""))
        assert request.query.get("watch") == "1"
        selector = request.query["fieldSelector"]
        assert selector.startswith("metadata.name=")
        key = (request.match_info["ns"], selector.removeprefix("metadata.name="))
        self.watches += 1
        response = web.StreamResponse()
        await response.prepare(request)
        assert self._changed is not None
        async with self._changed:
            await self._changed.wait_for(lambda: key in self.secrets or self.closing)
        if self.closing:
            return response
        event = {"type": "ADDED", "object": self.secrets[key]}
        await response.write(json.dumps(event).encode() + b"\n")
        return response

    def publish(self, namespace: str, name: str, session: dict[str, Any]) -> None:
        """Create the session Secret (as the operator does when it binds the worker)."""
        encoded = base64.b64encode(json.dumps(session).encode()).decode()
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"session.json": encoded},
        }

        async def store() -> None:
            assert self._changed is not None
            async with self._changed:
                self.secrets[(namespace, name)] = secret
                self._changed.notify_all()

        asyncio.run_coroutine_threadsafe(store(), self._loop).result(10)


@pytest.fixture
def fake_api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI() as api:
        yield api


def pod_dir(tmp_path: Path) -> Path:
    pod = tmp_path / "pod"
    sa = pod / "var/run/secrets/kubernetes.io/serviceaccount"
    sa.mkdir(parents=True)
    (sa / "token").write_text(SA_TOKEN)
    (pod / "dev").mkdir()
    return pod


def worker_env(pod: Path, api: FakeKubeAPI) -> dict[str, str]:
    return {
        "CLOUDTTY_SANDBOX_ROOT": str(pod),
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(api.port),
        "CLOUDTTY_POD_NAME": "worker-abc",
        "CLOUDTTY_POD_NAMESPACE": "team-a",
        "HOME": "/home/cloudtty",
    }


def session(**overrides: Any) -> dict[str, Any]:
    return {
        "command": ["bash", "--norc", "--noprofile"],
        "kubeconfig": f"apiVersion: v1\nkind: Config\n# {KUBECONFIG_MARKER}\n",
        "basePath": "/team-a/shell-1/",
        "auth": {"mode": "token", "tokenSha256": sha256_hex(ACCESS_TOKEN)},
        "once": True,
        "readOnly": False,
        "idleTimeoutSeconds": None,
        "expiresAt": None,
        "clientOptions": {"fontSize": "15"},
        "shell": {"namespace": "team-a", "name": "shell-1"},
        **overrides,
    }


def wait_until(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.05)


def http_status(url: str, **kwargs: Any) -> int:
    async def go() -> int:
        async with aiohttp.ClientSession() as http, http.get(url, **kwargs) as r:
            return r.status

    return asyncio.run(go())


def no_secret_in_process(pid: int) -> None:
    for part in ("cmdline", "environ"):
        blob = Path(f"/proc/{pid}/{part}").read_bytes()
        for secret in (KUBECONFIG_MARKER, ACCESS_TOKEN, SA_TOKEN):
            assert secret.encode() not in blob, (part, secret)


def test_worker_waits_for_its_session_then_serves_it(tmp_path: Path, fake_api: FakeKubeAPI) -> None:
    pod = pod_dir(tmp_path)
    args = ["worker", "-p", "0", "--reconnect-grace", "0.3"]
    with run_cli(args, env=worker_env(pod, fake_api)) as worker:
        assert http_status(worker.url + "/healthz") == 200
        assert http_status(worker.url + "/") == 503  # listening, no session yet
        wait_until(lambda: fake_api.watches >= 1)
        fake_api.publish("team-a", "worker-abc-session", session())
        base = worker.url + "/team-a/shell-1/"
        wait_until(lambda: http_status(base) != 503)
        assert http_status(base) == 401

        async def use_shell() -> tuple[bytes, int]:
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar) as http:
                async with http.get(base, params={"token": ACCESS_TOKEN}) as r:
                    assert r.status == 200  # after the redirect, with the cookie
                    assert '"fontSize": 15' in await r.text()
                assert jar.filter_cookies(yarl.URL(base)).get(TOKEN_COOKIE) is not None
                async with terminal(http, base) as term:
                    await term.send("stat -c 'mode=%a' \"$KUBECONFIG\"; echo pid=$$\r")
                    await term.send('echo "kc=$KUBECONFIG home=$HOME"; cat "$KUBECONFIG"\r')
                    out = await term.read_until(KUBECONFIG_MARKER + "\r\n")
                    match = await term.read_match(rb"\npid=(\d+)")
                    return out, int(match.group(1))

        out, shell_pid = asyncio.run(use_shell())
        assert b"mode=600" in out
        home = pod / "home/cloudtty"
        [session_home] = list(home.iterdir())
        assert oct(session_home.stat().st_mode & 0o777) == "0o700"
        kubeconfig = session_home / ".kube/config"
        assert f"kc={kubeconfig} home={session_home}".encode() in out
        assert KUBECONFIG_MARKER in kubeconfig.read_text()
        no_secret_in_process(worker.process.pid)
        if Path(f"/proc/{shell_pid}").exists():
            no_secret_in_process(shell_pid)
        # once: the single client left, so the worker ends and says why.
        assert worker.wait(15) == 0
    assert (pod / "dev/termination-log").read_text() == "once\n"
    assert set(fake_api.authorizations) == {f"Bearer {SA_TOKEN}"}
    log = "".join(worker.log)
    for secret in (KUBECONFIG_MARKER, ACCESS_TOKEN, SA_TOKEN):
        assert secret not in log


def test_worker_with_session_already_there_ends_on_idle(
    tmp_path: Path, fake_api: FakeKubeAPI
) -> None:
    pod = pod_dir(tmp_path)
    env = {**worker_env(pod, fake_api), "CLOUDTTY_TERMINATION_LOG": "/reason"}
    fake_api.publish(
        "team-a",
        "worker-abc-session",
        session(once=False, idleTimeoutSeconds=0.5, auth={"mode": "none"}, basePath="/"),
    )
    with run_cli(["worker", "-p", "0"], env=env) as worker:
        assert worker.wait(15) == 0
    assert (pod / "reason").read_text() == "idle\n"
    assert fake_api.watches == 0  # found by the first get


def test_worker_command_exit_is_reported(tmp_path: Path, fake_api: FakeKubeAPI) -> None:
    pod = pod_dir(tmp_path)
    fake_api.publish(
        "team-a",
        "worker-abc-session",
        session(once=False, auth={"mode": "none"}, basePath="/", command=["bash", "-c", "true"]),
    )
    with run_cli(["worker", "-p", "0"], env=worker_env(pod, fake_api)) as worker:
        wait_until(lambda: http_status(worker.url + "/") == 200)

        async def connect() -> None:
            async with aiohttp.ClientSession() as http, terminal(http, worker.url + "/") as term:
                assert (await term.control("exit"))["reason"] == "exit"

        asyncio.run(connect())
        assert worker.wait(15) == 0
    assert (pod / "dev/termination-log").read_text() == "exit\n"


def test_worker_needs_its_pod_identity(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDTTY_POD")}
    # The worker exits before it listens.
    with (
        pytest.raises(AssertionError, match="CLOUDTTY_POD_NAME"),
        run_cli(["worker", "-p", "0"], env=env, cwd=tmp_path),
    ):
        pass
