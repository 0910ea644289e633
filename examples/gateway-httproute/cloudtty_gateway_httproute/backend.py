"""Exposes a shell through an HTTPRoute attached to one Gateway.

Each shell gets a ClusterIP Service and an HTTPRoute sending ``/<namespace>/<shell>/`` on the
Gateway's host name to it. The URL is known once the Gateway is observed with a host name on a
listener (or an address in its status); until then the shell waits with a condition saying why.
"""

from __future__ import annotations

from typing import Any

import attrs

from cloudtty_core import (
    Exposure,
    ExposureRequest,
    KindRef,
    Manifest,
    Waiting,
    worker_service,
)

GATEWAY_API = "gateway.networking.k8s.io/v1"
HTTPROUTE_KIND = KindRef(GATEWAY_API, "HTTPRoute", "httproutes")
GATEWAY_KIND = KindRef(GATEWAY_API, "Gateway", "gateways")


def _gateway_host(gateway: Manifest) -> tuple[str | None, bool]:
    """The host of the Gateway, and whether it is a listener host name (routes name it)."""
    for listener in (gateway.get("spec") or {}).get("listeners") or ():
        hostname = listener.get("hostname")
        if hostname and "*" not in hostname:
            return str(hostname), True
    for address in (gateway.get("status") or {}).get("addresses") or ():
        if address.get("value"):
            return str(address["value"]), False
    return None, False


@attrs.frozen
class HTTPRouteBackend:
    """The ``HTTPRoute`` exposure mode: one route per shell on a shared Gateway."""

    gateway_namespace: str = "cloudtty"
    gateway_name: str = "shells"
    name: str = "HTTPRoute"

    @classmethod
    def for_gateway(cls, text: str) -> HTTPRouteBackend:
        """The backend for a Gateway given as ``namespace/name``."""
        namespace, sep, name = text.partition("/")
        if not sep or not namespace or not name:
            raise ValueError(f"gateway {text!r}: expected namespace/name")
        return cls(namespace, name)

    @property
    def watched_kinds(self) -> tuple[KindRef, ...]:
        """HTTPRoutes (what the shells own) and Gateways (their host makes the URL)."""
        return (HTTPROUTE_KIND, GATEWAY_KIND)

    def expose(self, request: ExposureRequest) -> Exposure:
        """A Service and an HTTPRoute; the URL once the Gateway shows its host."""
        shell, worker, cluster = request.shell, request.worker, request.cluster
        path = f"/{shell.namespace}/{shell.name}/"
        where = f"{self.gateway_namespace}/{self.gateway_name}"
        if not cluster.has_api(GATEWAY_API, "HTTPRoute"):
            missing = Waiting("GatewayAPIMissing", "the Gateway API CRDs are not installed")
            return Exposure(waiting=missing, base_path=path)
        gateway = cluster.get(GATEWAY_API, "Gateway", self.gateway_namespace, self.gateway_name)
        if gateway is None:
            absent = Waiting("GatewayNotFound", f"Gateway {where} does not exist")
            return Exposure(waiting=absent, base_path=path)
        host, named = _gateway_host(gateway)
        spec: dict[str, Any] = {
            "parentRefs": [{"name": self.gateway_name, "namespace": self.gateway_namespace}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": path}}],
                    "backendRefs": [{"name": worker.service_name, "port": worker.port}],
                }
            ],
        }
        if named and host:
            spec["hostnames"] = [host]
        route: Manifest = {
            "apiVersion": GATEWAY_API,
            "kind": "HTTPRoute",
            "metadata": {"name": worker.service_name, "namespace": worker.namespace},
            "spec": spec,
        }
        owned = (worker_service(worker), route)
        if host is None:
            pending = Waiting(
                "GatewayAddressPending",
                f"Gateway {where} has no listener host name and no address yet",
                transient=True,
            )
            return Exposure(owned=owned, waiting=pending, base_path=path)
        return Exposure(owned=owned, url=f"http://{host}{path}", base_path=path)

    def release(self, request: ExposureRequest) -> tuple[Manifest, ...]:
        """Nothing is shared: the shell's own route goes with the shell."""
        return ()
