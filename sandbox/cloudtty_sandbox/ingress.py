"""The ingress listener (and optional Istio gateway listener): reads the first request of a
connection, routes it by Host and path to a ready pod of the backend Service, then splices
bytes (so WebSocket upgrades pass through). Non-upgrade requests get ``Connection: close`` so
every request on a kept-alive browser connection is routed afresh."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Any

from .cluster import Cluster
from .nodeports import pick_backend
from .routing import Rule, choose, ingress_rules, virtual_service_rules
from .splice import splice
from .watchcache import Event

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
INGRESS_STORAGE = "ingresses.networking.k8s.io"
VIRTUAL_SERVICE_STORAGE = "virtualservices.networking.istio.io"


def _reply(status: str, text: str) -> bytes:
    body = text.encode()
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def rewrite_head(head: bytes, client_ip: str) -> tuple[bytes, str, str, bool]:
    """Parse a request head; return (rewritten head, host, path, is_upgrade)."""
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    request_line, headers = lines[0], [h for h in lines[1:] if h]
    parts = request_line.split(" ")
    target = parts[1] if len(parts) >= 3 else "/"
    path = target.split("?", 1)[0]
    host = ""
    upgrade = False
    kept = []
    for header in headers:
        name, _, value = header.partition(":")
        lname = name.strip().lower()
        if lname == "host":
            host = (
                value.strip().rsplit(":", 1)[0]
                if not value.strip().startswith("[")
                else (value.strip())
            )
        if lname == "upgrade":
            upgrade = True
        if lname in ("connection", "keep-alive") and not upgrade:
            if lname == "connection" and "upgrade" in value.lower():
                kept.append(header)
            continue
        kept.append(header)
    if upgrade:
        if not any(h.lower().startswith("connection:") for h in kept):
            kept.append("Connection: Upgrade")
    else:
        kept.append("Connection: close")
    kept.append(f"X-Forwarded-For: {client_ip}")
    kept.append("X-Forwarded-Proto: http")
    if host:
        kept.append(f"X-Forwarded-Host: {host}")
    out = "\r\n".join([request_line, *kept]) + "\r\n\r\n"
    return out.encode("latin-1"), host, path, upgrade


class _Listener:
    def __init__(self, controller: IngressController, kind: str) -> None:
        self.controller = controller
        self.kind = kind
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        self.server = await asyncio.start_server(self._accept, host, port, reuse_address=True)
        self.port = int(self.server.sockets[0].getsockname()[1])

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self.controller.serve(self.kind, reader, writer))
        self.controller.connections.add(task)
        task.add_done_callback(self.controller.connections.discard)


class IngressController:
    """Routes HTTP on the ingress port by Ingress rules, on the gateway port by VirtualServices."""

    def __init__(
        self, cluster: Cluster, host: str, ingress_port: int | None, gateway_port: int | None
    ) -> None:
        self.cluster = cluster
        self.host = host
        self.want_ingress, self.want_gateway = ingress_port, gateway_port
        self.ingress = _Listener(self, "ingress")
        self.gateway = _Listener(self, "gateway")
        self.connections: set[asyncio.Task[None]] = set()
        self._counter = itertools.count()
        self._rules: dict[str, list[Rule] | None] = {"ingress": None, "gateway": None}
        cluster.store.listen(None, self._on_event)

    @property
    def ingress_port(self) -> int | None:
        return self.ingress.port or None

    @property
    def gateway_port(self) -> int | None:
        return self.gateway.port or None

    def _on_event(self, storage: str, event: Event) -> None:
        if storage == INGRESS_STORAGE:
            self._rules["ingress"] = None
            if event.type == "ADDED" or (
                event.type == "MODIFIED"
                and not ((event.obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
            ):
                meta = event.obj["metadata"]
                asyncio.get_running_loop().call_soon(
                    self._publish_status, meta["namespace"], meta["name"]
                )
        elif storage == VIRTUAL_SERVICE_STORAGE:
            self._rules["gateway"] = None

    def _publish_status(self, namespace: str, name: str) -> None:
        """Report where the Ingress is served, as an ingress controller does."""
        if not self.ingress_port:
            return
        lb = {
            "ingress": [
                {"ip": "127.0.0.1", "ports": [{"port": self.ingress_port, "protocol": "TCP"}]}
            ]
        }

        def change(ing: dict[str, Any]) -> bool:
            if (ing.get("status") or {}).get("loadBalancer") == lb:
                return False
            ing["status"] = {"loadBalancer": lb}
            return True

        self.cluster.mutate(INGRESS_STORAGE, namespace, name, change, subresource="status")

    async def start(self) -> None:
        if self.want_ingress is not None:
            await self.ingress.start(self.host, self.want_ingress)
        if self.want_gateway is not None:
            await self.gateway.start(self.host, self.want_gateway)

    async def stop(self) -> None:
        for listener in (self.ingress, self.gateway):
            if listener.server is not None:
                listener.server.close()
        for task in list(self.connections):
            task.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)
        for listener in (self.ingress, self.gateway):
            if listener.server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(listener.server.wait_closed(), 1)

    def rules(self, kind: str) -> list[Rule]:
        cached = self._rules.get(kind)
        if cached is not None:
            return cached
        rules: list[Rule] = []
        if kind == "ingress":
            for ing in self.cluster.store.items(INGRESS_STORAGE, None):
                rules.extend(ingress_rules(ing))
        else:
            for vs in self.cluster.store.items(VIRTUAL_SERVICE_STORAGE, None):
                rules.extend(virtual_service_rules(vs))
        self._rules[kind] = rules
        return rules

    def _resolve(self, rule: Rule) -> tuple[str, int] | None:
        b = rule.backend
        svc = self.cluster.find("services", b.namespace, b.service)
        if svc is None:
            return None
        ports = (svc.get("spec") or {}).get("ports") or []
        port = next((p for p in ports if p.get("port") == b.port or p.get("name") == b.port), None)
        if port is None:
            return None
        return pick_backend(self.cluster, b.namespace, b.service, port, self._counter)

    async def serve(
        self, kind: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            ConnectionError,
        ):
            writer.close()
            return
        if len(head) > MAX_HEAD:
            writer.write(_reply("431 Request Header Fields Too Large", "header too large\n"))
            writer.close()
            return
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        new_head, host, path, _ = rewrite_head(head, str(peer[0]))
        rule = choose(self.rules(kind), host, path)
        if rule is None:
            writer.write(_reply("404 Not Found", f"no route for host {host!r} path {path!r}\n"))
            await _close(writer)
            return
        backend = self._resolve(rule)
        if backend is None:
            writer.write(
                _reply(
                    "503 Service Unavailable",
                    f"no ready endpoint for service {rule.backend.service}\n",
                )
            )
            await _close(writer)
            return
        try:
            upstream = await asyncio.wait_for(asyncio.open_connection(*backend), 5)
        except (OSError, TimeoutError):
            writer.write(
                _reply("502 Bad Gateway", f"cannot connect to {backend[0]}:{backend[1]}\n")
            )
            await _close(writer)
            return
        upstream[1].write(new_head)
        await splice((reader, writer), upstream)


async def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        await writer.drain()
    writer.close()
