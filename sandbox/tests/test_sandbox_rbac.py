"""The opt-in RBAC mode: bearer tokens are authenticated (admin, static users, issued
ServiceAccount tokens) and requests authorized by Roles, ClusterRoles and their bindings."""

from __future__ import annotations

import functools
import json

import pytest
from cloudtty_sandbox import SandboxConfig, StaticUser
from kubernetes import client
from kubernetes.client.rest import ApiException


@pytest.fixture
def raw_http(sandbox, raw_http):
    """Raw requests that trust the sandbox CA (the API speaks HTTPS in RBAC mode)."""
    return functools.partial(raw_http, cafile=sandbox.ca_path)


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        pod_start_delay=0.05, rbac=True, users=[StaticUser("viewer-token", "alice", ("viewers",))]
    )


def _token(core, namespace: str, account: str) -> str:
    core.create_namespaced_service_account(namespace, {"metadata": {"name": account}})
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    return core.create_namespaced_service_account_token(account, namespace, request).status.token


def _grant(rbac, namespace: str | None, name: str, rules: list, subject: dict) -> None:
    ref_kind = "Role" if namespace else "ClusterRole"
    role = {"metadata": {"name": name}, "rules": rules}
    binding = {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref_kind, "name": name},
        "subjects": [subject],
    }
    if namespace:
        rbac.create_namespaced_role(namespace, role)
        rbac.create_namespaced_role_binding(namespace, binding)
    else:
        rbac.create_cluster_role(role)
        rbac.create_cluster_role_binding(binding)


def test_requests_without_a_valid_token_are_401(sandbox, raw_http):
    status, body, _ = raw_http(f"{sandbox.url}/api/v1/namespaces")
    assert (status, body["reason"]) == (401, "Unauthorized")
    status, _, _ = raw_http(
        f"{sandbox.url}/api/v1/namespaces", headers={"Authorization": "Bearer forged.token.here"}
    )
    assert status == 401
    status, _, _ = raw_http(
        f"{sandbox.url}/api/v1/namespaces",
        headers={"Authorization": f"Bearer {sandbox.admin_token}"},
    )
    assert status == 200


def test_service_account_gets_exactly_what_its_role_grants(sandbox, sandbox_api_client):
    admin_core = client.CoreV1Api(sandbox_api_client)
    rbac = client.RbacAuthorizationV1Api(sandbox_api_client)
    token = _token(admin_core, "default", "shell")
    _grant(
        rbac,
        "default",
        "cm-reader",
        [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "verbs": ["get"],
                "resourceNames": ["allowed"],
            },
        ],
        {"kind": "ServiceAccount", "name": "shell", "namespace": "default"},
    )
    admin_core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    for name in ("allowed", "denied"):
        admin_core.create_namespaced_secret("default", {"metadata": {"name": name}})
    admin_core.create_namespace({"metadata": {"name": "elsewhere"}})

    core = client.CoreV1Api(sandbox.api_client(token))
    assert core.read_namespaced_config_map("c", "default").metadata.name == "c"
    listed = [c.metadata.name for c in core.list_namespaced_config_map("default").items]
    assert listed == ["c", "kube-root-ca.crt"]
    assert core.read_namespaced_secret("allowed", "default").metadata.name == "allowed"
    denied = [
        lambda: core.create_namespaced_config_map("default", {"metadata": {"name": "x"}}),
        lambda: core.delete_namespaced_config_map("c", "default"),
        lambda: core.read_namespaced_secret("denied", "default"),
        lambda: core.list_namespaced_secret("default"),
        lambda: core.list_namespaced_config_map("elsewhere"),
        lambda: core.list_namespace(),
    ]
    for attempt in denied:
        with pytest.raises(ApiException) as err:
            attempt()
        assert err.value.status == 403
    body = json.loads(err.value.body)
    assert body["reason"] == "Forbidden"
    assert (
        'User "system:serviceaccount:default:shell" cannot list resource "namespaces"'
        in (body["message"])
    )


def test_cluster_role_binding_and_groups(sandbox, sandbox_api_client):
    rbac = client.RbacAuthorizationV1Api(sandbox_api_client)
    _grant(
        rbac,
        None,
        "pod-viewer",
        [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}],
        {"kind": "Group", "name": "viewers", "apiGroup": "rbac.authorization.k8s.io"},
    )
    core = client.CoreV1Api(sandbox.api_client("viewer-token"))
    assert core.list_pod_for_all_namespaces().items == []
    with pytest.raises(ApiException) as err:
        core.list_service_for_all_namespaces()
    assert err.value.status == 403


def test_tokens_die_with_their_service_account(sandbox, sandbox_api_client, raw_http):
    admin_core = client.CoreV1Api(sandbox_api_client)
    token = _token(admin_core, "default", "temp")
    headers = {"Authorization": f"Bearer {token}"}
    assert raw_http(f"{sandbox.url}/version", headers=headers)[0] == 200
    admin_core.delete_namespaced_service_account("temp", "default")
    assert raw_http(f"{sandbox.url}/version", headers=headers)[0] == 401


def test_admin_endpoints_need_the_admin(sandbox, sandbox_api_client, raw_http):
    token = _token(client.CoreV1Api(sandbox_api_client), "default", "nosy")
    status, _, _ = raw_http(
        f"{sandbox.url}/sandbox/counters", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 403
    status, _, _ = raw_http(
        f"{sandbox.url}/sandbox/counters",
        headers={"Authorization": f"Bearer {sandbox.admin_token}"},
    )
    assert status == 200


def test_kubectl_auth_can_i_with_a_service_account_kubeconfig(
    sandbox, sandbox_api_client, tmp_path
):
    rbac = client.RbacAuthorizationV1Api(sandbox_api_client)
    token = _token(client.CoreV1Api(sandbox_api_client), "default", "shell")
    _grant(
        rbac,
        "default",
        "pods",
        [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        {"kind": "ServiceAccount", "name": "shell", "namespace": "default"},
    )
    kubeconfig = sandbox.write_kubeconfig(tmp_path / "shell.kubeconfig", token)
    from cloudtty_sandbox.kubectl import run_kubectl

    def can_i(*args: str) -> str:
        result = run_kubectl(
            kubeconfig, ["auth", "can-i", *args], cache_dir=tmp_path / "c", check=False
        )
        return result.stdout.strip()

    assert can_i("get", "pods") == "yes"
    assert can_i("delete", "pods") == "no"
    assert can_i("get", "pods", "-n", "kube-system") == "no"


def test_rbac_off_accepts_any_token(tmp_path):
    from cloudtty_sandbox import run_sandbox_in_thread

    with run_sandbox_in_thread(work_dir=tmp_path) as sb:
        core = client.CoreV1Api(sb.api_client("anything"))
        assert core.list_namespace().items


IN_CLUSTER = """
import os, pathlib, sys
from kubernetes import client
from kubernetes.config.incluster_config import InClusterConfigLoader
root = pathlib.Path(os.environ["CLOUDTTY_SANDBOX_ROOT"])
sa = root / "var/run/secrets/kubernetes.io/serviceaccount"
InClusterConfigLoader(token_filename=str(sa / "token"),
                      cert_filename=str(sa / "ca.crt")).load_and_set()
core = client.CoreV1Api()
names = [c.metadata.name for c in core.list_namespaced_config_map("default").items]
try:
    core.list_namespaced_secret("default")
    secrets = "allowed"
except client.ApiException as exc:
    secrets = str(exc.status)
pathlib.Path(sys.argv[1]).write_text(",".join(names) + "|" + secrets)
"""


def test_in_cluster_client_of_a_local_pod_uses_its_projected_token(
    sandbox, sandbox_api_client, wait, tmp_path
):
    import sys

    core = client.CoreV1Api(sandbox_api_client)
    rbac = client.RbacAuthorizationV1Api(sandbox_api_client)
    core.create_namespaced_service_account("default", {"metadata": {"name": "worker"}})
    _grant(
        rbac,
        "default",
        "cm",
        [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
        {"kind": "ServiceAccount", "name": "worker", "namespace": "default"},
    )
    out = tmp_path / "out.txt"
    sandbox.call(lambda: sandbox.sandbox.config.local_images.__setitem__("example.com/py", []))
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "w"},
            "spec": {
                "serviceAccountName": "worker",
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "c",
                        "image": "example.com/py",
                        "command": [sys.executable, "-c", IN_CLUSTER, str(out)],
                    }
                ],
            },
        },
    )
    wait(lambda: core.read_namespaced_pod("w", "default").status.phase in ("Succeeded", "Failed"))
    assert core.read_namespaced_pod("w", "default").status.phase == "Succeeded", (
        core.read_namespaced_pod_log("w", "default")
    )
    assert out.read_text() == "kube-root-ca.crt|403"
