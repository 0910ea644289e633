"""Every built-in kind can be created, read, listed, patched and deleted; JSON patch via the API."""

from __future__ import annotations

import pytest
from kubernetes import client

KINDS = [
    (
        "",
        "v1",
        "events",
        True,
        {
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
            "reason": "Test",
            "message": "m",
        },
    ),
    (
        "events.k8s.io",
        "v1",
        "events",
        True,
        {
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "x",
            "reportingInstance": "y",
            "action": "a",
            "reason": "r",
        },
    ),
    ("coordination.k8s.io", "v1", "leases", True, {"spec": {"holderIdentity": "me"}}),
    (
        "batch",
        "v1",
        "jobs",
        True,
        {
            "spec": {
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}
                }
            }
        },
    ),
    ("networking.k8s.io", "v1", "ingressclasses", False, {"spec": {"controller": "x.io/y"}}),
    (
        "networking.k8s.io",
        "v1",
        "ingresses",
        True,
        {"spec": {"defaultBackend": {"service": {"name": "s", "port": {"number": 80}}}}},
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        True,
        {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]},
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        True,
        {
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}],
        },
    ),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", False, {"rules": []}),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        False,
        {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "r"}},
    ),
    ("", "v1", "serviceaccounts", True, {}),
    (
        "",
        "v1",
        "endpoints",
        True,
        {"subsets": [{"addresses": [{"ip": "127.0.0.9"}], "ports": [{"port": 80}]}]},
    ),
]


@pytest.mark.parametrize(
    ("group", "version", "plural", "namespaced", "body"),
    KINDS,
    ids=[f"{k[2]}.{k[0] or 'core'}" for k in KINDS],
)
def test_builtin_kind_roundtrip(sandbox, raw_http, group, version, plural, namespaced, body):
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    collection = (
        f"{sandbox.url}{prefix}" + ("/namespaces/default" if namespaced else "") + f"/{plural}"
    )
    status, created, _ = raw_http(collection, "POST", {"metadata": {"name": "thing"}, **body})
    assert status == 201, created
    assert created["metadata"]["uid"]
    status, got, _ = raw_http(f"{collection}/thing")
    assert (status, got["metadata"]["name"]) == (200, "thing")
    status, listing, _ = raw_http(collection)
    assert "thing" in [i["metadata"]["name"] for i in listing["items"]]
    status, patched, _ = raw_http(
        f"{collection}/thing",
        "PATCH",
        {"metadata": {"labels": {"k": "v"}}},
        {"Content-Type": "application/merge-patch+json"},
    )
    assert (status, patched["metadata"]["labels"]) == (200, {"k": "v"})
    status, _, _ = raw_http(f"{collection}/thing", "DELETE")
    assert status == 200
    assert raw_http(f"{collection}/thing")[0] == 404


def test_json_patch_through_the_client(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "j"}, "data": {"a": "1"}})
    patched = core.patch_namespaced_config_map(
        "j",
        "default",
        [
            {"op": "add", "path": "/data/b", "value": "2"},
            {"op": "replace", "path": "/data/a", "value": "9"},
        ],
    )
    assert patched.data == {"a": "9", "b": "2"}


def test_strategic_merge_through_the_api_merges_containers(sandbox, raw_http):
    url = f"{sandbox.url}/api/v1/namespaces/default/pods"
    raw_http(
        url,
        "POST",
        {
            "metadata": {"name": "p"},
            "spec": {
                "nodeName": "elsewhere",
                "containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}],
            },
        },
    )
    status, pod, _ = raw_http(
        f"{url}/p",
        "PATCH",
        {"spec": {"containers": [{"name": "b", "image": "y:2"}]}},
        {"Content-Type": "application/strategic-merge-patch+json"},
    )
    assert status == 200
    assert [(c["name"], c["image"]) for c in pod["spec"]["containers"]] == [
        ("a", "x:1"),
        ("b", "y:2"),
    ]


def test_table_output_for_builtin_pods(sandbox, raw_http):
    raw_http(
        f"{sandbox.url}/api/v1/namespaces/default/pods",
        "POST",
        {"metadata": {"name": "t"}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
    )
    status, table, _ = raw_http(
        f"{sandbox.url}/api/v1/namespaces/default/pods",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
    )
    assert status == 200
    assert [c["name"] for c in table["columnDefinitions"]][:5] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    assert table["rows"][0]["cells"][0] == "t"
