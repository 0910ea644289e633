"""The sandbox's own control endpoints under ``/sandbox/`` (never a Kubernetes path).

GET  /sandbox/info                 addresses, kubeconfig path, current resourceVersion
GET  /sandbox/counters             request counts per verb and resource; DELETE resets them
GET  /sandbox/faults               the fault configuration; PUT replaces it; DELETE clears it
POST /sandbox/compact              forced compaction (next resume from an older version: 410)
POST /sandbox/watches/close        cut every open watch stream now
POST /sandbox/pods/<ns>/<name>/exit  {"exitCode": 0, "message": "once", "container": null}
GET  /sandbox/processes            local processes the kubelet runs
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from .errors import ApiError, bad_request
from .faults import FaultConfig

if TYPE_CHECKING:
    from .sandbox import Sandbox


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, headers={"Content-Type": "application/json"}
    )


class AdminApi:
    """Routes ``/sandbox/...`` requests to the control methods of a ``Sandbox``."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    async def handle(self, request: web.Request) -> web.StreamResponse:
        sb = self.sandbox
        parts = [p for p in request.path.split("/") if p][1:]
        method = request.method
        key = "/".join(parts[:1])
        if key == "info" and method == "GET":
            return _json(sb.info())
        if key == "counters":
            if method == "DELETE":
                sb.reset_counters()
            return _json(sb.counters_snapshot())
        if key == "faults":
            if method in ("PUT", "POST"):
                try:
                    sb.set_faults(FaultConfig.from_dict(await _body(request)))
                except (ValueError, TypeError) as exc:
                    raise bad_request(f"invalid fault configuration: {exc}") from None
            elif method == "DELETE":
                sb.clear_faults()
            return _json({**sb.faults.config.to_dict(), "injected": sb.faults.injected})
        if key == "compact" and method == "POST":
            return _json({"compactedThrough": sb.compact()})
        if parts == ["watches", "close"] and method == "POST":
            sb.close_watches()
            return _json({"closed": True})
        if key == "processes" and method == "GET":
            return _json({"processes": sb.local_processes()})
        if len(parts) == 4 and parts[0] == "pods" and parts[3] == "exit" and method == "POST":
            body = await _body(request, optional=True)
            try:
                code = int(body.get("exitCode", 0))
            except (TypeError, ValueError):
                raise bad_request("exitCode must be an integer") from None
            ok = sb.exit_container(
                parts[1], parts[2], code, str(body.get("message", "")), body.get("container")
            )
            if not ok:
                raise ApiError(404, f"no running container in pod {parts[1]}/{parts[2]}")
            return _json({"exited": True})
        raise ApiError(404, f"unknown sandbox endpoint {request.method} {request.path}")


async def _body(request: web.Request, optional: bool = False) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        if optional:
            return {}
        raise bad_request("a JSON body is required")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"invalid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return body
