"""Forwarding: WebSockets through NodePort and ingress, path routing across Services, Istio
VirtualServices on the gateway listener, and answers when nothing can serve a request."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import urllib.error
import urllib.request

import aiohttp
import pytest
from cloudtty_sandbox import SandboxConfig
from kubernetes import client

LOCAL = "example.com/local"

ECHO_SERVER = textwrap.dedent("""
    import os, sys
    from aiohttp import web

    name = sys.argv[1]

    async def hello(request):
        return web.Response(text=f"{name} {request.path} {request.headers.get('X-Forwarded-Host')}")

    async def ws(request):
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            await sock.send_str(f"{name}:{msg.data}")
        return sock

    app = web.Application()
    app.router.add_get("/{prefix}/ws", ws)
    app.router.add_get("/{tail:.*}", hello)
    web.run_app(app, host=os.environ["POD_IP"], port=8080, print=None)
""")


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        pod_start_delay=0.05, bookmark_interval=0.5, gateway_port=0, local_images={LOCAL: []}
    )


def _serve(core, name: str) -> int:
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": LOCAL,
                        "command": [sys.executable, "-c", ECHO_SERVER, name],
                        "env": [
                            {
                                "name": "POD_IP",
                                "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                            }
                        ],
                        "ports": [{"containerPort": 8080, "name": "http"}],
                        "readinessProbe": {"tcpSocket": {"port": 8080}},
                    }
                ]
            },
        },
    )
    svc = core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": name},
            "spec": {
                "type": "NodePort",
                "selector": {"app": name},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
    )
    return svc.spec.ports[0].node_port


def _ready(core, name: str) -> bool:
    ep = core.read_namespaced_endpoints(name, "default")
    return bool(ep.subsets and ep.subsets[0].addresses)


def _get(url: str, host: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def _ws_roundtrip(url: str, host: str | None = None) -> str:
    headers = {"Host": host} if host else {}
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as ws:
        await ws.send_str("ping")
        reply = await ws.receive_str()
        await ws.send_str("again")
        return reply + "|" + await ws.receive_str()


def test_websockets_and_path_routing(sandbox, sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    net = client.NetworkingV1Api(sandbox_api_client)
    port_a = _serve(core, "alpha")
    _serve(core, "beta")
    paths = [
        {"path": p, "pathType": t, "backend": {"service": {"name": s, "port": {"name": "http"}}}}
        for p, t, s in (
            ("/", "Prefix", "alpha"),
            ("/beta", "Prefix", "beta"),
            ("/beta/exact", "Exact", "alpha"),
        )
    ]
    net.create_namespaced_ingress(
        "default",
        {
            "metadata": {"name": "shells"},
            "spec": {"rules": [{"host": "shell.localhost", "http": {"paths": paths}}]},
        },
    )
    wait(lambda: _ready(core, "alpha") and _ready(core, "beta"))
    ingress = f"http://127.0.0.1:{sandbox.ingress_port}"
    assert _get(f"{ingress}/beta/x", "shell.localhost") == (200, "beta /beta/x shell.localhost")
    assert _get(f"{ingress}/beta/exact", "shell.localhost")[1].startswith("alpha")
    assert _get(f"{ingress}/betamax", "shell.localhost")[1].startswith("alpha")
    assert _get(f"{ingress}/", "other.localhost")[0] == 404
    reply = asyncio.run(
        _ws_roundtrip(f"ws://127.0.0.1:{sandbox.ingress_port}/beta/ws", "shell.localhost")
    )
    assert reply == "beta:ping|beta:again"
    reply = asyncio.run(_ws_roundtrip(f"ws://127.0.0.1:{port_a}/alpha/ws"))
    assert reply == "alpha:ping|alpha:again"


def test_ingress_answers_503_without_ready_endpoints(sandbox, sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    net = client.NetworkingV1Api(sandbox_api_client)
    core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "empty"},
            "spec": {"selector": {"app": "none"}, "ports": [{"port": 80}]},
        },
    )
    net.create_namespaced_ingress(
        "default",
        {
            "metadata": {"name": "e"},
            "spec": {"defaultBackend": {"service": {"name": "empty", "port": {"number": 80}}}},
        },
    )
    status, _ = _get(f"http://127.0.0.1:{sandbox.ingress_port}/", "any.localhost")
    assert status == 503


VS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "virtualservices.networking.istio.io"},
    "spec": {
        "group": "networking.istio.io",
        "scope": "Namespaced",
        "names": {
            "plural": "virtualservices",
            "singular": "virtualservice",
            "kind": "VirtualService",
            "shortNames": ["vs"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def test_virtual_service_routes_through_the_gateway(sandbox, sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    client.ApiextensionsV1Api(sandbox_api_client).create_custom_resource_definition(VS_CRD)
    _serve(core, "gamma")
    client.CustomObjectsApi(sandbox_api_client).create_namespaced_custom_object(
        "networking.istio.io",
        "v1",
        "default",
        "virtualservices",
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "shell"},
            "spec": {
                "hosts": ["mesh.localhost"],
                "gateways": ["istio-system/gw"],
                "http": [
                    {
                        "match": [{"uri": {"prefix": "/term"}}],
                        "route": [
                            {
                                "destination": {
                                    "host": "gamma.default.svc.cluster.local",
                                    "port": {"number": 80},
                                }
                            }
                        ],
                    }
                ],
            },
        },
    )
    wait(lambda: _ready(core, "gamma"))
    gateway = f"http://127.0.0.1:{sandbox.gateway_port}"
    status, body = _get(f"{gateway}/term/1", "mesh.localhost")
    assert (status, body.split()[0]) == (200, "gamma")
    assert _get(f"{gateway}/elsewhere", "mesh.localhost")[0] == 404
