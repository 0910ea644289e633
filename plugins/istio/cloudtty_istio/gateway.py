"""Where an Istio Gateway is reached from outside: the host, scheme and port of the URL.

In order: a concrete host of the VirtualService; a concrete host of the Gateway's HTTP(S)
servers (a ``*.`` wildcard becomes the shell's own ``<name>-<namespace>.<rest>``); the address
a load balancer published for the gateway workload's Service (the Service whose selector
matches the Gateway's ``selector``). The port is the Service port in front of the server's
port, left out when it is the scheme's default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from cloudtty_core import CloudShell, ClusterView, dns_label

__all__ = ["Endpoint", "gateway_endpoint", "split_gateway"]

_WEB = ("HTTP", "HTTPS", "HTTP2")


@attrs.frozen
class Endpoint:
    """The scheme, host and port (``""`` or ``":<port>"``) a browser uses."""

    scheme: str
    host: str
    port: str = ""

    def url(self, path: str) -> str:
        """The full URL of ``path``."""
        return f"{self.scheme}://{self.host}{self.port}{path}"


def split_gateway(gateway: str, namespace: str) -> tuple[str, str]:
    """``(namespace, name)`` of ``name`` or ``namespace/name``; a bare name is looked up in
    the VirtualService's ``namespace``, as Istio does."""
    ns, _, name = gateway.rpartition("/")
    return ns or namespace, name


def _bare(host: str) -> str:
    # Gateway hosts may be written `namespace/host`, `./host` or `*/host`.
    return host.rpartition("/")[2]


def _concrete(host: str, shell: CloudShell) -> str | None:
    if host == "*" or not host:
        return None
    if host.startswith("*."):
        return f"{dns_label(f'{shell.name}-{shell.namespace}')}{host[1:]}"
    return host if "*" not in host else None


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def _servers(gateway: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    servers = ((gateway or {}).get("spec") or {}).get("servers") or []
    return [s for s in servers if str((s.get("port") or {}).get("protocol", "")).upper() in _WEB]


def _workload_service(cluster: ClusterView, gateway: Mapping[str, Any]) -> Mapping[str, Any] | None:
    selector = (gateway.get("spec") or {}).get("selector") or {}
    if not selector:
        return None
    candidates = [
        s
        for s in cluster.list("v1", "Service")
        if (s.get("spec") or {}).get("selector")
        and all(
            ((s.get("spec") or {}).get("selector") or {}).get(k) == v for k, v in selector.items()
        )
    ]
    return candidates[0] if candidates else None


def _balancer_address(service: Mapping[str, Any] | None) -> str | None:
    for balancer in ((service or {}).get("status") or {}).get("loadBalancer", {}).get(
        "ingress"
    ) or ():
        address = balancer.get("hostname") or balancer.get("ip")
        if address:
            return _url_host(str(address))
    return None


def _service_port(service: Mapping[str, Any] | None, server_port: int) -> int:
    for port in ((service or {}).get("spec") or {}).get("ports") or ():
        if port.get("targetPort") == server_port or port.get("port") == server_port:
            return int(port["port"])
    return server_port


def gateway_endpoint(
    shell: CloudShell,
    cluster: ClusterView,
    gateway: Mapping[str, Any] | None,
    vs_hosts: Sequence[str],
) -> Endpoint | None:
    """Where the shell's route is reached, or None when no host or address is known yet."""
    servers = _servers(gateway)
    server = servers[0] if servers else None
    host = next((h for h in (_concrete(h, shell) for h in vs_hosts) if h), None)
    if host is None:
        for candidate in servers:
            host = next(
                (
                    h
                    for h in (_concrete(_bare(x), shell) for x in candidate.get("hosts") or ())
                    if h
                ),
                None,
            )
            if host is not None:
                server = candidate
                break
    service = _workload_service(cluster, gateway) if gateway is not None else None
    if host is None:
        host = _balancer_address(service)
    if host is None:
        return None
    protocol = str(((server or {}).get("port") or {}).get("protocol", "HTTP")).upper()
    scheme = "https" if protocol == "HTTPS" else "http"
    number = ((server or {}).get("port") or {}).get("number")
    port = _service_port(service, int(number)) if number else None
    default = 443 if scheme == "https" else 80
    return Endpoint(scheme, host, f":{port}" if port and port != default else "")
