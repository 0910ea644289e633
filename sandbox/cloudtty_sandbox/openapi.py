"""The OpenAPI v3 documents kubectl reads: which PATCH types and query parameters each
resource accepts (so ``kubectl apply``/``create`` use server-side field validation), and the
schemas of custom resources (so ``kubectl explain`` works for them). /openapi/v2 is not served."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from .resources import Registry, ResourceType

_PATCH_TYPES_BUILTIN = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)
_QUERY_PARAMS = [
    {"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
    for name in ("dryRun", "fieldManager", "fieldValidation")
]


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _schema_name(rtype: ResourceType) -> str:
    group = ".".join(reversed(rtype.group.split("."))) if rtype.group else "io.k8s.api.core"
    return f"{group}.{rtype.version}.{rtype.kind}"


def _gvk(rtype: ResourceType) -> dict[str, str]:
    return {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}


def _operation(rtype: ResourceType, verb: str, content: tuple[str, ...] = ()) -> dict[str, Any]:
    schema_ref = {"$ref": f"#/components/schemas/{_schema_name(rtype)}"}
    op: dict[str, Any] = {
        "operationId": f"{verb}{rtype.kind}",
        "parameters": list(_QUERY_PARAMS),
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": schema_ref}}}
        },
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": _gvk(rtype),
    }
    if content:
        op["requestBody"] = {
            "content": {c: {"schema": {"type": "object"}} for c in content},
            "required": True,
        }
    return op


def group_version_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = registry.resources(group, version)
    if not types:
        return None
    prefix = "/" + _gv_path(group, version)
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for rtype in types:
        base = (
            f"{prefix}/namespaces/{{namespace}}/{rtype.plural}"
            if rtype.namespaced
            else (f"{prefix}/{rtype.plural}")
        )
        patch_types = _PATCH_TYPES_BUILTIN
        paths[base] = {
            "post": _operation(rtype, "post", ("*/*",)),
            "get": _operation(rtype, "list"),
        }
        paths[f"{base}/{{name}}"] = {
            "get": _operation(rtype, "get"),
            "put": _operation(rtype, "put", ("*/*",)),
            "patch": _operation(rtype, "patch", patch_types),
            "delete": _operation(rtype, "delete"),
        }
        schema: dict[str, Any]
        if rtype.openapi_schema is not None:
            schema = orjson.loads(orjson.dumps(rtype.openapi_schema))
            props = schema.setdefault("properties", {})
            props.setdefault(
                "apiVersion",
                {
                    "type": "string",
                    "description": "APIVersion: the versioned schema of this representation.",
                },
            )
            props.setdefault(
                "kind",
                {
                    "type": "string",
                    "description": "Kind is a string value representing the REST resource.",
                },
            )
            props["metadata"] = {"type": "object", "description": "Standard object's metadata."}
        else:
            schema = {
                "type": "object",
                "description": f"{rtype.kind} (schema not served by the sandbox)",
                "x-kubernetes-preserve-unknown-fields": True,
            }
        schema["x-kubernetes-group-version-kind"] = [_gvk(rtype)]
        schemas[_schema_name(rtype)] = schema
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


class OpenApiCache:
    """Caches documents until the served resources change (CRDs come and go)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._generation = -1
        self._docs: dict[str, bytes] = {}
        self._index: bytes = b""

    def _refresh(self) -> None:
        if self._generation == self.registry.generation:
            return
        docs: dict[str, bytes] = {}
        for group in self.registry.groups():
            for version in self.registry.versions(group):
                doc = group_version_document(self.registry, group, version)
                if doc is not None:
                    docs[_gv_path(group, version)] = orjson.dumps(doc)
        index = {
            "paths": {
                path: {
                    "serverRelativeURL": f"/openapi/v3/{path}?hash="
                    f"{hashlib.sha512(body).hexdigest()[:64].upper()}"
                }
                for path, body in docs.items()
            }
        }
        self._docs = docs
        self._index = orjson.dumps(index)
        self._generation = self.registry.generation

    def index(self) -> bytes:
        self._refresh()
        return self._index

    def document(self, path: str) -> bytes | None:
        self._refresh()
        return self._docs.get(path.strip("/"))
