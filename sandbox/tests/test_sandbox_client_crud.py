"""The official client against the sandbox: CRUD, conflicts, Status bodies, selectors."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException


def _pod(name: str, labels: dict[str, str] | None = None) -> dict:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
    }


def test_discovery_namespaces_and_node(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public"} <= names
    nodes = core.list_node().items
    assert len(nodes) == 1
    addresses = {a.type: a.address for a in nodes[0].status.addresses}
    assert addresses["InternalIP"] == "127.0.0.1"
    assert addresses["ExternalIP"] == "127.0.0.1"
    ready = [c for c in nodes[0].status.conditions if c.type == "Ready"]
    assert ready[0].status == "True"
    version = client.VersionApi(sandbox_api_client).get_code()
    assert version.major == "1"
    groups = {g.name for g in client.ApisApi(sandbox_api_client).get_api_versions().groups}
    assert {"apiextensions.k8s.io", "networking.k8s.io", "coordination.k8s.io"} <= groups


def test_object_semantics_on_create(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    first = core.create_namespaced_config_map(
        "default", {"metadata": {"generateName": "cfg-"}, "data": {"a": "1"}}
    )
    second = core.create_namespaced_config_map("default", {"metadata": {"generateName": "cfg-"}})
    assert first.metadata.name.startswith("cfg-")
    assert len(first.metadata.name) == len("cfg-") + 5
    assert first.metadata.name != second.metadata.name
    assert first.metadata.uid != second.metadata.uid
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    assert first.metadata.creation_timestamp is not None


def test_pod_crud_and_stale_update_conflict(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    pod = _pod("web", {"app": "web"})
    pod["spec"]["nodeName"] = "elsewhere"  # no kubelet writes to it while the test runs
    created = core.create_namespaced_pod("default", pod)
    assert created.status.phase == "Pending"
    got = core.read_namespaced_pod("web", "default")
    assert got.metadata.uid == created.metadata.uid

    got.metadata.labels["tier"] = "front"
    updated = core.replace_namespaced_pod("web", "default", got)
    assert updated.metadata.labels["tier"] == "front"

    stale = got  # still carries the old resourceVersion
    stale.metadata.labels["tier"] = "back"
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_pod("web", "default", stale)
    assert err.value.status == 409
    body = json.loads(err.value.body)
    assert body["kind"] == "Status"
    assert body["reason"] == "Conflict"

    patched = core.patch_namespaced_pod("web", "default", {"metadata": {"labels": {"x": "y"}}})
    assert patched.metadata.labels == {"app": "web", "tier": "front", "x": "y"}

    core.delete_namespaced_pod("web", "default", grace_period_seconds=0)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("web", "default")
    assert err.value.status == 404
    assert json.loads(err.value.body)["reason"] == "NotFound"


def test_already_exists_and_invalid(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_secret("default", {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
    with pytest.raises(ApiException) as err:
        core.create_namespaced_secret("default", {"metadata": {"name": "s"}})
    assert err.value.status == 409
    assert json.loads(err.value.body)["reason"] == "AlreadyExists"

    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(
            "default", {"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c"}]}}
        )
    assert err.value.status == 422
    body = json.loads(err.value.body)
    assert body["reason"] == "Invalid"
    fields = {c["field"] for c in body["details"]["causes"]}
    assert {"metadata.name", "spec.containers[0].image"} <= fields


def test_namespace_must_exist(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("nowhere", {"metadata": {"name": "c"}})
    assert err.value.status == 404
    assert "namespaces" in json.loads(err.value.body)["message"]


def test_secret_and_service_crud(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_secret(
        "default", {"metadata": {"name": "tok"}, "type": "Opaque", "data": {"token": "c2VjcmV0"}}
    )
    secret = core.read_namespaced_secret("tok", "default")
    assert secret.data == {"token": "c2VjcmV0"}
    secret.data["more"] = "bW9yZQ=="
    assert set(core.replace_namespaced_secret("tok", "default", secret).data) == {"token", "more"}
    core.delete_namespaced_secret("tok", "default")
    assert core.list_namespaced_secret("default").items == []

    svc = core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "api"},
            "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    assert svc.spec.cluster_ip.startswith("10.9")
    assert svc.spec.type == "ClusterIP"
    patched = core.patch_namespaced_service(
        "api", "default", {"metadata": {"annotations": {"a": "b"}}}
    )
    assert patched.spec.cluster_ip == svc.spec.cluster_ip
    core.delete_namespaced_service("api", "default")
    assert [s.metadata.name for s in core.list_namespaced_service("default").items] == [
        "kubernetes"
    ]


def test_label_selectors(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    for name, labels in [
        ("a", {"app": "x", "tier": "web"}),
        ("b", {"app": "x", "tier": "db"}),
        ("c", {"app": "y"}),
        ("d", {}),
    ]:
        core.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": labels}})

    def names(selector: str) -> list[str]:
        items = core.list_namespaced_config_map("default", label_selector=selector).items
        return sorted(i.metadata.name for i in items)

    assert names("app=x") == ["a", "b"]
    assert names("app==x,tier!=db") == ["a"]
    assert names("tier in (web, db)") == ["a", "b"]
    assert names("app notin (x)") == ["c", "d"]
    assert names("tier") == ["a", "b"]
    assert names("!tier") == ["c", "d"]
    with pytest.raises(ApiException) as err:
        names("app in (x")
    assert err.value.status == 400


def test_field_selectors(sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespace({"metadata": {"name": "other"}})
    wait(lambda: core.list_namespaced_service_account("other").items)
    core.create_namespaced_pod("default", _pod("p1"))
    core.create_namespaced_pod("other", _pod("p2"))
    by_name = core.list_pod_for_all_namespaces(field_selector="metadata.name=p2").items
    assert [p.metadata.namespace for p in by_name] == ["other"]
    not_default = core.list_pod_for_all_namespaces(
        field_selector="metadata.namespace!=default"
    ).items
    assert [p.metadata.name for p in not_default] == ["p2"]
    wait(lambda: core.list_pod_for_all_namespaces(field_selector="status.phase=Running").items)
    on_node = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=sandbox-node")
    assert len(on_node.items) == 2
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod("default", field_selector="spec.bogus=1")
    assert err.value.status == 400
    assert "field label not supported" in json.loads(err.value.body)["message"]


def test_pagination_with_limit_and_continue(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    for i in range(7):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"cm-{i}"}})
    seen, token = [], None
    while True:
        page = core.list_namespaced_config_map("default", limit=3, _continue=token)
        seen.extend(i.metadata.name for i in page.items)
        token = page.metadata._continue
        if not token:
            break
    assert seen == [f"cm-{i}" for i in range(7)]


def test_delete_collection(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    for name, app in [("a", "x"), ("b", "x"), ("c", "y")]:
        core.create_namespaced_config_map(
            "default", {"metadata": {"name": name, "labels": {"app": app}}}
        )
    core.delete_collection_namespaced_config_map("default", label_selector="app=x")
    left = [c.metadata.name for c in core.list_namespaced_config_map("default").items]
    assert left == ["c"]


def test_delete_preconditions(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "p"}})
    with pytest.raises(ApiException) as err:
        core.delete_namespaced_config_map(
            "p",
            "default",
            body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-the-uid")),
        )
    assert err.value.status == 409
    core.delete_namespaced_config_map(
        "p",
        "default",
        body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=cm.metadata.uid)),
    )
    assert core.list_namespaced_config_map("default").items == []


def test_method_not_allowed_and_unknown_paths(sandbox, raw_http):
    status, body, _ = raw_http(
        f"{sandbox.url}/api/v1/namespaces/default/configmaps/x", "POST", {"metadata": {"name": "x"}}
    )
    assert status == 405
    assert body["reason"] == "MethodNotAllowed"
    status, body, _ = raw_http(f"{sandbox.url}/apis/nope.example.com/v1/things")
    assert status == 404
    assert body["kind"] == "Status"
    status, body, _ = raw_http(
        f"{sandbox.url}/api/v1/namespaces/default/configmaps", "POST", b"{not json"
    )
    assert status == 400
    assert body["reason"] == "BadRequest"


def test_patch_with_resource_version_is_a_precondition(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "claim"}})
    rv = cm.metadata.resource_version
    claimed = core.patch_namespaced_config_map(
        "claim",
        "default",
        {"metadata": {"resourceVersion": rv, "labels": {"claimed-by": "shell-a"}}},
    )
    assert claimed.metadata.labels == {"claimed-by": "shell-a"}
    with pytest.raises(ApiException) as err:  # a second claimer with the same version loses
        core.patch_namespaced_config_map(
            "claim",
            "default",
            {"metadata": {"resourceVersion": rv, "labels": {"claimed-by": "shell-b"}}},
        )
    assert err.value.status == 409
    assert core.read_namespaced_config_map("claim", "default").metadata.labels == {
        "claimed-by": "shell-a"
    }
