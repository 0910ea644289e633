"""The API verbs as requests: what get, list, create, replace, patch, delete and a TokenRequest
send, before anything is sent.

Building a request is apart from sending it so that the synchronous client
(:class:`~cloudtty_core.runtime.client.KubeClient`, in a thread) and the event loop's
connections (:class:`~cloudtty_core.runtime.loophttp.LoopHttp`) send the very same requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from cloudtty_core.backends import ObjectRef
from cloudtty_core.model import Manifest

from .resources import Resource, label_selector

__all__ = [
    "MERGE_PATCH",
    "ApiRequest",
    "create",
    "delete",
    "get",
    "list_page",
    "patch",
    "replace",
    "token_of",
    "token_request",
]

MERGE_PATCH = "application/merge-patch+json"


@attrs.frozen
class ApiRequest:
    """One request to the API server, not sent yet.

    ``path`` is below the server's URL; ``query`` pairs whose value is None are left out;
    ``verb`` and ``resource`` name the request as the API server's metrics do (for
    observers); ``timeout`` is the client's (connect, read) seconds, or None for its default.
    """

    method: str
    path: str
    query: Sequence[tuple[str, Any]] = ()
    body: Any = None
    content_type: str | None = None
    verb: str = ""
    resource: str = ""
    timeout: Any = None


def get(resource: Resource, namespace: str | None, name: str) -> ApiRequest:
    """GET one object."""
    return ApiRequest("GET", resource.path(namespace, name), verb="get", resource=str(resource))


def list_page(
    resource: Resource,
    namespace: str | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    limit: int | None = None,
    continue_: str | None = None,
    resource_version: str | None = None,
) -> ApiRequest:
    """One page of a LIST (``metadata.continue`` of the answer names the next page)."""
    query = (
        ("labelSelector", label_selector(labels)),
        ("limit", limit),
        ("continue", continue_),
        ("resourceVersion", resource_version),
    )
    return ApiRequest("GET", resource.path(namespace), query, verb="list", resource=str(resource))


def create(resource: Resource, manifest: Manifest) -> ApiRequest:
    """POST ``manifest`` (its namespace from ``metadata.namespace``)."""
    namespace = (manifest.get("metadata") or {}).get("namespace")
    return ApiRequest(
        "POST", resource.path(namespace), body=manifest, verb="create", resource=str(resource)
    )


def replace(resource: Resource, manifest: Manifest, subresource: str | None = None) -> ApiRequest:
    """PUT ``manifest``; its ``metadata.resourceVersion`` is a precondition (409)."""
    ref = ObjectRef.of(manifest)
    return ApiRequest(
        "PUT",
        resource.path(ref.namespace, ref.name, subresource),
        body=manifest,
        verb="update",
        resource=str(resource) + (f"/{subresource}" if subresource else ""),
    )


def patch(
    resource: Resource, ref: ObjectRef, merge_patch: Manifest, subresource: str | None = None
) -> ApiRequest:
    """A JSON merge patch; a ``metadata.resourceVersion`` in it is a precondition (409)."""
    return ApiRequest(
        "PATCH",
        resource.path(ref.namespace, ref.name, subresource),
        body=merge_patch,
        content_type=MERGE_PATCH,
        verb="patch",
        resource=str(resource),
    )


def delete(
    resource: Resource, ref: ObjectRef, propagation: str = "Background", uid: str | None = None
) -> ApiRequest:
    """DELETE one object (optionally only if it still has ``uid``)."""
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "propagationPolicy": propagation,
    }
    if uid:
        body["preconditions"] = {"uid": uid}
    return ApiRequest(
        "DELETE",
        resource.path(ref.namespace, ref.name),
        body=body,
        verb="delete",
        resource=str(resource),
    )


def token_request(
    service_accounts: Resource,
    namespace: str,
    service_account: str,
    expiration_seconds: int,
    audiences: Sequence[str] = (),
) -> ApiRequest:
    """A TokenRequest for a ServiceAccount (its answer holds the token: :func:`token_of`)."""
    body: dict[str, Any] = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": int(expiration_seconds)},
    }
    if audiences:
        body["spec"]["audiences"] = list(audiences)
    return ApiRequest(
        "POST",
        service_accounts.path(namespace, service_account, "token"),
        body=body,
        verb="create",
        resource="serviceaccounts/token",
    )


def token_of(answer: Manifest) -> str | None:
    """The token of a TokenRequest's answer (None when it holds none). Never log it."""
    token = (answer.get("status") or {}).get("token")
    return str(token) if token else None
