"""Custom resource validation on update re-checks only the top-level fields that changed (the
API server's validation ratcheting), and still reports every problem of what changed."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cloudtty_sandbox.errors import ApiError
from cloudtty_sandbox.sandbox import Sandbox


def _widgets(crd: dict[str, Any]) -> tuple[Sandbox, Any]:
    sb = Sandbox()
    reg = sb.registry
    sb.cluster.create(reg.lookup("", "v1", "namespaces"), None, {"metadata": {"name": "ns"}})
    sb.cluster.create(
        reg.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions"), None, crd
    )
    rtype = reg.lookup("example.cloudtty.io", "v1", "widgets")
    assert rtype is not None
    return sb, rtype


def _fields(exc: pytest.ExceptionInfo[ApiError]) -> set[str]:
    return {c["field"] for c in exc.value.status()["details"]["causes"]}


def test_changed_fields_are_validated_with_their_full_paths(crd):
    sb, widgets = _widgets(crd)
    sb.cluster.create(widgets, "ns", {"metadata": {"name": "w"}, "spec": {"size": 1}})
    current = sb.cluster.get(widgets, "ns", "w")
    with pytest.raises(ApiError) as bad_status:
        sb.cluster.update(
            widgets, "ns", "w", {**current, "status": {"phase": 7}}, subresource="status"
        )
    assert _fields(bad_status) == {"status.phase"}
    with pytest.raises(ApiError) as bad_spec:
        sb.cluster.update(widgets, "ns", "w", {**current, "spec": {"size": -1, "color": "green"}})
    assert _fields(bad_spec) == {"spec.size", "spec.color"}
    with pytest.raises(ApiError) as missing:
        sb.cluster.update(widgets, "ns", "w", {**current, "spec": {"color": "red"}})
    assert _fields(missing) == {"spec.size"}


def test_an_unchanged_field_invalid_under_a_newer_schema_does_not_block_other_writes(crd):
    sb, widgets = _widgets(crd)
    sb.cluster.create(widgets, "ns", {"metadata": {"name": "w"}, "spec": {"size": 50}})
    # The CRD tightens spec.size after the object was stored.
    crds = sb.registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    stored = sb.cluster.get(crds, None, crd["metadata"]["name"])
    tightened = copy.deepcopy(stored)
    schema = tightened["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["size"]["maximum"] = 10
    sb.cluster.update(crds, None, crd["metadata"]["name"], tightened)
    widgets = sb.registry.lookup("example.cloudtty.io", "v1", "widgets")
    current = sb.cluster.get(widgets, "ns", "w")
    updated = sb.cluster.update(
        widgets, "ns", "w", {**current, "status": {"phase": "Ready"}}, subresource="status"
    )
    assert updated["status"] == {"phase": "Ready"}
    labelled = {**updated, "metadata": {**updated["metadata"], "labels": {"a": "b"}}}
    assert sb.cluster.update(widgets, "ns", "w", labelled)["metadata"]["labels"] == {"a": "b"}
    with pytest.raises(ApiError) as too_big:
        sb.cluster.update(widgets, "ns", "w", {**labelled, "spec": {"size": 40}})
    assert _fields(too_big) == {"spec.size"}
    with pytest.raises(ApiError):
        sb.cluster.create(widgets, "ns", {"metadata": {"name": "w2"}, "spec": {"size": 50}})
