"""Finalizers, deletionTimestamp, ownerReference garbage collection (background, foreground,
orphan), namespace termination."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException


def _owner_ref(obj, kind="ConfigMap", controller=True, block=False) -> dict:
    return {
        "apiVersion": "v1",
        "kind": kind,
        "name": obj.metadata.name,
        "uid": obj.metadata.uid,
        "controller": controller,
        "blockOwnerDeletion": block,
    }


def _names(core) -> list[str]:
    return sorted(c.metadata.name for c in core.list_namespaced_config_map("default").items)


def test_finalizer_holds_deletion_until_removed(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "f", "finalizers": ["x.io/hold"]}}
    )
    core.delete_namespaced_config_map("f", "default")
    held = core.read_namespaced_config_map("f", "default")
    assert held.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as err:  # no new finalizers once deleting
        core.patch_namespaced_config_map(
            "f", "default", {"metadata": {"finalizers": ["x.io/hold", "x.io/another"]}}
        )
    assert err.value.status == 422
    core.patch_namespaced_config_map("f", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("f", "default")
    assert err.value.status == 404


def test_background_garbage_collection(sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    owner = core.create_namespaced_config_map("default", {"metadata": {"name": "owner"}})
    for name in ("dep1", "dep2"):
        core.create_namespaced_config_map(
            "default", {"metadata": {"name": name, "ownerReferences": [_owner_ref(owner)]}}
        )
    core.create_namespaced_secret(
        "default", {"metadata": {"name": "dep3", "ownerReferences": [_owner_ref(owner)]}}
    )
    core.delete_namespaced_config_map("owner", "default")
    wait(lambda: _names(core) == [])
    wait(lambda: not core.list_namespaced_secret("default").items)


def test_foreground_deletion_removes_dependents_first(sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    owner = core.create_namespaced_config_map("default", {"metadata": {"name": "owner"}})
    core.create_namespaced_config_map(
        "default",
        {
            "metadata": {
                "name": "dep",
                "finalizers": ["x.io/hold"],
                "ownerReferences": [_owner_ref(owner, block=True)],
            }
        },
    )
    core.delete_namespaced_config_map("owner", "default", propagation_policy="Foreground")
    deleting = core.read_namespaced_config_map("owner", "default")
    assert "foregroundDeletion" in deleting.metadata.finalizers
    assert deleting.metadata.deletion_timestamp is not None
    wait(lambda: core.read_namespaced_config_map("dep", "default").metadata.deletion_timestamp)
    assert "owner" in _names(core)  # the owner waits for its dependent
    core.patch_namespaced_config_map("dep", "default", {"metadata": {"finalizers": None}})
    wait(lambda: _names(core) == [])


def test_orphan_deletion_keeps_dependents(sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    owner = core.create_namespaced_config_map("default", {"metadata": {"name": "owner"}})
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "dep", "ownerReferences": [_owner_ref(owner)]}}
    )
    core.delete_namespaced_config_map("owner", "default", propagation_policy="Orphan")
    wait(lambda: _names(core) == ["dep"])
    assert not core.read_namespaced_config_map("dep", "default").metadata.owner_references


def test_dependent_of_a_missing_owner_is_collected(sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    ghost = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="ghost", uid="no-such-uid"))
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "dep", "ownerReferences": [_owner_ref(ghost)]}}
    )
    wait(lambda: _names(core) == [])


def test_dependent_with_a_live_second_owner_survives(sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    a = core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    b = core.create_namespaced_config_map("default", {"metadata": {"name": "b"}})
    core.create_namespaced_config_map(
        "default",
        {
            "metadata": {
                "name": "dep",
                "ownerReferences": [
                    _owner_ref(a, controller=False),
                    _owner_ref(b, controller=False),
                ],
            }
        },
    )
    core.delete_namespaced_config_map("a", "default")
    wait(lambda: _names(core) == ["b", "dep"])
    core.delete_namespaced_config_map("b", "default")
    wait(lambda: _names(core) == [])


def test_namespace_deletion_empties_it(sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespace({"metadata": {"name": "team"}})
    assert core.read_namespace("team").status.phase == "Active"
    wait(lambda: core.list_namespaced_service_account("team").items)  # the default SA
    core.create_namespaced_config_map("team", {"metadata": {"name": "c"}})
    core.create_namespaced_pod(
        "team",
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
    )
    core.delete_namespace("team")
    assert core.read_namespace("team").status.phase == "Terminating"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("team", {"metadata": {"name": "late"}})
    assert err.value.status == 403

    def gone() -> bool:
        try:
            core.read_namespace("team")
        except ApiException as exc:
            return exc.status == 404
        return False

    wait(gone)
    assert core.list_pod_for_all_namespaces(field_selector="metadata.namespace=team").items == []


def test_system_namespaces_cannot_be_deleted(sandbox_api_client):
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(sandbox_api_client).delete_namespace("kube-system")
    assert err.value.status == 403


def test_no_op_update_keeps_resource_version(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    cm = core.create_namespaced_config_map(
        "default", {"metadata": {"name": "c"}, "data": {"a": "1"}}
    )
    same = core.patch_namespaced_config_map("c", "default", {"data": {"a": "1"}})
    assert same.metadata.resource_version == cm.metadata.resource_version


def test_dry_run_does_not_store(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    preview = core.create_namespaced_config_map(
        "default", {"metadata": {"name": "d"}}, dry_run="All"
    )
    assert preview.metadata.uid
    assert _names(core) == []
