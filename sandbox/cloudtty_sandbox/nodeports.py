"""NodePort forwarding: for every NodePort/LoadBalancer Service port the sandbox listens on
127.0.0.1:<nodePort> and forwards each connection to a ready pod of the Service."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Any

from .cluster import Cluster
from .splice import splice
from .watchcache import Event

log = logging.getLogger(__name__)


def pick_backend(
    cluster: Cluster,
    namespace: str,
    service: str,
    port: dict[str, Any],
    counter: itertools.count[int],
) -> tuple[str, int] | None:
    """A ready (pod IP, target port) for one Service port, round-robin over ready pods."""
    ep = cluster.find("endpoints", namespace, service)
    candidates: list[tuple[str, int]] = []
    for subset in (ep or {}).get("subsets") or ():
        ports = subset.get("ports") or []
        match = next((p for p in ports if p.get("name") == port.get("name")), None)
        if match is None and len(ports) == 1 and not port.get("name"):
            match = ports[0]
        if match is None:
            continue
        for address in subset.get("addresses") or ():
            candidates.append((address["ip"], int(match["port"])))
    if not candidates:
        return None
    return candidates[next(counter) % len(candidates)]


class NodePortForwarder:
    """Opens and closes NodePort listeners as Services come and go."""

    def __init__(self, cluster: Cluster, host: str = "127.0.0.1") -> None:
        self.cluster = cluster
        self.host = host
        self.listeners: dict[int, asyncio.Server] = {}
        self.targets: dict[int, tuple[str, str, dict[str, Any]]] = {}
        self._counter = itertools.count()
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._ports_of: dict[tuple[str, str], list[int]] = {}
        for svc in cluster.store.items("services", None):
            self._on_event("services", Event("ADDED", 0, svc, None))
        cluster.store.listen("services", self._on_event)

    def _on_event(self, storage: str, event: Event) -> None:
        # Only the changed Service's ports are recomputed: no scan over every Service.
        meta = event.obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        for port in self._ports_of.pop(key, ()):
            self.targets.pop(port, None)
        if event.type != "DELETED":
            spec = event.obj.get("spec") or {}
            if spec.get("type") in ("NodePort", "LoadBalancer"):
                ports = []
                for port in spec.get("ports") or ():
                    if port.get("nodePort") and port.get("protocol", "TCP") == "TCP":
                        self.targets[int(port["nodePort"])] = (key[0], key[1], port)
                        ports.append(int(port["nodePort"]))
                self._ports_of[key] = ports
        self._dirty.set()

    def start(self) -> None:
        self._dirty.set()
        self._task = asyncio.create_task(self._run(), name="sandbox-nodeport-forwarder")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for server in self.listeners.values():
            server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        for server in self.listeners.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)
        self.listeners.clear()

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self._reconcile()

    async def _reconcile(self) -> None:
        wanted = dict(self.targets)
        for port in [p for p in self.listeners if p not in wanted]:
            self.listeners.pop(port).close()
        for port in wanted:
            if port in self.listeners:
                continue
            try:
                self.listeners[port] = await asyncio.start_server(
                    lambda r, w, p=port: self._accept(p, r, w), self.host, port, reuse_address=True
                )
            except OSError as exc:
                log.warning("cannot listen on NodePort %s:%s: %s", self.host, port, exc)

    def _accept(
        self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.create_task(self._forward(port, reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _forward(
        self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        target = self.targets.get(port)
        backend = pick_backend(self.cluster, *target, self._counter) if target else None
        if backend is None:
            writer.close()
            return
        try:
            upstream = await asyncio.wait_for(asyncio.open_connection(*backend), 5)
        except (OSError, TimeoutError):
            writer.close()
            return
        await splice((reader, writer), upstream)
