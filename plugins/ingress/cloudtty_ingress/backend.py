"""``exposureMode: Ingress``: a path per shell on a per-shell or a shared Ingress.

* ``ingressConfig.ingressName`` unset: the shell gets an Ingress of its own (owned by it).
* ``ingressConfig.ingressName`` set: the named Ingress is shared. The backend adds only this
  shell's path and, on release, removes only it (see :mod:`cloudtty_ingress.shared`); the
  Ingress is created with the first shell when it does not exist.

The terminal serves under the route's path (``Exposure.base_path``), so no rewrite annotation
is needed and the same URL works behind any controller. WebSocket connections stay open for a
long time without traffic, so the ingress-nginx proxy timeouts are raised (user annotations
win). The URL is given once the observed Ingress carries the shell's path.
"""

from __future__ import annotations

import hashlib
from typing import Any

import attrs

from cloudtty_core import (
    LABEL_MANAGED_BY,
    CloudShell,
    Exposure,
    ExposureRequest,
    IngressConfig,
    KindRef,
    Manifest,
    Waiting,
    WorkerRef,
    dns_label,
    worker_service,
)

from .classes import INGRESS_API, resolve_ingress_class
from .routing import concrete_host, route_path
from .shared import path_entry, path_holder, shell_paths, with_entry, without_entries

__all__ = ["INGRESS_CLASS_KIND", "INGRESS_KIND", "IngressBackend"]

INGRESS_KIND = KindRef(INGRESS_API, "Ingress", "ingresses")
INGRESS_CLASS_KIND = KindRef(INGRESS_API, "IngressClass", "ingressclasses", namespaced=False)

_MANAGED_BY = "cloudtty"


def _websocket_annotations(timeout_seconds: int) -> dict[str, str]:
    # ingress-nginx closes a proxied connection after 60 s without data by default.
    return {
        "nginx.ingress.kubernetes.io/proxy-read-timeout": str(timeout_seconds),
        "nginx.ingress.kubernetes.io/proxy-send-timeout": str(timeout_seconds),
    }


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def _host_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host.count(".") == pattern.count(".")
    return pattern == host


@attrs.frozen
class _Target:
    """Where one shell's route goes, derived from its spec and worker."""

    namespace: str
    name: str
    shared: bool
    host: str | None
    path: str
    service: str
    owned_services: tuple[Manifest, ...]


@attrs.frozen
class IngressBackend:
    """Exposes shells through Ingress objects.

    Attributes:
        name: the exposureMode served.
        websocket_timeout_seconds: proxy read/send timeout annotations for ingress-nginx.
    """

    name: str = "Ingress"
    websocket_timeout_seconds: int = 3600

    @property
    def watched_kinds(self) -> tuple[KindRef, ...]:
        """Ingresses (the route and its status) and IngressClasses (the default class)."""
        return (INGRESS_KIND, INGRESS_CLASS_KIND)

    # The route -------------------------------------------------------------------------------

    def _target(self, shell: CloudShell, worker: WorkerRef) -> _Target:
        config = shell.spec.ingress_config or IngressConfig()
        namespace = config.namespace or shell.namespace
        shared = bool(config.ingress_name)
        name = config.ingress_name or worker.service_name
        services: tuple[Manifest, ...] = (worker_service(worker, "ClusterIP"),)
        service = worker.service_name
        if namespace != shell.namespace:
            # An Ingress reaches only Services of its own namespace: an ExternalName Service
            # there forwards to the worker's Service.
            digest = hashlib.sha256(shell.namespace.encode()).hexdigest()[:6]
            service = dns_label(f"{worker.service_name}-{digest}")
            services += (
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": service, "namespace": namespace},
                    "spec": {
                        "type": "ExternalName",
                        "externalName": (
                            f"{worker.service_name}.{shell.namespace}.svc.cluster.local"
                        ),
                        "ports": [
                            {
                                "name": "http",
                                "port": worker.port,
                                "targetPort": worker.port,
                                "protocol": "TCP",
                            }
                        ],
                    },
                },
            )
        return _Target(
            namespace=namespace,
            name=name,
            shared=shared,
            host=concrete_host(config.host, shell),
            path=route_path(shell),
            service=service,
            owned_services=services,
        )

    def _annotations(self, config: IngressConfig) -> dict[str, str]:
        return {**_websocket_annotations(self.websocket_timeout_seconds), **config.annotations}

    def expose(self, request: ExposureRequest) -> Exposure:
        """The Service(s), the Ingress (owned) or this shell's entry in the shared one, and the
        URL once the observed Ingress routes the shell's path."""
        shell, worker = request.shell, request.worker
        config = shell.spec.ingress_config or IngressConfig()
        target = self._target(shell, worker)
        base_path = f"{target.path}/"
        entry = path_entry(target.path, target.service, worker.port)
        observed = request.cluster.get(INGRESS_API, "Ingress", target.namespace, target.name)

        def waiting(reason: str, message: str, transient: bool = False) -> Exposure:
            return Exposure(
                owned=target.owned_services,
                waiting=Waiting(reason, message, transient),
                base_path=base_path,
            )

        holder = path_holder(observed, target.host, target.path, target.service)
        if holder is not None:
            return waiting(
                "PathConflict",
                f"Ingress {target.namespace}/{target.name} already routes "
                f"{target.host or '*'}{target.path} to {holder}; give the shell another "
                "pathPrefix/pathSuffix or host",
            )
        owned = target.owned_services
        shared: tuple[Manifest, ...] = ()
        if target.shared and observed is not None:
            updated = with_entry(
                observed,
                target.host,
                entry,
                tls_secret=config.tls_secret_name,
                annotations=self._annotations(config),
            )
            if updated != observed:
                shared = (updated,)
        else:
            ingress_class = resolve_ingress_class(request.cluster, config.ingress_class_name)
            if isinstance(ingress_class, Waiting):
                return Exposure(owned=owned, waiting=ingress_class, base_path=base_path)
            ingress = self._new_ingress(target, config, entry, ingress_class)
            if target.shared:
                ingress["metadata"]["labels"] = {LABEL_MANAGED_BY: _MANAGED_BY}
                shared = (ingress,)
            else:
                owned += (ingress,)
        url = self._url(observed, target, bool(config.tls_secret_name))
        if isinstance(url, Waiting):
            return Exposure(owned=owned, shared=shared, waiting=url, base_path=base_path)
        return Exposure(owned=owned, shared=shared, url=url, base_path=base_path)

    def _new_ingress(
        self, target: _Target, config: IngressConfig, entry: Manifest, ingress_class: str
    ) -> Manifest:
        rule: dict[str, Any] = {"host": target.host} if target.host else {}
        rule["http"] = {"paths": [entry]}
        spec: dict[str, Any] = {"ingressClassName": ingress_class, "rules": [rule]}
        if config.tls_secret_name:
            tls: dict[str, Any] = {"secretName": config.tls_secret_name}
            if target.host:
                tls = {"hosts": [target.host], **tls}
            spec["tls"] = [tls]
        return {
            "apiVersion": INGRESS_API,
            "kind": "Ingress",
            "metadata": {
                "name": target.name,
                "namespace": target.namespace,
                "annotations": self._annotations(config),
            },
            "spec": spec,
        }

    def _url(self, observed: Manifest | None, target: _Target, tls_asked: bool) -> str | Waiting:
        where = f"Ingress {target.namespace}/{target.name}"
        placed = [h for h, e in shell_paths(observed, target.service) if h == target.host]
        if observed is None or not placed:
            return Waiting("IngressPending", f"waiting for {where} to route the shell", True)
        spec = observed.get("spec") or {}
        tls_entries = spec.get("tls") or []
        if target.host:
            secure = any(
                any(_host_matches(h, target.host) for h in t.get("hosts") or [])
                for t in tls_entries
            )
        else:
            secure = any(not t.get("hosts") for t in tls_entries)
        scheme = "https" if secure or tls_asked else "http"
        balancers = ((observed.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        host = target.host
        if host is None:
            for balancer in balancers:
                address = balancer.get("hostname") or balancer.get("ip")
                if address:
                    host = _url_host(str(address))
                    break
        if host is None:
            return Waiting(
                "IngressAddressPending",
                f"{where} has no host (spec.ingressConfig.host) and its ingress controller has "
                "not published an address in the Ingress status yet",
                True,
            )
        return f"{scheme}://{host}{self._port(balancers, scheme)}{target.path}/"

    @staticmethod
    def _port(balancers: list[Any], scheme: str) -> str:
        """``:<port>`` when the controller publishes a port other than the scheme's default
        (e.g. a development cluster listening on a high port), else ``""``."""
        ports = [
            int(p["port"])
            for b in balancers
            for p in b.get("ports") or ()
            if p.get("port") and not p.get("error")
        ]
        default = 443 if scheme == "https" else 80
        if not ports or default in ports:
            return ""
        return f":{ports[0]}"

    # Giving back -----------------------------------------------------------------------------

    def release(self, request: ExposureRequest) -> tuple[Manifest, ...]:
        """The shared Ingress without this shell's path (nothing for a per-shell Ingress)."""
        shell = request.shell
        config = shell.spec.ingress_config or IngressConfig()
        target = self._target(shell, request.worker)
        if not target.shared:
            return ()
        observed = request.cluster.get(INGRESS_API, "Ingress", target.namespace, target.name)
        if observed is None:
            return ()
        updated = without_entries(
            observed,
            target.service,
            host=target.host,
            tls_secret=config.tls_secret_name,
        )
        return (updated,) if updated != observed else ()
