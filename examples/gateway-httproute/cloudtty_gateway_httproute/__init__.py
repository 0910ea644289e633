"""cloudtty-gateway-httproute: the ``HTTPRoute`` exposure backend (Gateway API), an example."""

from pathlib import Path

from cloudtty_gateway_httproute.backend import (
    GATEWAY_API,
    GATEWAY_KIND,
    HTTPROUTE_KIND,
    HTTPRouteBackend,
)

CRDS = Path(__file__).parent / "crds" / "gateway-api.yaml"
"""The Gateway and HTTPRoute CRDs (the subset this backend uses), for schema checks."""

__all__ = ["CRDS", "GATEWAY_API", "GATEWAY_KIND", "HTTPROUTE_KIND", "HTTPRouteBackend"]
