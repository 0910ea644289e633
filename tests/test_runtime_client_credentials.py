"""The runtime client's credentials: the official client's, reused for a moment, asked again
when the server refuses them."""

from __future__ import annotations

from typing import Any

import pytest
from cloudtty_sandbox import SandboxConfig
from kubernetes import client

from cloudtty_core.runtime.client import ApiError, KubeClient, Resource, TransportError
from cloudtty_core.runtime.testing import client_with_refresh_hook

NAMESPACES = Resource("v1", "Namespace", "namespaces", namespaced=False)


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(pod_start_delay=0.05, rbac=True)


def _token(admin: Any, account: str) -> str:
    core = client.CoreV1Api(admin)
    core.create_namespaced_service_account("default", {"metadata": {"name": account}})
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    return str(
        core.create_namespaced_service_account_token(account, "default", request).status.token
    )


def _client_with_refresh_hook(sandbox: Any, tokens: list[str]) -> tuple[KubeClient, list[int]]:
    return client_with_refresh_hook(sandbox.url, tokens, str(sandbox.ca_path))


def test_requests_in_a_row_ask_the_official_client_for_credentials_once(
    sandbox: Any, sandbox_api_client: Any
) -> None:
    kube, runs = _client_with_refresh_hook(sandbox, [sandbox.admin_token])
    for _ in range(20):
        kube.list(NAMESPACES)
    assert len(runs) == 1


def test_reused_credentials_the_server_refuses_are_asked_for_again(
    sandbox: Any, sandbox_api_client: Any
) -> None:
    tokens = [_token(sandbox_api_client, "first")]
    client.RbacAuthorizationV1Api(sandbox_api_client).create_cluster_role_binding(
        {
            "metadata": {"name": "accounts-view"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "view",
            },
            "subjects": [{"kind": "Group", "name": "system:serviceaccounts"}],
        }
    )
    kube, runs = _client_with_refresh_hook(sandbox, tokens)
    assert kube.get(Resource("v1", "ServiceAccount", "serviceaccounts"), "default", "first")
    # The first token dies (its account goes) and the refresh hook would now give a new one.
    tokens.append(_token(sandbox_api_client, "second"))
    client.CoreV1Api(sandbox_api_client).delete_namespaced_service_account("first", "default")
    answer = kube.get(Resource("v1", "ServiceAccount", "serviceaccounts"), "default", "second")
    assert answer["metadata"]["name"] == "second"
    assert len(runs) == 2


def test_fresh_credentials_the_server_refuses_are_an_error_not_a_loop(sandbox: Any) -> None:
    kube, runs = _client_with_refresh_hook(sandbox, ["not-a-token"])
    with pytest.raises(ApiError) as refused:
        kube.list(NAMESPACES)
    assert refused.value.status == 401
    assert len(runs) == 1


def test_a_refused_connection_is_a_transport_error() -> None:
    kube = KubeClient.for_url("http://127.0.0.1:9", "token")
    with pytest.raises(TransportError):
        kube.list(NAMESPACES)
