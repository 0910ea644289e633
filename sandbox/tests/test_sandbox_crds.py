"""CustomResourceDefinitions served dynamically: validation, defaults, pruning, status
subresource, generation, printer columns, deletion of the CRD."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

GROUP, VERSION, PLURAL = "example.cloudtty.io", "v1", "widgets"


def _widget(name: str, **spec: object) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.fixture
def widgets(sandbox_api_client, crd):
    ext = client.ApiextensionsV1Api(sandbox_api_client)
    created = ext.create_custom_resource_definition(crd)
    established = {c.type: c.status for c in created.status.conditions}
    assert established["Established"] == "True"
    return client.CustomObjectsApi(sandbox_api_client)


def test_crd_is_discoverable(sandbox_api_client, widgets):
    resources = client.CustomObjectsApi(sandbox_api_client).get_api_resources(GROUP, VERSION)
    names = {r.name for r in resources.resources}
    assert names == {"widgets", "widgets/status"}
    widget = next(r for r in resources.resources if r.name == "widgets")
    assert widget.kind == "Widget"
    assert widget.short_names == ["wg"]
    assert widget.namespaced is True


def test_custom_resource_crud_defaults_and_pruning(widgets):
    created = widgets.create_namespaced_custom_object(
        GROUP,
        VERSION,
        "default",
        PLURAL,
        {
            **_widget("w1", size=3),
            "bogus": 1,
            "spec": {"size": 3, "unknown": "x", "extra": {"kept": True}},
        },
    )
    assert created["spec"] == {"size": 3, "color": "red", "extra": {"kept": True}}
    assert "bogus" not in created
    assert created["metadata"]["generation"] == 1

    listed = widgets.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    assert [w["metadata"]["name"] for w in listed["items"]] == ["w1"]

    created["spec"]["size"] = 4
    replaced = widgets.replace_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "w1", created
    )
    assert replaced["metadata"]["generation"] == 2
    patched = widgets.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "w1", {"metadata": {"labels": {"l": "v"}}}
    )
    assert patched["metadata"]["generation"] == 2  # metadata changes keep the generation
    widgets.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1")
    with pytest.raises(ApiException) as err:
        widgets.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w1")
    assert err.value.status == 404


def test_schema_validation_names_the_field(widgets):
    with pytest.raises(ApiException) as err:
        widgets.create_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, _widget("bad", size="big", color="green")
        )
    assert err.value.status == 422
    body = json.loads(err.value.body)
    assert body["reason"] == "Invalid"
    causes = {c["field"]: c for c in body["details"]["causes"]}
    assert causes["spec.size"]["reason"] == "FieldValueTypeInvalid"
    assert causes["spec.color"]["reason"] == "FieldValueNotSupported"
    assert 'Widget.example.cloudtty.io "bad" is invalid' in body["message"]

    with pytest.raises(ApiException) as err:
        widgets.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, _widget("bad2"))
    causes = json.loads(err.value.body)["details"]["causes"]
    assert causes == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.size"}
    ]

    with pytest.raises(ApiException) as err:
        widgets.create_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, _widget("neg", size=-1)
        )
    assert json.loads(err.value.body)["details"]["causes"][0]["field"] == "spec.size"


def test_status_subresource_separates_spec_and_status(widgets):
    created = widgets.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, {**_widget("w", size=1), "status": {"phase": "X"}}
    )
    assert "status" not in created  # status is ignored on create
    with_status = widgets.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "w", {"status": {"phase": "Ready"}, "spec": {"size": 9}}
    )
    assert with_status["status"] == {"phase": "Ready"}
    assert with_status["spec"]["size"] == 1  # spec changes through /status are ignored
    assert with_status["metadata"]["generation"] == 1
    main = widgets.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "w", {"status": {"phase": "Lost"}}
    )
    assert main["status"] == {"phase": "Ready"}  # status changes through the main resource too


def test_strategic_merge_is_refused_for_custom_resources(sandbox, raw_http, widgets):
    widgets.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, _widget("w", size=1))
    status, body, _ = raw_http(
        f"{sandbox.url}/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}/w",
        "PATCH",
        {"spec": {"size": 2}},
        {"Content-Type": "application/strategic-merge-patch+json"},
    )
    assert status == 415
    assert body["reason"] == "UnsupportedMediaType"


def test_deleting_the_crd_removes_instances_and_the_api(sandbox_api_client, widgets):
    widgets.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, _widget("w", size=1))
    client.ApiextensionsV1Api(sandbox_api_client).delete_custom_resource_definition(
        f"{PLURAL}.{GROUP}"
    )
    with pytest.raises(ApiException) as err:
        widgets.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    assert err.value.status == 404


def test_invalid_crd_is_refused(sandbox_api_client, crd):
    crd["spec"]["versions"][0]["storage"] = False
    crd["metadata"]["name"] = "wrong.example.cloudtty.io"
    with pytest.raises(ApiException) as err:
        client.ApiextensionsV1Api(sandbox_api_client).create_custom_resource_definition(crd)
    assert err.value.status == 422
    fields = {c["field"] for c in json.loads(err.value.body)["details"]["causes"]}
    assert {"metadata.name", "spec.versions"} <= fields


def test_cluster_scoped_crd_and_table_columns(sandbox, raw_http, sandbox_api_client, crd):
    crd["spec"]["scope"] = "Cluster"
    client.ApiextensionsV1Api(sandbox_api_client).create_custom_resource_definition(crd)
    objs = client.CustomObjectsApi(sandbox_api_client)
    objs.create_cluster_custom_object(GROUP, VERSION, PLURAL, _widget("g", size=5))
    status, table, _ = raw_http(
        f"{sandbox.url}/apis/{GROUP}/{VERSION}/{PLURAL}",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
    )
    assert status == 200
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Phase", "Age"]
    assert table["rows"][0]["cells"][:3] == ["g", 5, None]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
