"""The HTTP surface of the API: routing of Kubernetes paths to cluster verbs, content
negotiation (JSON, YAML bodies, Table and metadata-only output) and watch streaming."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import yaml
from aiohttp import web

from . import discovery, errors, tables
from .apps import SCALABLE, scale_view
from .auth import Authenticator, UserInfo
from .cluster import Cluster, DeleteOptions, clone
from .counters import RequestCounters
from .errors import ApiError
from .escalation import REQUESTER
from .faults import FaultInjector
from .meta import rfc3339
from .openapi import OpenApiCache
from .patches import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    json_merge_patch,
    json_patch,
)
from .podexec import command_of, serve_exec
from .protowire import PROTOBUF
from .protowire import decode as decode_protobuf
from .rbac import Authorizer
from .rbac import Request as AccessRequest
from .resources import ResourceType
from .selectors import parse_field_selector, parse_label_selector
from .tokens import TokenIssuer
from .watchcache import ERROR, encode_event

if TYPE_CHECKING:
    from .watchcache import Watcher

log = logging.getLogger(__name__)

JSON = "application/json"
USER = web.RequestKey("user", UserInfo)  # who sent the request (RBAC mode)
_JSON_HEADERS = {"Content-Type": JSON}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return web.Response(
        body=raw, status=status, headers={**_JSON_HEADERS, **headers} if headers else _JSON_HEADERS
    )


def _warned(response: web.Response, warnings: list[str] | None) -> web.Response:
    """``response`` with one ``Warning`` header per warning, as the API server writes them
    (code 299, no agent, the text quoted)."""
    for text in warnings or ():
        quoted = text.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{quoted}"')
    return response


def error_response(exc: ApiError) -> web.Response:
    return json_response(exc.status(), exc.code, exc.headers)


class Route:
    """A parsed resource path."""

    __slots__ = ("name", "namespace", "rtype", "subresource", "watch_path")

    def __init__(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str | None,
        subresource: str | None,
        watch_path: bool,
    ) -> None:
        self.rtype = rtype
        self.namespace = namespace
        self.name = name
        self.subresource = subresource
        self.watch_path = watch_path


class ApiServer:
    """aiohttp application serving the Kubernetes API over a ``Cluster``."""

    def __init__(
        self,
        cluster: Cluster,
        counters: RequestCounters,
        faults: FaultInjector,
        tokens: TokenIssuer,
        *,
        bookmark_interval: float = 1.0,
        server_address: Callable[[], str] = lambda: "127.0.0.1:0",
        pod_logs: Callable[[str, str, str | None, int | None], str] | None = None,
        log_follower: Callable[[str, str, str | None], tuple[Path | None, Callable[[], bool]]]
        | None = None,
        exec_target: Callable[[str, str, str | None, list[str]], Any] | None = None,
        exec_sessions: set[Any] | None = None,
        admin: Handler | None = None,
        authenticator: Authenticator | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        self.cluster = cluster
        self.registry = cluster.registry
        self.counters = counters
        self.faults = faults
        self.tokens = tokens
        self.bookmark_interval = bookmark_interval
        self.server_address = server_address
        self.pod_logs = pod_logs
        self.log_follower = log_follower
        self.exec_target = exec_target
        self.exec_sessions: set[Any] = exec_sessions if exec_sessions is not None else set()
        self.admin = admin
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.openapi = OpenApiCache(cluster.registry)
        self.stopping = asyncio.Event()
        self.open_watches = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    # ------------------------------------------------------------------ entry
    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        try:
            if self.authenticator is not None:
                user = self.authenticator.authenticate(request.headers.get("Authorization"))
                if user is None:
                    raise ApiError(401, "Unauthorized")
                request[USER] = user
                REQUESTER.set(user)  # this request's task only: escalation checks read it
                if path.startswith("/sandbox/") and not user.is_admin:
                    raise errors.forbidden(f'User "{user.name}" cannot use the sandbox admin API')
            if path.startswith("/sandbox/") and self.admin is not None:
                return await self.admin(request)
            parts = [p for p in path.split("/") if p]
            if not parts:
                return json_response(
                    {
                        "paths": [
                            "/api",
                            "/api/v1",
                            "/apis",
                            "/healthz",
                            "/livez",
                            "/openapi/v3",
                            "/readyz",
                            "/version",
                        ]
                    }
                )
            head = parts[0]
            if head in ("api", "apis"):
                return await self._api(request, parts)
            if head in ("healthz", "readyz", "livez"):
                return web.Response(text="ok")
            if head == "version":
                return json_response(discovery.version_info())
            if head == "openapi":
                return self._openapi(parts)
            raise ApiError(404, "the server could not find the requested resource")
        except ApiError as exc:
            return error_response(exc)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:  # an unexpected bug must surface as a 500 Status, not a hang
            log.exception("internal error serving %s %s", request.method, path)
            return error_response(ApiError(500, f"internal error: {exc}"))

    def _openapi(self, parts: list[str]) -> web.Response:
        if len(parts) >= 2 and parts[1] == "v3":
            if len(parts) == 2:
                return json_response(self.openapi.index())
            doc = self.openapi.document("/".join(parts[2:]))
            if doc is not None:
                return json_response(doc)
        raise ApiError(404, "the server could not find the requested resource")

    # ------------------------------------------------------------------ routing
    async def _api(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        if parts[0] == "api":
            if len(parts) == 1:
                return json_response(discovery.api_versions(self.server_address()))
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) == 1:
                return json_response(discovery.api_group_list(self.registry))
            group = parts[1]
            if len(parts) == 2:
                doc = discovery.api_group(self.registry, group)
                if doc is None:
                    raise ApiError(404, "the server could not find the requested resource")
                return json_response(doc)
            version, rest = parts[2], parts[3:]
        if not rest:
            listing = discovery.api_resource_list(self.registry, group, version)
            if listing is None:
                raise ApiError(404, "the server could not find the requested resource")
            return json_response(listing)
        watch_path = False
        if rest[0] == "watch":
            watch_path, rest = True, rest[1:]
        namespace = None
        if (
            len(rest) >= 3
            and rest[0] == "namespaces"
            and (len(rest) > 3 or self.registry.lookup(group, version, rest[2]) is not None)
        ):
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise ApiError(404, "the server could not find the requested resource")
        rtype = self.registry.lookup(group, version, rest[0])
        if rtype is None:
            raise ApiError(404, "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in rtype.subresources:
            raise ApiError(404, "the server could not find the requested resource")
        if rtype.namespaced and namespace is None and name is not None:
            raise ApiError(404, "the server could not find the requested resource")
        return await self._resource(request, Route(rtype, namespace, name, sub, watch_path))

    # ------------------------------------------------------------------ verbs
    async def _resource(self, request: web.Request, route: Route) -> web.StreamResponse:
        method = request.method
        q = request.query
        rtype = route.rtype
        if route.name is None:
            if method == "GET":
                watch = route.watch_path or q.get("watch") in ("true", "1")
                verb = "watch" if watch else "list"
            else:
                verb = {"POST": "create", "DELETE": "deletecollection"}.get(method, "")
        elif route.watch_path:
            verb = "watch"
        else:
            verb = {
                "GET": "get",
                "PUT": "update",
                "PATCH": "patch",
                "DELETE": "delete",
                "POST": "create" if route.subresource else "",
            }.get(method, "")
        if not verb or (route.subresource is None and verb not in rtype.verbs):
            raise errors.method_not_allowed(method, rtype.kind)
        resource = rtype.storage + (f"/{route.subresource}" if route.subresource else "")
        if self.authorizer is not None:
            self._authorize(request, route, verb)
        self.counters.add(verb, resource)
        if self.faults.active:
            await self.faults.before(verb, resource)
        if verb == "watch":
            return await self._verb(request, route, verb)
        started = time.perf_counter()
        try:
            return await self._verb(request, route, verb)
        finally:
            self.counters.timing(time.perf_counter() - started)

    async def _verb(self, request: web.Request, route: Route, verb: str) -> web.StreamResponse:
        q = request.query
        rtype = route.rtype
        method = request.method
        if verb in ("list", "watch"):
            labels = parse_label_selector(q.get("labelSelector"))
            fields = parse_field_selector(q.get("fieldSelector"), rtype.field_labels, rtype.kind)
            if route.watch_path and route.name:
                fields = parse_field_selector(
                    f"metadata.name={route.name}", rtype.field_labels, rtype.kind
                )
            if verb == "watch":
                return await self._watch(request, route, labels, fields)
            listing = self.cluster.list(
                rtype, route.namespace, labels, fields, _int(q.get("limit")), q.get("continue")
            )
            return self._render_list(request, rtype, listing)
        if route.subresource is not None and route.subresource not in ("status",):
            return await self._subresource(request, route, verb)
        dry_run = bool(q.get("dryRun"))
        # The API server's default is Warn: dropped fields come back as Warning headers.
        validation = q.get("fieldValidation") or "Warn"
        strict = validation == "Strict"
        warnings: list[str] | None = [] if validation == "Warn" else None
        if verb == "get":
            return self._render_one(
                request,
                rtype,
                self.cluster.present(
                    rtype, self.cluster.get(rtype, route.namespace, route.name or "")
                ),
            )
        if verb == "create":
            if route.subresource:
                raise errors.method_not_allowed(method, rtype.kind)
            if rtype.storage.endswith("accessreviews.authorization.k8s.io"):
                body = await _body(request)
                return json_response(self._access_review(request, rtype, body), 201)
            body = await _body(request)
            created = self.cluster.create(
                rtype, route.namespace, body, dry_run=dry_run, strict=strict, warnings=warnings
            )
            return _warned(self._render_one(request, rtype, created, 201), warnings)
        if verb == "update":
            body = await _body(request)
            updated = self.cluster.update(
                rtype,
                route.namespace,
                route.name or "",
                body,
                subresource=route.subresource,
                dry_run=dry_run,
                strict=strict,
                warnings=warnings,
            )
            return _warned(self._render_one(request, rtype, updated), warnings)
        if verb == "patch":
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            body = await _body(request, yaml_ok=content_type == APPLY_PATCH)
            existed = self.cluster.find(rtype.storage, route.namespace or "", route.name or "")
            patched = self.cluster.patch(
                rtype,
                route.namespace,
                route.name or "",
                content_type,
                body,
                subresource=route.subresource,
                dry_run=dry_run,
                strict=strict,
                warnings=warnings,
                field_manager=q.get("fieldManager"),
            )
            response = self._render_one(request, rtype, patched, 201 if existed is None else 200)
            return _warned(response, warnings)
        if verb == "delete":
            body = await _body(request, optional=True)
            options = DeleteOptions.parse(body, dict(q))
            result = self.cluster.delete(rtype, route.namespace, route.name or "", options)
            gone = self.cluster.find(rtype.storage, route.namespace or "", route.name or "") is None
            return self._render_one(request, rtype, result, 200 if gone else 202)
        if verb == "deletecollection":
            body = await _body(request, optional=True)
            labels = parse_label_selector(q.get("labelSelector"))
            fields = parse_field_selector(q.get("fieldSelector"), rtype.field_labels, rtype.kind)
            listing = self.cluster.delete_collection(
                rtype, route.namespace, labels, fields, DeleteOptions.parse(body, dict(q))
            )
            return json_response(listing)
        raise errors.method_not_allowed(method, rtype.kind)

    async def _subresource(
        self, request: web.Request, route: Route, verb: str
    ) -> web.StreamResponse:
        rtype, sub = route.rtype, route.subresource
        ns, name = route.namespace, route.name or ""
        if sub == "token" and verb == "create":
            sa = self.cluster.get(rtype, ns, name)
            return json_response(
                self.tokens.token_request(sa, await _body(request, optional=True)), 201
            )
        if sub == "scale" and rtype.storage in SCALABLE:
            return await self._scale(request, route, verb)
        if sub == "exec" and verb in ("get", "create") and self.exec_target is not None:
            command = command_of(request)
            target = self.exec_target(ns or "", name, request.query.get("container"), command)
            return await serve_exec(request, target, self.exec_sessions)
        if sub == "log" and verb == "get":
            self.cluster.get(rtype, ns, name)
            tail = _int(request.query.get("tailLines"))
            text = (
                self.pod_logs(ns or "", name, request.query.get("container"), tail)
                if (self.pod_logs)
                else ""
            )
            if request.query.get("follow") in ("true", "1") and self.log_follower is not None:
                return await self._follow_log(request, ns or "", name, text)
            return web.Response(text=text, content_type="text/plain")
        if sub == "binding" and verb == "create":
            body = await _body(request)
            target = (body.get("target") or {}).get("name") if isinstance(body, dict) else None
            if not target:
                raise errors.bad_request("a binding needs target.name")
            pod = self.cluster.get(rtype, ns, name)
            if (pod.get("spec") or {}).get("nodeName"):
                raise errors.conflict(
                    "pods",
                    "",
                    name,
                    f'pod {name} is already assigned to node "{pod["spec"]["nodeName"]}"',
                )

            def bind(p: dict[str, Any]) -> None:
                p["spec"]["nodeName"] = target
                conditions = p.setdefault("status", {}).setdefault("conditions", [])
                conditions[:] = [c for c in conditions if c.get("type") != "PodScheduled"]
                conditions.append(
                    {
                        "type": "PodScheduled",
                        "status": "True",
                        "lastProbeTime": None,
                        "lastTransitionTime": rfc3339(),
                    }
                )

            self.cluster.mutate("pods", ns or "", name, bind, with_status=True)
            return json_response(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "code": 201,
                },
                201,
            )
        if sub == "eviction" and verb == "create":
            self.cluster.delete(rtype, ns, name, DeleteOptions())
            return json_response(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "code": 201,
                },
                201,
            )
        if sub == "finalize" and verb == "update":
            body = await _body(request)
            finalizers = (
                ((body.get("spec") or {}).get("finalizers") or []) if isinstance(body, dict) else []
            )

            def set_finalizers(obj: dict[str, Any]) -> None:
                obj["spec"] = {**(obj.get("spec") or {}), "finalizers": finalizers}

            updated = self.cluster.mutate(rtype.storage, "", name, set_finalizers)
            if updated is None:
                raise errors.not_found(rtype.plural, rtype.group, name)
            return json_response(updated)
        raise errors.method_not_allowed(request.method, f"{rtype.kind}/{sub}")

    async def _scale(self, request: web.Request, route: Route, verb: str) -> web.Response:
        """The ``scale`` subresource: an autoscaling/v1 Scale view of ``spec.replicas``."""
        rtype, ns, name = route.rtype, route.namespace, route.name or ""
        current = self.cluster.get(rtype, ns, name)
        view = scale_view(rtype, current)
        if verb == "get":
            return json_response(view)
        if verb == "update":
            wanted = await _body(request)
        elif verb == "patch":
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            patch = await _body(request)
            if content_type == JSON_PATCH:
                wanted = json_patch(view, patch)
            elif content_type in (MERGE_PATCH, STRATEGIC_MERGE_PATCH):
                wanted = json_merge_patch(view, patch)
            else:
                raise ApiError(
                    415,
                    f"the scale subresource does not accept {content_type or 'this'} patches",
                    reason="UnsupportedMediaType",
                )
        else:
            raise errors.method_not_allowed(request.method, f"{rtype.kind}/scale")
        if not isinstance(wanted, dict):
            raise errors.bad_request("the body must be a Scale object")
        replicas = (wanted.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid(
                "Scale",
                "autoscaling",
                name,
                [
                    errors.Cause(
                        "spec.replicas",
                        f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                    )
                ],
            )
        expected = (wanted.get("metadata") or {}).get("resourceVersion")
        if verb == "update" and expected and expected != current["metadata"]["resourceVersion"]:
            raise errors.conflict(
                rtype.plural,
                rtype.group,
                name,
                "the object has been modified; please apply your changes to the latest version "
                "and try again",
            )
        body = clone(current)
        body.setdefault("spec", {})["replicas"] = replicas
        updated = self.cluster.update(rtype, ns, name, body)
        return json_response(scale_view(rtype, updated))

    def _authorize(self, request: web.Request, route: Route, verb: str) -> None:
        assert self.authorizer is not None
        rtype = route.rtype
        name = route.name or ""
        if not name and verb in ("list", "watch"):
            fields = parse_field_selector(
                request.query.get("fieldSelector"), rtype.field_labels, rtype.kind
            )
            name = (fields.exact_name() if fields else None) or ""
        if route.subresource in ("exec", "attach", "portforward"):
            verb = "create"  # a WebSocket upgrade is a GET, but it creates a session
        self.authorizer.check(
            request[USER],
            AccessRequest(
                verb,
                rtype.group,
                rtype.plural,
                route.subresource or "",
                route.namespace or "",
                name,
            ),
        )

    def _access_review(
        self, request: web.Request, rtype: ResourceType, body: Any
    ) -> dict[str, Any]:
        """Answer a (Self)SubjectAccessReview with the RBAC decision (always allowed when the
        sandbox does not enforce RBAC)."""
        if not isinstance(body, dict):
            raise errors.bad_request("the body must be an object")
        spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
        wanted = spec.get("resourceAttributes") or {}
        allowed = True
        if self.authorizer is not None:
            user = request[USER]
            if rtype.plural == "subjectaccessreviews":
                user = UserInfo(str(spec.get("user", "")), tuple(spec.get("groups") or ()))
            allowed = self.authorizer.allowed(
                user,
                AccessRequest(
                    str(wanted.get("verb", "")),
                    str(wanted.get("group", "")),
                    str(wanted.get("resource", "")),
                    str(wanted.get("subresource", "")),
                    str(wanted.get("namespace", "")),
                    str(wanted.get("name", "")),
                ),
            )
        status: dict[str, Any] = {"allowed": allowed}
        if allowed:
            status["reason"] = "allowed by RBAC" if self.authorizer else "RBAC is off"
        return {
            "kind": rtype.kind,
            "apiVersion": rtype.api_version,
            "metadata": {"creationTimestamp": None},
            "spec": spec,
            "status": status,
        }

    async def _follow_log(
        self, request: web.Request, namespace: str, name: str, head: str
    ) -> web.StreamResponse:
        """``kubectl logs -f``: what is there (or its tail), then new output while it runs."""
        assert self.log_follower is not None
        path, running = self.log_follower(namespace, name, request.query.get("container"))
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(head.encode())
        offset = path.stat().st_size if path is not None and path.exists() else 0
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            while not self.stopping.is_set():
                chunk = b""
                if path is not None and path.exists():
                    with open(path, "rb") as handle:
                        handle.seek(offset)
                        chunk = handle.read(1 << 20)
                if chunk:
                    offset += len(chunk)
                    await response.write(chunk)
                    continue
                if not running() or request.transport is None or request.transport.is_closing():
                    break
                await asyncio.sleep(0.1)
            await response.write_eof()
        return response

    # ------------------------------------------------------------------ output
    def _render_one(
        self, request: web.Request, rtype: ResourceType, obj: dict[str, Any], status: int = 200
    ) -> web.Response:
        accept = request.headers.get("Accept", "")
        if "as=" in accept:
            version = tables.wants_table(accept)
            if version:
                return json_response(
                    tables.table(
                        rtype,
                        [obj],
                        {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                        request.query.get("includeObject", "Metadata"),
                        version,
                    ),
                    status,
                )
            version = tables.wants_partial_metadata(accept)
            if version:
                return json_response(tables.partial(obj, version), status)
        return json_response(obj, status)

    def _render_list(
        self, request: web.Request, rtype: ResourceType, listing: dict[str, Any]
    ) -> web.Response:
        accept = request.headers.get("Accept", "")
        if "as=" in accept:
            version = tables.wants_table(accept)
            if version:
                return json_response(
                    tables.table(
                        rtype,
                        listing["items"],
                        listing["metadata"],
                        request.query.get("includeObject", "Metadata"),
                        version,
                    )
                )
            version = tables.wants_partial_metadata(accept)
            if version:
                return json_response(
                    {
                        "kind": "PartialObjectMetadataList",
                        "apiVersion": f"meta.k8s.io/{version}",
                        "metadata": listing["metadata"],
                        "items": [tables.partial(o, version) for o in listing["items"]],
                    }
                )
        return json_response(listing)

    # ------------------------------------------------------------------ watch
    async def _watch(
        self, request: web.Request, route: Route, labels: Any, fields: Any
    ) -> web.StreamResponse:
        q = request.query
        rtype = route.rtype
        accept = request.headers.get("Accept", "")
        encoder = None
        table_version = tables.wants_table(accept) if "as=" in accept else None
        if table_version:
            include = q.get("includeObject", "Metadata")

            def encoder(type_: str, obj: dict[str, Any]) -> bytes:
                view = self.cluster.present(rtype, obj)
                body = tables.table(
                    rtype,
                    [view],
                    {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                    include,
                    table_version,
                )
                return encode_event(type_, body)
        elif "as=" in accept and tables.wants_partial_metadata(accept):
            pm_version = tables.wants_partial_metadata(accept) or "v1"

            def encoder(type_: str, obj: dict[str, Any]) -> bytes:
                return encode_event(type_, tables.partial(obj, pm_version))

        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        send_initial = q.get("sendInitialEvents")
        response = web.StreamResponse(headers={"Content-Type": JSON, "Cache-Control": "no-cache"})
        response.enable_chunked_encoding()
        try:
            watcher = self.cluster.watch(
                rtype,
                route.namespace,
                q.get("resourceVersion"),
                labels,
                fields,
                encoder,
                send_initial_events=None if send_initial is None else send_initial == "true",
                bookmarks=bookmarks,
            )
        except ApiError as exc:
            if exc.code != 410:
                raise
            # A resume from a forgotten version is reported in-band, as the API server does.
            await response.prepare(request)
            await response.write(encode_event(ERROR, exc.status()))
            await response.write_eof()
            return response
        await response.prepare(request)
        self.open_watches += 1
        try:
            await self._pump(
                request, response, rtype, watcher, bookmarks, _float(q.get("timeoutSeconds"))
            )
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.open_watches -= 1
            self.cluster.stop_watch(rtype, watcher)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response

    async def _pump(
        self,
        request: web.Request,
        response: web.StreamResponse,
        rtype: ResourceType,
        watcher: Watcher,
        bookmarks: bool,
        timeout: float | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        fault = self.faults.config
        limits = [t for t in (timeout, fault.watch_max_seconds) if t]
        deadline = loop.time() + min(limits) if limits else None
        max_events = fault.watch_max_events
        sent = 0
        next_bookmark = loop.time() + self.bookmark_interval
        transport = request.transport
        while True:
            if watcher.pending:
                lines = watcher.take()
                if max_events is not None and sent + len(lines) >= max_events:
                    await response.write(b"".join(lines[: max_events - sent]))
                    return
                sent += len(lines)
                await response.write(b"".join(lines) if len(lines) > 1 else lines[0])
            if watcher.closed or self.stopping.is_set():
                return
            now = loop.time()
            if deadline is not None and now >= deadline:
                if bookmarks:
                    await response.write(self.cluster.bookmark(rtype))
                return
            if bookmarks and now >= next_bookmark:
                await response.write(self.cluster.bookmark(rtype))
                next_bookmark = now + self.bookmark_interval
            if transport is None or transport.is_closing():
                return
            wait = 1.0
            if deadline is not None:
                wait = min(wait, deadline - now)
            if bookmarks:
                wait = min(wait, max(next_bookmark - now, 0.001))
            await watcher.wait(max(wait, 0.001))


async def _body(request: web.Request, *, optional: bool = False, yaml_ok: bool = False) -> Any:
    raw = await request.read()
    if not raw.strip():
        if optional:
            return None
        raise errors.bad_request("the request body is empty")
    content_type = request.headers.get("Content-Type", "")
    if content_type.startswith(PROTOBUF):
        # kubectl's typed clients send built-in kinds as protobuf and never retry with JSON.
        return decode_protobuf(raw)
    if content_type.startswith("application/cbor"):
        raise ApiError(
            415,
            f"the sandbox accepts JSON, YAML and protobuf bodies, not {content_type}",
            reason="UnsupportedMediaType",
        )
    try:
        if yaml_ok or "yaml" in content_type:
            return yaml.safe_load(raw)
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise errors.bad_request(
            f"the request body is not valid {'YAML' if 'yaml' in content_type else 'JSON'}: {exc}"
        ) from None


def _int(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(f"expected an integer, got {value!r}") from None


def _float(value: str | None) -> float | None:
    number = _int(value)
    return float(number) if number is not None else None
