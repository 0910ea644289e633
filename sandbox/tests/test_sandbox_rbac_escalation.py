"""RBAC's escalation prevention in the sandbox's RBAC mode: a Role, ClusterRole or binding
grants nothing its writer does not hold, unless the writer may ``escalate`` or ``bind``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cloudtty_sandbox import SandboxConfig
from cloudtty_sandbox.escalation import covers
from hypothesis import given
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.rest import ApiException

RBAC = "rbac.authorization.k8s.io"
NS = "default"
ROLE_WRITER = [
    {"apiGroups": [RBAC], "resources": ["roles", "rolebindings"], "verbs": ["create", "update"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
]


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(pod_start_delay=0.05, rbac=True)


def account_api(sandbox: Any, sandbox_api_client: Any, name: str, rules: list[dict[str, Any]]):
    """The RBAC API as ServiceAccount ``name`` of namespace default, granted ``rules`` there."""
    core = client.CoreV1Api(sandbox_api_client)
    admin = client.RbacAuthorizationV1Api(sandbox_api_client)
    core.create_namespaced_service_account(NS, {"metadata": {"name": name}})
    admin.create_namespaced_role(NS, {"metadata": {"name": name}, "rules": rules})
    admin.create_namespaced_role_binding(
        NS,
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NS}],
        },
    )
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    token = core.create_namespaced_service_account_token(name, NS, request).status.token
    return client.RbacAuthorizationV1Api(sandbox.api_client(token))


def role(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name}, "rules": list(rules)}


def binding(name: str, kind: str, role_name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": kind, "name": role_name},
        "subjects": [{"kind": "ServiceAccount", "name": "someone", "namespace": NS}],
    }


def refused(write: Any) -> str:
    with pytest.raises(ApiException) as err:
        write()
    assert err.value.status == 403
    body = json.loads(err.value.body)
    assert body["reason"] == "Forbidden"
    return str(body["message"])


def test_a_role_may_grant_only_what_its_writer_holds(sandbox, sandbox_api_client) -> None:
    rbac = account_api(sandbox, sandbox_api_client, "writer", ROLE_WRITER)
    held = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}
    rbac.create_namespaced_role(NS, role("subset", held))
    message = refused(
        lambda: rbac.create_namespaced_role(
            NS, role("more", held, {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]})
        )
    )
    assert 'roles.rbac.authorization.k8s.io "more" is forbidden' in message
    assert "system:serviceaccount:default:writer" in message
    assert '{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}' in message
    assert "configmaps" not in message  # what it holds is not listed as missing
    # A wildcard is only covered by the same wildcard.
    refused(
        lambda: rbac.create_namespaced_role(
            NS, role("wild", {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]})
        )
    )
    # Changing a role to grant more is refused just the same.
    grown = role("subset", held, {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]})
    refused(lambda: rbac.replace_namespaced_role("subset", NS, grown))


def test_escalate_lets_a_writer_grant_what_it_does_not_hold(sandbox, sandbox_api_client) -> None:
    escalate = {"apiGroups": [RBAC], "resources": ["roles"], "verbs": ["escalate"]}
    rbac = account_api(sandbox, sandbox_api_client, "escalator", [*ROLE_WRITER, escalate])
    secrets = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
    assert rbac.create_namespaced_role(NS, role("more", secrets)).metadata.name == "more"


def test_a_binding_needs_the_roles_permissions_or_bind_on_that_role(
    sandbox, sandbox_api_client
) -> None:
    bind_view = {
        "apiGroups": [RBAC],
        "resources": ["clusterroles"],
        "verbs": ["bind"],
        "resourceNames": ["view"],
    }
    plain = account_api(sandbox, sandbox_api_client, "plain", ROLE_WRITER)
    binder = account_api(sandbox, sandbox_api_client, "binder", [*ROLE_WRITER, bind_view])
    message = refused(
        lambda: plain.create_namespaced_role_binding(NS, binding("to-view", "ClusterRole", "view"))
    )
    assert "is attempting to grant RBAC permissions not currently held" in message
    made = binder.create_namespaced_role_binding(NS, binding("to-view", "ClusterRole", "view"))
    assert made.role_ref.name == "view"
    # bind is for the role it names only.
    refused(
        lambda: binder.create_namespaced_role_binding(NS, binding("to-edit", "ClusterRole", "edit"))
    )
    # A role whose permissions the writer holds may be bound without bind.
    admin = client.RbacAuthorizationV1Api(sandbox_api_client)
    held = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}
    admin.create_namespaced_role(NS, role("readable", held))
    plain.create_namespaced_role_binding(NS, binding("to-readable", "Role", "readable"))
    # A role that does not exist cannot be checked: refused without bind.
    message = refused(
        lambda: plain.create_namespaced_role_binding(NS, binding("to-ghost", "Role", "ghost"))
    )
    assert 'roles.rbac.authorization.k8s.io "ghost" not found' in message


def test_the_cluster_admin_and_the_sandbox_itself_are_not_checked(sandbox_api_client) -> None:
    admin = client.RbacAuthorizationV1Api(sandbox_api_client)
    everything = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
    assert admin.create_namespaced_role(NS, role("all", everything)).metadata.name == "all"


RULES = st.lists(
    st.fixed_dictionaries(
        {
            "apiGroups": st.lists(st.sampled_from(["", "apps", RBAC, "*"]), min_size=1, max_size=2),
            "resources": st.lists(
                st.sampled_from(["pods", "pods/log", "secrets", "*", "*/log"]),
                min_size=1,
                max_size=3,
            ),
            "verbs": st.lists(
                st.sampled_from(["get", "list", "create", "*"]), min_size=1, max_size=3
            ),
        },
        optional={"resourceNames": st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=2)},
    ),
    max_size=4,
)


@given(rules=RULES)
def test_rules_always_cover_themselves(rules: list[dict[str, Any]]) -> None:
    assert covers(rules, rules) == []


@given(rules=RULES, extra=RULES)
def test_more_rules_never_cover_less(
    rules: list[dict[str, Any]], extra: list[dict[str, Any]]
) -> None:
    assert covers([*rules, *extra], rules) == []
    missing = covers(rules, [*rules, *extra])
    assert missing == covers(rules, extra)
