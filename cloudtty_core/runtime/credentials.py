"""Kubeconfigs for shells that bring none: a per-shell ServiceAccount's token, never the
operator's own credentials.

The planner asks for one with a :class:`~cloudtty_core.KubeconfigIssue` (after it planned the
ServiceAccount and its RoleBinding). The runtime requests a token for that ServiceAccount
through the TokenRequest API -- with the lifetime the planner chose from the shell's ttl --
and writes it as a kubeconfig into a Secret the shell owns. The token exists only in memory
here and in that Secret: never in a log line, an event, the status or an error message.
"""

from __future__ import annotations

import base64
from typing import Any

import yaml

from cloudtty_core.model import Manifest
from cloudtty_core.plan import KubeconfigIssue

from .api import AsyncApi
from .client import AlreadyExists, ApiError, Resource

__all__ = ["issue_kubeconfig", "kubeconfig_secret", "kubeconfig_text"]

_SECRETS = Resource("v1", "Secret", "secrets")


def kubeconfig_text(
    server: str,
    token: str,
    *,
    namespace: str,
    user: str,
    ca_data: bytes | None = None,
    cluster: str = "cloudtty",
) -> str:
    """A kubeconfig for ``server`` authenticating with ``token``, defaulting to ``namespace``."""
    cluster_entry: dict[str, Any] = {"server": server}
    if server.startswith("https://") and ca_data:
        cluster_entry["certificate-authority-data"] = base64.b64encode(ca_data).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": cluster_entry}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": cluster, "context": {"cluster": cluster, "user": user, "namespace": namespace}}
        ],
        "current-context": cluster,
        "preferences": {},
    }
    return str(yaml.safe_dump(config, sort_keys=False))


def kubeconfig_secret(issue: KubeconfigIssue, text: str) -> Manifest:
    """The Secret (key ``config``) holding a generated kubeconfig, owned by the shell."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": issue.secret_name,
            "namespace": issue.namespace,
            "labels": dict(issue.labels),
            "ownerReferences": [dict(o) for o in issue.owner_references],
        },
        "data": {"config": base64.b64encode(text.encode()).decode()},
    }


def _redacted(error: ApiError, what: str) -> ApiError:
    # The server's message may quote the request; keep the code, drop the text.
    return type(error)(
        error.status,
        error.reason,
        f"{what} failed ({error.reason})",
        retry_after=error.retry_after,
    )


async def issue_kubeconfig(
    api: AsyncApi, issue: KubeconfigIssue, *, ca_data: bytes | None = None
) -> Manifest:
    """Request a token for the shell's ServiceAccount and store its kubeconfig; the Secret as
    written (its ``data`` holds the credential: do not log it)."""
    what = f"issuing a kubeconfig for ServiceAccount {issue.namespace}/{issue.service_account}"
    try:
        token = await api.request_token(
            issue.namespace, issue.service_account, issue.expiration_seconds
        )
    except ApiError as error:
        raise _redacted(error, what) from None
    text = kubeconfig_text(
        issue.server,
        token,
        namespace=issue.namespace,
        user=issue.service_account,
        ca_data=ca_data,
    )
    secret = kubeconfig_secret(issue, text)
    del token, text
    try:
        try:
            return await api.create(secret)
        except AlreadyExists:
            # A Secret of that name exists without a kubeconfig (or our cache was behind):
            # take it over, keeping the server's resourceVersion as precondition.
            current = await api.get(_SECRETS, issue.namespace, issue.secret_name)
            if "config" in (current.get("data") or {}):
                return current
            secret["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            return await api.replace(secret)
    except ApiError as error:
        raise _redacted(error, f"writing Secret {issue.namespace}/{issue.secret_name}") from None
