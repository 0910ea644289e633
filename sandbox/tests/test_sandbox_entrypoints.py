"""Entry points: the async context manager, the threaded starter, the CLI and the pytest plugin."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys

import aiohttp
import yaml
from cloudtty_sandbox import Sandbox
from kubernetes import client, config


def test_async_context_manager(tmp_path):
    async def main() -> tuple[str, str, dict]:
        async with Sandbox(work_dir=tmp_path, pod_start_delay=0) as sb:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{sb.url}/api/v1/namespaces") as resp,
            ):
                body = await resp.json()
            return sb.url, str(sb.kubeconfig_path), body

    url, _, body = asyncio.run(main())
    assert url.startswith("http://127.0.0.1:")
    assert {i["metadata"]["name"] for i in body["items"]} >= {"default"}


def test_kubeconfig_works_with_the_official_loader(sandbox_kubeconfig, sandbox):
    mode = stat.S_IMODE(os.stat(sandbox_kubeconfig).st_mode)
    assert mode == 0o600
    loaded = yaml.safe_load(sandbox_kubeconfig.read_text())
    assert loaded["clusters"][0]["cluster"]["server"] == sandbox.url
    api = config.new_client_from_config(config_file=str(sandbox_kubeconfig))
    assert client.CoreV1Api(api).read_namespace("default").metadata.name == "default"


def test_cli_serve_prints_url_and_kubeconfig_and_stops_on_ctrl_c(tmp_path):
    kubeconfig = tmp_path / "kc.yaml"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloudtty_sandbox.cli",
            "serve",
            "--kubeconfig",
            str(kubeconfig),
            "--work-dir",
            str(tmp_path / "work"),
            "--pod-start-delay",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        assert lines[0].startswith("sandbox API:  http://127.0.0.1:")
        assert lines[1].strip() == f"kubeconfig:   {kubeconfig}"
        url = lines[0].split()[-1]
        api = config.new_client_from_config(config_file=str(kubeconfig))
        assert client.CoreV1Api(api).list_namespace().items
        assert url in kubeconfig.read_text()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
        assert "sandbox stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_threaded_sandbox_call_runs_on_the_loop(sandbox):
    rv = sandbox.call(lambda: sandbox.sandbox.store.rv)
    assert rv > 1
    assert sandbox.get_object("namespaces", "", "default")["status"]["phase"] == "Active"
    assert sandbox.orphans() == []


def test_two_sandboxes_are_independent(sandbox, tmp_path):
    from cloudtty_sandbox import run_sandbox_in_thread

    with run_sandbox_in_thread(work_dir=tmp_path / "second") as other:
        assert other.url != sandbox.url
        client.CoreV1Api(other.api_client()).create_namespaced_config_map(
            "default", {"metadata": {"name": "only-here"}}
        )
        assert other.get_object("configmaps", "default", "only-here")
        assert sandbox.get_object("configmaps", "default", "only-here") is None
