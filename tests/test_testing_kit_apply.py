"""apply_plan simulates what the API server does with a plan."""

from __future__ import annotations

import pytest

from cloudtty_core import CloudShellStatus, ObjectRef, Patch, Plan, Snapshot
from cloudtty_core.testing import (
    AlreadyExists,
    Conflict,
    NotFound,
    apply_plan,
    create,
    delete,
    merge_patch,
)


def cm(name: str, **extra: object) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "d", **extra},
    }


def ref(name: str, kind: str = "ConfigMap") -> ObjectRef:
    return ObjectRef("v1", kind, "d", name)


def test_create_assigns_server_fields_and_completes_generate_name() -> None:
    snap = create(
        Snapshot(),
        cm("a"),
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "w-", "namespace": "d"}},
    )
    a = snap.get("v1", "ConfigMap", "d", "a")
    assert a is not None
    assert a["metadata"]["uid"]
    assert a["metadata"]["resourceVersion"]
    pods = snap.list("v1", "Pod")
    assert pods[0]["metadata"]["name"].startswith("w-")
    assert pods[0]["status"]["phase"] == "Pending"
    with pytest.raises(AlreadyExists):
        create(snap, cm("a"))


def test_stale_resource_versions_conflict() -> None:
    snap = create(Snapshot(), cm("a"))
    current = snap.get("v1", "ConfigMap", "d", "a")
    assert current is not None
    snap2 = apply_plan(snap, Plan(updates=({**current, "data": {"x": "1"}},)))
    with pytest.raises(Conflict):
        apply_plan(snap2, Plan(updates=({**current, "data": {"x": "2"}},)))
    with pytest.raises(NotFound):
        apply_plan(
            snap,
            Plan(
                updates=(
                    {**cm("zzz"), "metadata": {**cm("zzz")["metadata"], "resourceVersion": "1"}},
                )
            ),
        )


def test_services_get_addresses_and_node_ports() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s", "namespace": "d"},
        "spec": {"type": "NodePort", "ports": [{"port": 80}]},
    }
    snap = create(Snapshot(), service)
    got = snap.get("v1", "Service", "d", "s")
    assert got is not None
    assert got["spec"]["clusterIP"].startswith("10.96.")
    assert 30000 <= got["spec"]["ports"][0]["nodePort"] <= 32767


def test_secrets_store_string_data_as_base64_data() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "d"},
        "stringData": {"k": "hi"},
    }
    got = create(Snapshot(), secret).get("v1", "Secret", "d", "s")
    assert got is not None
    assert got["data"] == {"k": "aGk="}
    assert "stringData" not in got


def test_finalizers_delay_deletion_and_owners_are_collected() -> None:
    snap = create(Snapshot(), cm("owner", finalizers=["x/y"]))
    owner = snap.get("v1", "ConfigMap", "d", "owner")
    assert owner is not None
    owned = cm(
        "child",
        ownerReferences=[{"uid": owner["metadata"]["uid"], "kind": "ConfigMap", "name": "owner"}],
    )
    snap = create(snap, owned)
    snap = delete(snap, ref("owner"))
    marked = snap.get("v1", "ConfigMap", "d", "owner")
    assert marked is not None
    assert marked["metadata"]["deletionTimestamp"]
    patch = Patch(
        ref("owner"),
        {"metadata": {"finalizers": [], "resourceVersion": marked["metadata"]["resourceVersion"]}},
    )
    snap = apply_plan(snap, Plan(final_patches=(patch,)))
    assert snap.get("v1", "ConfigMap", "d", "owner") is None
    assert snap.get("v1", "ConfigMap", "d", "child") is None


def test_merge_patch_follows_rfc_7386() -> None:
    assert merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"a": None, "b": {"c": 5}, "e": [1]}) == {
        "b": {"c": 5, "d": 3},
        "e": [1],
    }


def test_a_status_needs_the_shell() -> None:
    with pytest.raises(ValueError, match="shell="):
        apply_plan(Snapshot(), Plan(status=CloudShellStatus()))
