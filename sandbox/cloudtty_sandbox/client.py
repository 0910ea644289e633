"""A configured official ``kubernetes`` client for a sandbox."""

from __future__ import annotations

from typing import Any


def api_client(url: str, token: str, ca_path: str | None = None) -> Any:
    """``kubernetes.client.ApiClient`` for ``url`` with a bearer token (and the sandbox CA)."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = url
    configuration.api_key = {"authorization": token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    configuration.verify_ssl = ca_path is not None
    if ca_path is not None:
        configuration.ssl_ca_cert = ca_path
    return client.ApiClient(configuration)
