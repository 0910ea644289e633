"""A watch followed on the event loop over TLS (the sandbox speaks HTTPS in its RBAC mode):
decrypted records that wake no selector are read too."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from cloudtty_sandbox import SandboxConfig
from kubernetes import client

from cloudtty_core.runtime.client import KubeClient, Resource

CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps")


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(pod_start_delay=0.05, rbac=True)


def test_every_event_of_a_tls_watch_arrives_in_order(sandbox: Any) -> None:
    configuration = client.Configuration()
    configuration.host = sandbox.url
    configuration.ssl_ca_cert = str(sandbox.ca_path)
    configuration.api_key = {"BearerToken": sandbox.admin_token}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    kube = KubeClient(client.ApiClient(configuration))
    assert kube.server.startswith("https://")
    start = kube.list(CONFIGMAPS, "default")["metadata"]["resourceVersion"]
    stream = kube.watch(CONFIGMAPS, "default", start, timeout_seconds=30)
    # Objects of 40 KB: one event spans several TLS records, one read several events.
    names = [f"tls-{i}" for i in range(40)]
    seen: list[str] = []

    def write() -> None:
        for name in names:
            kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": "default"},
                    "data": {"blob": name * 8000},
                }
            )

    async def main() -> None:
        finished = asyncio.Event()

        def on_batch(batch: list[dict[str, Any]]) -> None:
            seen.extend(e["object"]["metadata"]["name"] for e in batch if e["type"] == "ADDED")
            assert all(e["object"]["data"]["blob"].startswith("tls-") for e in batch)
            if len(seen) >= len(names):
                finished.set()

        done = stream.follow(on_batch, idle_timeout=30)
        assert done is not None
        writer = threading.Thread(target=write)
        writer.start()
        try:
            await asyncio.wait_for(finished.wait(), 30)
        finally:
            stream.close()
            writer.join()
        await done

    asyncio.run(main())
    assert seen == names
