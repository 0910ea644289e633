"""A configured official ``kubernetes`` client for a sandbox."""

from __future__ import annotations

from typing import Any


def api_client(url: str, token: str) -> Any:
    """``kubernetes.client.ApiClient`` talking to ``url`` with the admin bearer token."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = url
    configuration.api_key = {"authorization": token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    configuration.verify_ssl = False
    return client.ApiClient(configuration)
