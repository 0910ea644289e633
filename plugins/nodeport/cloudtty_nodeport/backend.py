"""``exposureMode: NodePort``: a NodePort Service; the URL is a node's address and the port.

The address is chosen, in order: the operator's ``node_address`` setting (a load balancer or
DNS name in front of the nodes), the ExternalIP of a Ready node, the InternalIP of a Ready node.
CloudTTY looks only at control-plane nodes, which managed clusters (EKS, AKS, ACK...) do not
show, so it never gave a usable URL there; any Ready node will do, because kube-proxy opens
the node port on every node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from cloudtty_core import (
    ClusterView,
    Exposure,
    ExposureRequest,
    KindRef,
    Manifest,
    Waiting,
    worker_service,
)

__all__ = ["NODE_KIND", "NodePortBackend", "node_address", "node_port"]

NODE_KIND = KindRef("v1", "Node", "nodes", namespaced=False)
"""Nodes are observed to find an address for the URL."""

_ADDRESS_PREFERENCE = ("ExternalIP", "InternalIP")


def _is_ready(node: Mapping[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def node_address(cluster: ClusterView) -> str | None:
    """The ExternalIP of a Ready node, else the InternalIP of one; None without a Ready node.

    Nodes are tried in name order, so every planning pass picks the same address.
    """
    ready: Sequence[Manifest] = sorted(
        (n for n in cluster.list("v1", "Node") if _is_ready(n)),
        key=lambda n: str((n.get("metadata") or {}).get("name") or ""),
    )
    for kind in _ADDRESS_PREFERENCE:
        for node in ready:
            for address in (node.get("status") or {}).get("addresses") or ():
                if address.get("type") == kind and address.get("address"):
                    return str(address["address"])
    return None


def node_port(service: Mapping[str, Any] | None, port_name: str = "http") -> int | None:
    """The node port the API server allocated to the Service's port ``port_name``."""
    ports = ((service or {}).get("spec") or {}).get("ports") or ()
    chosen = next((p for p in ports if p.get("name") == port_name), ports[0] if ports else None)
    value = (chosen or {}).get("nodePort")
    return int(value) if value else None


def _url_host(address: str) -> str:
    # An IPv6 literal needs brackets in a URL.
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


@attrs.frozen
class NodePortBackend:
    """Exposes a shell through a NodePort Service on every node."""

    name: str = "NodePort"

    @property
    def watched_kinds(self) -> tuple[KindRef, ...]:
        """Nodes (their readiness and addresses make the URL)."""
        return (NODE_KIND,)

    def expose(self, request: ExposureRequest) -> Exposure:
        """The Service; the URL once a node address is known and the node port is allocated."""
        worker = request.worker
        service = worker_service(worker, "NodePort")
        address = request.settings.node_address or node_address(request.cluster)
        if address is None:
            return Exposure(
                owned=(service,),
                waiting=Waiting(
                    "NoReadyNode",
                    "no Ready node has an ExternalIP or InternalIP address to build the URL "
                    "from; set the operator's node address (node_address) to a name or "
                    "address that reaches the nodes",
                ),
            )
        observed = request.cluster.get("v1", "Service", worker.namespace, worker.service_name)
        port = node_port(observed)
        if port is None:
            return Exposure(
                owned=(service,),
                waiting=Waiting(
                    "NodePortPending",
                    f"Service {worker.namespace}/{worker.service_name} has no node port yet",
                    transient=True,
                ),
            )
        return Exposure(owned=(service,), url=f"http://{_url_host(address)}:{port}/")

    def release(self, request: ExposureRequest) -> tuple[Manifest, ...]:
        """Nothing is shared: the Service goes with the shell."""
        return ()
