"""The endpoints controller: keeps an Endpoints object per selector Service, listing the IPs
of the Service's pods (ready ones in ``addresses``, others in ``notReadyAddresses``).

Both directions are indexed: a pod change finds the Services selecting its old or new labels
through a ``SelectorIndex``, and a Service's pods come from the store's label index, so one
change costs work proportional to the objects it involves, not to everything stored."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from .cluster import Cluster
from .errors import ApiError
from .labelindex import SelectorIndex
from .watchcache import Event

log = logging.getLogger(__name__)


def pod_ready(pod: dict[str, Any]) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def resolve_target_port(port: dict[str, Any], pod: dict[str, Any]) -> int | None:
    """A Service port's targetPort on one pod (named ports look up the containers' ports)."""
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str):
        if target.isdigit():
            return int(target)
        for container in (pod.get("spec") or {}).get("containers") or ():
            for cport in container.get("ports") or ():
                if cport.get("name") == target:
                    return int(cport.get("containerPort"))
    return None


def service_selector(service: Mapping[str, Any]) -> Mapping[str, str] | None:
    """A Service's pod selector (None or empty: the Service manages no Endpoints)."""
    selector = (service.get("spec") or {}).get("selector")
    return selector if isinstance(selector, dict) else None


def selects(service: dict[str, Any], pod: dict[str, Any]) -> bool:
    """Whether a Service selects a pod, by comparing labels (what the indexes must agree with)."""
    selector = (service.get("spec") or {}).get("selector")
    if not selector:
        return False
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


class EndpointsController:
    """Recomputes Endpoints of the Services touched by each Service or Pod change."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._dirty: set[tuple[str, str]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.selectors = SelectorIndex(service_selector)
        for svc in cluster.store.items("services", None):
            meta = svc["metadata"]
            self.selectors.update(meta.get("namespace", ""), meta["name"], svc)
        cluster.store.label_index("pods")
        cluster.store.listen("pods", self._on_pod)
        cluster.store.listen("services", self._on_service)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sandbox-endpoints-controller")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _mark(self, namespace: str, name: str) -> None:
        self._dirty.add((namespace, name))
        self._wake.set()

    def _on_service(self, storage: str, event: Event) -> None:
        meta = event.obj["metadata"]
        ns = meta.get("namespace", "")
        self.selectors.update(ns, meta["name"], None if event.type == "DELETED" else event.obj)
        self._mark(ns, meta["name"])

    def _on_pod(self, storage: str, event: Event) -> None:
        ns = event.obj["metadata"].get("namespace", "")
        labels = event.obj["metadata"].get("labels") or {}
        label_sets = [labels]
        if event.prev is not None:
            before = event.prev["metadata"].get("labels") or {}
            if before != labels:
                label_sets.append(before)
        for name in self.selectors.selecting_any(ns, label_sets):
            self._mark(ns, name)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            for ns, name in dirty:
                try:
                    self.sync(ns, name)
                except Exception:  # keep the controller alive
                    log.exception("endpoints controller failed on %s/%s", ns, name)
            await asyncio.sleep(0)

    def compute(self, service: dict[str, Any]) -> list[dict[str, Any]]:
        ns = service["metadata"].get("namespace", "")
        ports = (service.get("spec") or {}).get("ports") or []
        subsets: dict[tuple[tuple[Any, ...], ...], dict[str, Any]] = {}
        selector = service_selector(service)
        if not selector:
            return []
        for pod in self.cluster.store.labelled("pods", ns, selector):
            if pod["metadata"].get("deletionTimestamp"):
                continue
            status = pod.get("status") or {}
            ip = status.get("podIP")
            if not ip or status.get("phase") in ("Succeeded", "Failed"):
                continue
            resolved = []
            for port in ports:
                number = resolve_target_port(port, pod)
                if number is not None:
                    entry = {"port": number, "protocol": port.get("protocol", "TCP")}
                    if port.get("name"):
                        entry["name"] = port["name"]
                    resolved.append(entry)
            key = tuple(tuple(sorted(p.items())) for p in resolved)
            subset = subsets.setdefault(key, {"ports": resolved})
            address = {
                "ip": ip,
                "nodeName": (pod.get("spec") or {}).get("nodeName", ""),
                "targetRef": {
                    "kind": "Pod",
                    "namespace": ns,
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            }
            field = "addresses" if pod_ready(pod) else "notReadyAddresses"
            subset.setdefault(field, []).append(address)
        return [s for s in subsets.values() if s.get("ports")]

    def sync(self, namespace: str, name: str) -> None:
        cluster = self.cluster
        ep_type = cluster.registry.lookup("", "v1", "endpoints")
        if ep_type is None:
            return
        service = cluster.find("services", namespace, name)
        existing = cluster.find("endpoints", namespace, name)
        if service is None or not (service.get("spec") or {}).get("selector"):
            if existing is not None and service is None and name != "kubernetes":
                with contextlib.suppress(ApiError):
                    cluster.delete(ep_type, namespace, name)
            return
        subsets = self.compute(service)
        labels = dict(service["metadata"].get("labels") or {})
        if existing is None:
            body: dict[str, Any] = {"metadata": {"name": name, "labels": labels}}
            if subsets:
                body["subsets"] = subsets
            with contextlib.suppress(ApiError):
                cluster.create(ep_type, namespace, body)
            return

        def change(ep: dict[str, Any]) -> bool:
            if (ep.get("subsets") or []) == subsets:
                return False
            if subsets:
                ep["subsets"] = subsets
            else:
                ep.pop("subsets", None)
            return True

        cluster.mutate("endpoints", namespace, name, change)

    def ready_addresses(self, namespace: str, name: str) -> list[tuple[str, dict[str, Any]]]:
        """(pod IP, port entry) pairs of the ready endpoints of a Service."""
        ep = self.cluster.find("endpoints", namespace, name)
        out = []
        for subset in (ep or {}).get("subsets") or ():
            for address in subset.get("addresses") or ():
                for port in subset.get("ports") or ():
                    out.append((address["ip"], port))
        return out
