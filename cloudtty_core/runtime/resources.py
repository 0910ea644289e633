"""Kinds as REST resources: where a kind's objects live on the API server."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

import attrs

from cloudtty_core.backends import KindRef

__all__ = ["BUILTIN_RESOURCES", "Resource", "label_selector"]


@attrs.frozen
class Resource:
    """A kind as a REST resource: where its objects live on the API server."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    @classmethod
    def of(cls, kind: KindRef) -> Resource:
        """The resource of a backend's :class:`~cloudtty_core.KindRef`."""
        return cls(kind.api_version, kind.kind, kind.plural, kind.namespaced)

    @property
    def group(self) -> str:
        """The API group ("" for the core group)."""
        return self.api_version.rpartition("/")[0]

    @property
    def base(self) -> str:
        """``/api/v1`` or ``/apis/<group>/<version>``."""
        return (
            f"/apis/{self.api_version}" if "/" in self.api_version else f"/api/{self.api_version}"
        )

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The collection path (``name`` None) or the object path, optionally a subresource."""
        parts = [self.base]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{quote(namespace, safe='')}")
        parts.append(self.plural)
        if name is not None:
            parts.append(quote(name, safe=""))
            if subresource:
                parts.append(subresource)
        return "/".join(parts)

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


BUILTIN_RESOURCES: tuple[Resource, ...] = (
    Resource("v1", "Pod", "pods"),
    Resource("v1", "Service", "services"),
    Resource("v1", "Secret", "secrets"),
    Resource("v1", "ConfigMap", "configmaps"),
    Resource("v1", "ServiceAccount", "serviceaccounts"),
    Resource("v1", "Event", "events"),
    Resource("v1", "Node", "nodes", namespaced=False),
    Resource("v1", "Namespace", "namespaces", namespaced=False),
    Resource("events.k8s.io/v1", "Event", "events"),
    Resource("coordination.k8s.io/v1", "Lease", "leases"),
    Resource("rbac.authorization.k8s.io/v1", "Role", "roles"),
    Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    Resource("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", namespaced=False),
    Resource("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", False),
    Resource("networking.k8s.io/v1", "Ingress", "ingresses"),
    Resource("networking.k8s.io/v1", "IngressClass", "ingressclasses", namespaced=False),
    Resource(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        namespaced=False,
    ),
)
"""Kinds whose resource names are known without asking the server."""


def label_selector(selector: Mapping[str, str] | None) -> str | None:
    """``{"a": "b"}`` as the query value ``a=b`` (None for no selector)."""
    if not selector:
        return None
    return ",".join(f"{key}={value}" for key, value in sorted(selector.items()))
