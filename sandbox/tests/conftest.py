"""Shared helpers for the sandbox's own tests (fixtures come from the cloudtty_sandbox plugin)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.cloudtty.io"},
    "spec": {
        "group": "example.cloudtty.io",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "shortNames": ["wg"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 0},
                                    "color": {
                                        "type": "string",
                                        "enum": ["red", "blue"],
                                        "default": "red",
                                    },
                                    "extra": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {"phase": {"type": "string"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


def wait_for(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy (no timing is asserted)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        time.sleep(interval)


@pytest.fixture
def crd() -> dict[str, Any]:
    import copy

    return copy.deepcopy(CRD)


@pytest.fixture
def wait() -> Callable[..., Any]:
    return wait_for


def http(
    url: str,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
    cafile: Any = None,
) -> tuple[int, Any, dict[str, str]]:
    """A raw HTTP request to the sandbox: (status, decoded JSON or text, headers)."""
    import json
    import urllib.error
    import urllib.request

    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        import ssl

        context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
        with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:
            status, raw, rh = resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        status, raw, rh = exc.code, exc.read(), dict(exc.headers)
    try:
        return status, json.loads(raw), rh
    except ValueError:
        return status, raw.decode(errors="replace"), rh


@pytest.fixture
def raw_http() -> Callable[..., tuple[int, Any, dict[str, str]]]:
    return http


@pytest.fixture
def serve_things(sandbox_api_client: Any) -> Callable[..., Any]:
    """Serve the custom kind ``Thing`` (``things.example.cloudtty.io/v1``, namespaced) with the
    given root schema; returns the official client's ``CustomObjectsApi``."""
    from kubernetes import client

    def serve(schema: dict[str, Any], *, status: bool = False) -> Any:
        """``status``: with a status subresource."""
        crd = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "things.example.cloudtty.io"},
            "spec": {
                "group": "example.cloudtty.io",
                "scope": "Namespaced",
                "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {"openAPIV3Schema": schema},
                        **({"subresources": {"status": {}}} if status else {}),
                    }
                ],
            },
        }
        client.ApiextensionsV1Api(sandbox_api_client).create_custom_resource_definition(crd)
        return client.CustomObjectsApi(sandbox_api_client)

    return serve
