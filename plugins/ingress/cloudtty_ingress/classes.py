"""Choosing the IngressClass of an Ingress the backend creates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudtty_core import ClusterView, Waiting

__all__ = ["DEFAULT_CLASS_ANNOTATION", "INGRESS_API", "resolve_ingress_class"]

INGRESS_API = "networking.k8s.io/v1"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


def _is_default(ingress_class: Mapping[str, Any]) -> bool:
    annotations = (ingress_class.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(DEFAULT_CLASS_ANNOTATION, "")).lower() == "true"


def resolve_ingress_class(cluster: ClusterView, wanted: str | None) -> str | Waiting:
    """The IngressClass to put in ``spec.ingressClassName``, or why there is none.

    A named class must exist. Without a name, the cluster's default class is used (the most
    recently created one when several are marked default, as the API server's admission does).
    """
    if wanted:
        if cluster.get(INGRESS_API, "IngressClass", None, wanted) is None:
            return Waiting(
                "IngressClassNotFound",
                f"IngressClass {wanted!r} (spec.ingressConfig.ingressClassName) does not exist; "
                "install its ingress controller or name an existing class",
            )
        return wanted
    defaults = [c for c in cluster.list(INGRESS_API, "IngressClass") if _is_default(c)]
    if not defaults:
        return Waiting(
            "NoIngressClass",
            "spec.ingressConfig.ingressClassName is not set and no IngressClass is marked as "
            f'the cluster default (annotation {DEFAULT_CLASS_ANNOTATION}: "true"); name a '
            "class or install an ingress controller",
        )
    newest = max(
        defaults,
        key=lambda c: (
            str((c.get("metadata") or {}).get("creationTimestamp") or ""),
            str((c.get("metadata") or {}).get("name") or ""),
        ),
    )
    return str(newest["metadata"]["name"])
