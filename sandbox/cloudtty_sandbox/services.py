"""Services: ClusterIP and NodePort allocation, defaults and validation."""

from __future__ import annotations

import ipaddress
import random
import socket
from typing import TYPE_CHECKING, Any

from . import errors
from .errors import Cause
from .strategy import Strategy

if TYPE_CHECKING:
    from .cluster import Cluster
    from .resources import ResourceType

NODE_PORT_RANGE = (30000, 32767)
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
KUBERNETES_SERVICE_IP = "10.96.0.1"
_PROTOCOLS = ("TCP", "UDP", "SCTP")


def _port_free_on_host(port: int) -> bool:
    """Whether 127.0.0.1:<port> can be bound, so forwarded NodePorts do not clash."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class NodePortAllocator:
    """NodePorts in 30000-32767, never handed out twice; random like the API server's."""

    def __init__(
        self,
        low: int = NODE_PORT_RANGE[0],
        high: int = NODE_PORT_RANGE[1],
        check_host: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self.low, self.high = low, high
        self.used: set[int] = set()
        self.check_host = check_host
        self.rng = rng or random.Random()

    def in_range(self, port: int) -> bool:
        return self.low <= port <= self.high

    def claim(self, port: int) -> bool:
        if not self.in_range(port) or port in self.used:
            return False
        self.used.add(port)
        return True

    def allocate(self) -> int:
        size = self.high - self.low + 1
        if len(self.used) >= size:
            raise errors.ApiError(
                500, "range is full: no NodePort left in 30000-32767", reason="InternalError"
            )
        for _ in range(size * 2):
            port = self.rng.randint(self.low, self.high)
            if port in self.used:
                continue
            if self.check_host and not _port_free_on_host(port):
                continue
            self.used.add(port)
            return port
        for port in range(self.low, self.high + 1):
            if port not in self.used:
                self.used.add(port)
                return port
        raise errors.ApiError(500, "range is full", reason="InternalError")

    def release(self, port: Any) -> None:
        if isinstance(port, int):
            self.used.discard(port)


class ClusterIPAllocator:
    """Service IPs from 10.96.0.0/12; 10.96.0.1 is the ``kubernetes`` Service's."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self._next = int(SERVICE_CIDR.network_address) + 10

    def claim(self, ip: str) -> str | None:
        """Reserve a requested IP; returns the problem, or None."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return "must be a valid IP address"
        if addr not in SERVICE_CIDR or addr in (
            SERVICE_CIDR.network_address,
            SERVICE_CIDR.broadcast_address,
        ):
            return (
                f"provided IP is not in the valid range. The range of valid IPs is {SERVICE_CIDR}"
            )
        if ip in self.used:
            return "provided IP is already allocated"
        self.used.add(ip)
        return None

    def allocate(self) -> str:
        last = int(SERVICE_CIDR.broadcast_address)
        start = self._next
        while True:
            ip = str(ipaddress.ip_address(self._next))
            self._next = (
                self._next + 1 if self._next + 1 < last else int(SERVICE_CIDR.network_address) + 2
            )
            if ip not in self.used:
                self.used.add(ip)
                return ip
            if self._next == start:
                raise errors.ApiError(500, "no ClusterIP left", reason="InternalError")

    def release(self, ip: Any) -> None:
        if isinstance(ip, str):
            self.used.discard(ip)


def _wants_node_ports(spec: dict[str, Any]) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


class ServiceStrategy(Strategy):
    """Defaults, validation and IP/port allocation of Services."""

    def __init__(self) -> None:
        self.node_ports = NodePortAllocator()
        self.cluster_ips = ClusterIPAllocator()

    # defaults ----------------------------------------------------------
    @staticmethod
    def _defaults(obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName":
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        if _wants_node_ports(spec):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or ():
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if "port" in port:
                    port.setdefault("targetPort", port["port"])

    def validate(
        self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("spec", "Required value", "FieldValueRequired")]
        causes: list[Cause] = []
        kind = spec.get("type", "ClusterIP")
        if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
            causes.append(
                Cause(
                    "spec.type",
                    f'Unsupported value: "{kind}": supported values: '
                    '"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
                    "FieldValueNotSupported",
                )
            )
        ports = spec.get("ports") or []
        if not isinstance(ports, list):
            return [*causes, Cause("spec.ports", "Invalid value: must be a list")]
        if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
            causes.append(Cause("spec.ports", "Required value", "FieldValueRequired"))
        names: set[str] = set()
        old_node_ports = {
            p.get("nodePort")
            for p in ((old or {}).get("spec") or {}).get("ports") or ()
            if isinstance(p, dict)
        }
        for i, port in enumerate(ports):
            where = f"spec.ports[{i}]"
            if not isinstance(port, dict):
                causes.append(Cause(where, "Invalid value: must be an object"))
                continue
            number = port.get("port")
            if not isinstance(number, int) or not 1 <= number <= 65535:
                causes.append(
                    Cause(
                        f"{where}.port",
                        f"Invalid value: {number!r}: must be between 1 and 65535, inclusive",
                    )
                )
            if port.get("protocol", "TCP") not in _PROTOCOLS:
                causes.append(
                    Cause(
                        f"{where}.protocol",
                        f'Unsupported value: "{port.get("protocol")}"'
                        ': supported values: "SCTP", "TCP", "UDP"',
                        "FieldValueNotSupported",
                    )
                )
            name = port.get("name")
            if len(ports) > 1 and not name:
                causes.append(Cause(f"{where}.name", "Required value", "FieldValueRequired"))
            if name:
                if name in names:
                    causes.append(
                        Cause(f"{where}.name", f'Duplicate value: "{name}"', "FieldValueDuplicate")
                    )
                names.add(name)
            node_port = port.get("nodePort")
            if node_port is not None:
                if not _wants_node_ports(spec) and node_port in old_node_ports:
                    pass  # left over from the old type: dropped with the type change
                elif not _wants_node_ports(spec):
                    causes.append(
                        Cause(
                            f"{where}.nodePort",
                            f"Forbidden: may not be used when `type` is '{kind}'",
                            "FieldValueForbidden",
                        )
                    )
                elif not isinstance(node_port, int) or not self.node_ports.in_range(node_port):
                    causes.append(
                        Cause(
                            f"{where}.nodePort",
                            f"Invalid value: {node_port!r}: provided port is not in the valid "
                            f"range. The range of valid ports is "
                            f"{NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[1]}",
                        )
                    )
        selector = spec.get("selector")
        if selector is not None and (
            not isinstance(selector, dict) or not all(isinstance(v, str) for v in selector.values())
        ):
            causes.append(Cause("spec.selector", "Invalid value: must be a map of strings"))
        if old is not None:
            old_ip = (old.get("spec") or {}).get("clusterIP")
            new_ip = spec.get("clusterIP")
            if new_ip and old_ip and new_ip != old_ip and kind != "ExternalName":
                causes.append(
                    Cause("spec.clusterIP", f'Invalid value: "{new_ip}": field is immutable')
                )
        return causes

    # allocation ---------------------------------------------------------
    def _allocate_ports(
        self, name: str, spec: dict[str, Any], keep: dict[tuple[Any, Any], int], fresh: list[int]
    ) -> None:
        for i, port in enumerate(spec.get("ports") or ()):
            requested = port.get("nodePort")
            key = (port.get("port"), port.get("protocol", "TCP"))
            if requested is None:
                if key in keep:
                    port["nodePort"] = keep.pop(key)
                    continue
                port["nodePort"] = self.node_ports.allocate()
                fresh.append(port["nodePort"])
            elif keep.get(key) == requested or requested in keep.values():
                for k, v in list(keep.items()):
                    if v == requested:
                        del keep[k]
            elif not self.node_ports.claim(requested):
                for p in fresh:
                    self.node_ports.release(p)
                raise errors.invalid(
                    "Service",
                    "",
                    name,
                    [
                        Cause(
                            f"spec.ports[{i}].nodePort",
                            f"Invalid value: {requested}: provided port is already allocated",
                        )
                    ],
                )
            else:
                fresh.append(requested)

    def prepare_create(self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any]) -> None:
        self._defaults(obj)
        spec = obj.get("spec")
        obj["status"] = {"loadBalancer": {}}
        if not isinstance(spec, dict) or self.validate(cluster, rtype, obj, None):
            return  # validation reports the problems; nothing is allocated
        name = obj["metadata"].get("name", "")
        fresh: list[int] = []
        if _wants_node_ports(spec):
            self._allocate_ports(name, spec, {}, fresh)
        if spec.get("type") != "ExternalName":
            requested = spec.get("clusterIP")
            if requested and requested != "None":
                problem = self.cluster_ips.claim(requested)
                if problem:
                    for p in fresh:
                        self.node_ports.release(p)
                    raise errors.invalid(
                        "Service",
                        "",
                        name,
                        [Cause("spec.clusterIP", f'Invalid value: "{requested}": {problem}')],
                    )
            elif not requested:
                spec["clusterIP"] = self.cluster_ips.allocate()
            spec["clusterIPs"] = [spec["clusterIP"]]
        if spec.get("type") == "LoadBalancer":
            obj["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}}

    def rollback_create(self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any]) -> None:
        self.after_remove(cluster, rtype, obj)

    def prepare_update(
        self, cluster: Cluster, rtype: ResourceType, new: dict[str, Any], old: dict[str, Any]
    ) -> None:
        self._defaults(new)
        spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        if spec.get("clusterIP"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        keep = {
            (p.get("port"), p.get("protocol", "TCP")): p["nodePort"]
            for p in old_spec.get("ports") or ()
            if isinstance(p, dict) and p.get("nodePort")
        }
        if _wants_node_ports(spec):
            self._allocate_ports(new["metadata"].get("name", ""), spec, keep, [])
        else:
            for port in spec.get("ports") or ():
                port.pop("nodePort", None)
        for leftover in keep.values():
            self.node_ports.release(leftover)
        if spec.get("type") == "LoadBalancer":
            new["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}}
        elif old_spec.get("type") == "LoadBalancer":
            new["status"] = {"loadBalancer": {}}

    def after_remove(self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any]) -> None:
        spec = obj.get("spec") or {}
        if spec.get("clusterIP") != "None":
            self.cluster_ips.release(spec.get("clusterIP"))
        for port in spec.get("ports") or ():
            if isinstance(port, dict):
                self.node_ports.release(port.get("nodePort"))
