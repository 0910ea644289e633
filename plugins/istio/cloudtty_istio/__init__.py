"""cloudtty-istio: the ``VirtualService`` exposure backend (Istio), and the CRDs its tests use."""

from pathlib import Path

from cloudtty_istio.backend import (
    GATEWAY_KIND,
    ISTIO_API,
    VIRTUAL_SERVICE_KIND,
    VirtualServiceBackend,
)
from cloudtty_istio.gateway import Endpoint, gateway_endpoint, split_gateway
from cloudtty_istio.routing import PLACEHOLDER_ROUTE, route_name, route_path, shell_route
from cloudtty_istio.shared import route_holder, shell_routes, with_route, without_route

CRD_DIR = Path(__file__).parent / "crds"
"""The VirtualService and Gateway CRDs (YAML), for schema checks and sandbox clusters."""
VIRTUAL_SERVICE_CRD = CRD_DIR / "virtualservice.yaml"
GATEWAY_CRD = CRD_DIR / "gateway.yaml"

__all__ = [
    "CRD_DIR",
    "GATEWAY_CRD",
    "GATEWAY_KIND",
    "ISTIO_API",
    "PLACEHOLDER_ROUTE",
    "VIRTUAL_SERVICE_CRD",
    "VIRTUAL_SERVICE_KIND",
    "Endpoint",
    "VirtualServiceBackend",
    "gateway_endpoint",
    "route_holder",
    "route_name",
    "route_path",
    "shell_route",
    "shell_routes",
    "split_gateway",
    "with_route",
    "without_route",
]
