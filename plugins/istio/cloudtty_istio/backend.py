"""``exposureMode: VirtualService``: an Istio VirtualService routes the shell's path through a
Gateway to the shell's Service.

* ``virtualServiceConfig.virtualServiceName`` unset: a VirtualService per shell (owned by it).
* set: the named VirtualService is shared; only the shell's own route is added and removed
  (see :mod:`cloudtty_istio.shared`); it is created with the first shell when missing.

Clusters without Istio do not serve the VirtualService kind: the shell then waits with a
condition saying so instead of failing. The URL is given once the observed VirtualService
carries the shell's route and the Gateway's address is known.
"""

from __future__ import annotations

from typing import Any

import attrs

from cloudtty_core import (
    LABEL_MANAGED_BY,
    Exposure,
    ExposureRequest,
    KindRef,
    Manifest,
    VirtualServiceConfig,
    Waiting,
    WorkerRef,
    worker_service,
)

from .gateway import gateway_endpoint, split_gateway
from .routing import route_name, route_path, shell_route
from .shared import route_holder, shell_routes, with_route, without_route

__all__ = ["GATEWAY_KIND", "ISTIO_API", "VIRTUAL_SERVICE_KIND", "VirtualServiceBackend"]

ISTIO_API = "networking.istio.io/v1beta1"
VIRTUAL_SERVICE_KIND = KindRef(ISTIO_API, "VirtualService", "virtualservices")
GATEWAY_KIND = KindRef(ISTIO_API, "Gateway", "gateways")

_MANAGED_BY = "cloudtty"


@attrs.frozen
class VirtualServiceBackend:
    """Exposes shells through Istio VirtualServices bound to a Gateway."""

    name: str = "VirtualService"

    @property
    def watched_kinds(self) -> tuple[KindRef, ...]:
        """VirtualServices (the route) and Gateways (their hosts make the URL)."""
        return (VIRTUAL_SERVICE_KIND, GATEWAY_KIND)

    @staticmethod
    def _where(request: ExposureRequest, worker: WorkerRef) -> tuple[str, str, bool]:
        config = request.shell.spec.virtual_service_config or VirtualServiceConfig()
        namespace = config.namespace or request.shell.namespace
        if config.virtual_service_name:
            return namespace, config.virtual_service_name, True
        return namespace, worker.service_name, False

    def expose(self, request: ExposureRequest) -> Exposure:
        """The Service, the VirtualService (owned) or the shell's route in the shared one, and
        the URL once the observed VirtualService routes the shell."""
        shell, worker, cluster = request.shell, request.worker, request.cluster
        config = shell.spec.virtual_service_config or VirtualServiceConfig()
        service = worker_service(worker, "ClusterIP")
        base_path = f"{route_path(shell)}/"

        def waiting(reason: str, message: str, transient: bool = False) -> Exposure:
            return Exposure(
                owned=(service,), waiting=Waiting(reason, message, transient), base_path=base_path
            )

        if not cluster.has_api(ISTIO_API, "VirtualService"):
            return waiting(
                "VirtualServiceCRDMissing",
                f"the cluster does not serve VirtualService ({ISTIO_API}): install Istio or its "
                "CRDs, or choose another exposureMode",
            )
        if not config.gateway:
            return waiting(
                "GatewayNotSet",
                "spec.virtualServiceConfig.gateway is not set: name the Istio Gateway "
                "(`name` or `namespace/name`) that browsers reach the shell through",
            )
        namespace, name, shared = self._where(request, worker)
        gw_namespace, gw_name = split_gateway(config.gateway, namespace)
        gateway = None
        if cluster.has_api(ISTIO_API, "Gateway"):
            gateway = cluster.get(ISTIO_API, "Gateway", gw_namespace, gw_name)
            if gateway is None:
                return waiting(
                    "GatewayNotFound",
                    f"Istio Gateway {gw_namespace}/{gw_name} "
                    "(spec.virtualServiceConfig.gateway) does not exist",
                )
        route = shell_route(shell, worker)
        observed = cluster.get(ISTIO_API, "VirtualService", namespace, name)
        holder = route_holder(observed, route)
        if holder is not None:
            return waiting(
                "PathConflict",
                f"VirtualService {namespace}/{name} already routes {route_path(shell)} in route "
                f"{holder}; give the shell another pathPrefix/pathSuffix",
            )
        owned: tuple[Manifest, ...] = (service,)
        shared_objects: tuple[Manifest, ...] = ()
        if shared and observed is not None:
            updated = with_route(observed, route, config.gateway)
            if updated != observed:
                shared_objects = (updated,)
        else:
            vs = self._new(namespace, name, config, route)
            if shared:
                vs["metadata"]["labels"] = {LABEL_MANAGED_BY: _MANAGED_BY}
                shared_objects = (vs,)
            else:
                owned += (vs,)
        where = f"VirtualService {namespace}/{name}"
        if observed is None or not shell_routes(observed, route_name(shell)):
            return Exposure(
                owned=owned,
                shared=shared_objects,
                waiting=Waiting(
                    "VirtualServicePending", f"waiting for {where} to route the shell", True
                ),
                base_path=base_path,
            )
        hosts = (observed.get("spec") or {}).get("hosts") or []
        endpoint = gateway_endpoint(shell, cluster, gateway, hosts)
        if endpoint is None:
            return Exposure(
                owned=owned,
                shared=shared_objects,
                waiting=Waiting(
                    "GatewayAddressPending",
                    f"Gateway {gw_namespace}/{gw_name} names no host and its load balancer has "
                    "published no address yet",
                    True,
                ),
                base_path=base_path,
            )
        return Exposure(
            owned=owned, shared=shared_objects, url=endpoint.url(base_path), base_path=base_path
        )

    @staticmethod
    def _new(namespace: str, name: str, config: VirtualServiceConfig, route: Manifest) -> Manifest:
        spec: dict[str, Any] = {"hosts": ["*"], "gateways": [config.gateway], "http": [route]}
        if config.export_to:
            spec["exportTo"] = [config.export_to]
        return {
            "apiVersion": ISTIO_API,
            "kind": "VirtualService",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }

    def release(self, request: ExposureRequest) -> tuple[Manifest, ...]:
        """The shared VirtualService without this shell's route (nothing for a per-shell one)."""
        namespace, name, shared = self._where(request, request.worker)
        if not shared or not request.cluster.has_api(ISTIO_API, "VirtualService"):
            return ()
        observed = request.cluster.get(ISTIO_API, "VirtualService", namespace, name)
        if observed is None or not shell_routes(observed, route_name(request.shell)):
            return ()
        return (without_route(observed, route_name(request.shell)),)
