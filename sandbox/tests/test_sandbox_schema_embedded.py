"""Embedded resources (``x-kubernetes-embedded-resource``) in CRD schemas: their apiVersion, kind
and metadata survive pruning, their metadata is cut to what an ObjectMeta holds, and they are
validated as the API server validates them -- through ``CrdSchema``, the CRD checks, and a
served sandbox with the official client."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from cloudtty_sandbox.schema import CrdSchema, structural_problems
from cloudtty_sandbox.schemaplan import DecodeError, compile_pruner, read_object_meta
from cloudtty_sandbox.schemawalk import walk_prune
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes.client.rest import ApiException

EMBEDDED_ANY = {
    "type": "object",
    "x-kubernetes-embedded-resource": True,
    "x-kubernetes-preserve-unknown-fields": True,
}
EMBEDDED_TYPED = {
    "type": "object",
    "x-kubernetes-embedded-resource": True,
    "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
        "data": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
ROOT = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "template": EMBEDDED_ANY,
                "typed": EMBEDDED_TYPED,
                "list": {"type": "array", "items": EMBEDDED_TYPED},
                "byName": {"type": "object", "additionalProperties": EMBEDDED_ANY},
                "plain": {
                    "type": "object",
                    "properties": {"data": {"type": "string"}},
                },
            },
        }
    },
}


def _thing(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.cloudtty.io/v1",
        "kind": "Thing",
        "metadata": {"name": "t", "namespace": "default"},
        "spec": spec,
    }


def _pod(**meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **meta}}


def _pruned(obj: dict[str, Any], schema: dict[str, Any] = ROOT) -> list[str]:
    """Prune through CrdSchema, checking the reference walk drops the same paths."""
    reference = copy.deepcopy(obj)
    expected: list[str] = []
    walk_prune(reference, schema, "", expected, top=True)
    dropped = CrdSchema(schema, "Thing").prune(obj)
    assert dropped == expected
    assert obj == reference
    return dropped


# ----------------------------------------------------------------------------- pruning
def test_an_embedded_object_keeps_its_type_and_metadata_and_loses_unknown_metadata() -> None:
    obj = _thing(
        template={
            **_pod(labels={"app": "web"}, color="blue", annotations={}),
            "spec": {"containers": [{"name": "c"}]},
            "anything": 1,
        }
    )
    dropped = _pruned(obj)
    assert dropped == ["spec.template.metadata.color"]
    template = obj["spec"]["template"]
    assert template["apiVersion"] == "v1"
    assert template["kind"] == "Pod"
    # Empty fields are left out as an ObjectMeta's encoding leaves them out.
    assert template["metadata"] == {"name": "p", "labels": {"app": "web"}}
    assert template["spec"] == {"containers": [{"name": "c"}]}
    assert template["anything"] == 1


def test_typed_embedded_objects_keep_fields_their_properties_do_not_name() -> None:
    obj = _thing(
        typed={
            **_pod(namespace="ns", generateName="p-", bogus=True),
            "data": {"k": "v"},
            "stray": 1,
        }
    )
    dropped = _pruned(obj)
    assert dropped == ["spec.typed.stray", "spec.typed.metadata.bogus"]
    # metadata's own schema names only ``name``: it does not prune the ObjectMeta fields.
    assert obj["spec"]["typed"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns", "generateName": "p-"},
        "data": {"k": "v"},
    }


def test_embedded_objects_in_lists_and_maps_are_found() -> None:
    obj = _thing(
        list=[{**_pod(x=1), "y": 2}, {"data": {}}],
        byName={"a": _pod(z=3), "b": {"kind": "Pod", "free": True}},
    )
    dropped = _pruned(obj)
    # Pruned fields first, then the embedded objects' unknown metadata fields, sorted, with
    # map keys written [key] as the API server's decoding writes them.
    assert dropped == [
        "spec.list[0].y",
        "spec.byName[a].metadata.z",
        "spec.list[0].metadata.x",
    ]
    assert obj["spec"]["list"][0] == _pod()
    assert obj["spec"]["byName"]["b"] == {"kind": "Pod", "free": True}


def test_a_node_that_is_not_embedded_prunes_apiversion_kind_and_metadata() -> None:
    obj = _thing(plain={**_pod(), "data": "d"})
    assert _pruned(obj) == ["spec.plain.apiVersion", "spec.plain.kind", "spec.plain.metadata"]
    assert obj["spec"]["plain"] == {"data": "d"}


def test_the_root_keeps_its_own_fields_even_when_its_schema_names_them() -> None:
    root = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
            "kind": {"type": "object", "properties": {}},
        },
    }
    obj = _thing()
    obj["metadata"]["labels"] = {"a": "b"}
    assert _pruned(obj, root) == []
    assert obj["metadata"] == {"name": "t", "namespace": "default", "labels": {"a": "b"}}
    assert obj["kind"] == "Thing"


def test_embedded_metadata_is_written_back_as_an_object_meta() -> None:
    meta = {
        "name": "p",
        "uid": "",
        "generation": 0,
        "deletionGracePeriodSeconds": 0,
        "creationTimestamp": "2024-05-06T07:08:09.123456+02:00",
        "labels": {"a": None},
        "finalizers": ["f", None],
        "ownerReferences": [{"name": "o", "controller": True, "extra": 1}],
        "managedFields": [{"manager": "m", "operation": "", "fieldsV1": {"f:a": {}}, "x": 1}],
    }
    kept, unknown = read_object_meta(meta, "spec.template.metadata.")
    assert kept == {
        "name": "p",
        "deletionGracePeriodSeconds": 0,
        "creationTimestamp": "2024-05-06T05:08:09Z",
        "labels": {"a": ""},
        "finalizers": ["f", ""],
        "ownerReferences": [
            {"name": "o", "controller": True, "apiVersion": "", "kind": "", "uid": ""}
        ],
        "managedFields": [{"manager": "m", "fieldsV1": {"f:a": {}}}],
    }
    assert unknown == [
        "spec.template.metadata.ownerReferences[0].extra",
        "spec.template.metadata.managedFields[0].x",
    ]
    assert read_object_meta(None) == ({}, [])


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        (
            "text",
            "json: cannot unmarshal string into Go value of type v1.ObjectMeta",
        ),
        (
            {"name": 5},
            "json: cannot unmarshal number into Go struct field ObjectMeta.name of type string",
        ),
        (
            {"generation": 1.5},
            "json: cannot unmarshal number 1.5 into Go struct field ObjectMeta.generation of "
            "type int64",
        ),
        (
            {"labels": ["a"]},
            "json: cannot unmarshal array into Go struct field ObjectMeta.labels of type "
            "map[string]string",
        ),
        ({"creationTimestamp": "yesterday"}, 'parsing time "yesterday"'),
    ],
)
def test_metadata_an_object_meta_cannot_hold_is_refused(meta: Any, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("[", r"\[").replace(".", r"\.")):
        read_object_meta(meta)


def test_malformed_embedded_metadata_fails_decoding() -> None:
    obj = _thing(template={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": 5, "x": 1}})
    with pytest.raises(DecodeError) as err:
        CrdSchema(ROOT, "Thing").prune(obj)
    assert str(err.value) == (
        'spec.template.metadata: Invalid value: map[string]interface {}{"name":5, "x":1}: '
        "json: cannot unmarshal number into Go struct field ObjectMeta.name of type string"
    )


def test_pruning_twice_drops_nothing_more() -> None:
    obj = _thing(template=_pod(color="x", labels={}), list=[{**_pod(y=1), "z": 2}])
    assert _pruned(obj)
    once = copy.deepcopy(obj)
    assert _pruned(obj) == []
    assert obj == once


# ----------------------------------------------------------------------------- validation
def _causes(**spec: Any) -> list[tuple[str, str, str]]:
    obj = _thing(**spec)
    schema = CrdSchema(ROOT, "Thing")
    schema.prune(obj)
    return [(c.field, c.message, c.reason) for c in schema.validate(obj)]


def test_a_valid_embedded_object_passes() -> None:
    assert _causes(template=_pod(labels={"a": "b"}), byName={"x": _pod()}) == []


def test_apiversion_and_kind_are_required_even_where_unknown_fields_are_kept() -> None:
    assert _causes(template={"metadata": {"name": "p"}}, list=[{"kind": "Pod"}]) == [
        ("spec.template.apiVersion", "Required value", "FieldValueRequired"),
        ("spec.template.kind", "Required value", "FieldValueRequired"),
        ("spec.list[0].apiVersion", "Required value", "FieldValueRequired"),
    ]
    # metadata is not required.
    assert _causes(template={"apiVersion": "v1", "kind": "Pod"}) == []


def test_apiversion_and_kind_must_be_well_formed() -> None:
    causes = _causes(
        template={"apiVersion": "a/b/c", "kind": "Pod_Thing"},
        byName={"x": {"apiVersion": "v1", "kind": ""}},
    )
    assert causes == [
        (
            "spec.template.apiVersion",
            'Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c',
            "FieldValueInvalid",
        ),
        (
            "spec.template.kind",
            'Invalid value: "Pod_Thing": may have mixed case, but should otherwise match: a '
            "DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
            "with an alphabetic character, and end with an alphanumeric character (e.g. "
            "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
            "FieldValueInvalid",
        ),
        ("spec.byName[x].kind", "Required value", "FieldValueRequired"),
    ]


def test_embedded_metadata_is_validated_as_object_metadata() -> None:
    causes = _causes(
        template=_pod(name="a/b", namespace="Bad_NS", labels={"bad key!": "v"}),
        typed={"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "x%"}},
    )
    fields = [c[0] for c in causes]
    assert fields == [
        "spec.template.metadata.name",
        "spec.template.metadata.namespace",
        "spec.template.metadata.labels",
        "spec.typed.metadata.generateName",
    ]
    assert causes[0][1] == "Invalid value: \"a/b\": may not contain '/'"
    assert causes[1][1].startswith('Invalid value: "Bad_NS": a lowercase RFC 1123 label')
    assert causes[3][1] == "Invalid value: \"x%\": may not contain '%'"


def test_embedded_checks_run_on_updates_too() -> None:
    schema = CrdSchema(ROOT, "Thing")
    old = _thing(template=_pod())
    new = _thing(template={"kind": "Pod"})
    assert [c.field for c in schema.validate(new, old)] == ["spec.template.apiVersion"]


def test_schemas_without_embedded_objects_pay_nothing() -> None:
    plain = {"type": "object", "properties": {"spec": {"type": "object"}}}
    assert CrdSchema(plain, "Thing")._embedded is None
    assert compile_pruner({"type": "string", "x-kubernetes-embedded-resource": True}) is not None


# ----------------------------------------------------------------------------- the CRD itself
def test_an_embedded_node_must_be_an_object_that_says_what_it_holds() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"x-kubernetes-embedded-resource": True},
            "b": {"type": "string", "x-kubernetes-embedded-resource": True},
            "c": {"type": "object", "x-kubernetes-embedded-resource": True},
            "d": EMBEDDED_ANY,
            "e": EMBEDDED_TYPED,
        },
    }
    found = [(c.field, c.message) for c in structural_problems(schema)]
    p = "openAPIV3Schema.properties"
    without = (
        "must not be empty if x-kubernetes-embedded-resource is true without "
        "x-kubernetes-preserve-unknown-fields"
    )
    assert found == [
        (
            f"{p}[a].type",
            "Required value: must be object if x-kubernetes-embedded-resource is true",
        ),
        (f"{p}[a].properties", f"Required value: {without}"),
        (
            f"{p}[b].type",
            'Invalid value: "string": must be object if x-kubernetes-embedded-resource is true',
        ),
        (f"{p}[b].properties", f"Required value: {without}"),
        (f"{p}[c].properties", f"Required value: {without}"),
    ]


# ----------------------------------------------------------------------------- properties
_META_VALUES = st.one_of(
    st.none(),
    st.sampled_from(["", "x", "2024-01-02T03:04:05Z", 0, 2, 1.5, True]),
    st.dictionaries(st.sampled_from(["a", "b"]), st.sampled_from(["v", "", None, 1])),
    st.lists(st.sampled_from(["f", None, {"name": "o", "junk": 1}, 3]), max_size=2),
)
_METAS = st.dictionaries(
    st.sampled_from(
        [
            "name",
            "labels",
            "annotations",
            "generation",
            "creationTimestamp",
            "finalizers",
            "ownerReferences",
            "managedFields",
            "uid",
            "bogus",
            "spec",
        ]
    ),
    _META_VALUES,
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(_METAS)
def test_read_object_meta_is_idempotent_and_keeps_only_object_meta_fields(meta: Any) -> None:
    try:
        kept, unknown = read_object_meta(copy.deepcopy(meta))
    except ValueError:
        return
    assert set(kept) <= set(meta) - {"bogus", "spec"}
    assert all(value not in ("", 0, {}, [], None) for key, value in kept.items() if key != "uid")
    assert [u for u in unknown if u.count(".") == 1] == [
        f"metadata.{k}" for k in meta if k in ("bogus", "spec")
    ]
    again, unknown_again = read_object_meta(copy.deepcopy(kept))
    assert again == kept
    assert unknown_again == []


# ----------------------------------------------------------------------------- served
GROUP, VERSION, PLURAL = "example.cloudtty.io", "v1", "things"


@pytest.fixture
def things(serve_things: Any) -> Any:
    return serve_things(ROOT)


def test_served_embedded_objects_keep_their_identity_and_lose_unknown_metadata(
    things: Any,
) -> None:
    body = _thing(
        template={**_pod(color="blue"), "spec": {"containers": []}},
        list=[{**_pod(), "data": {"k": "v"}, "x": 1}],
    )
    created = things.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
    assert created["spec"]["template"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": []},
    }
    assert created["spec"]["list"] == [{**_pod(), "data": {"k": "v"}}]
    stored = things.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "t")
    assert stored["spec"] == created["spec"]


def test_served_strict_validation_names_unknown_embedded_metadata(things: Any) -> None:
    body = _thing(template=_pod(color="blue"))
    with pytest.raises(ApiException) as err:
        things.create_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, body, field_validation="Strict"
        )
    assert err.value.status == 400
    message = json.loads(err.value.body)["message"]
    assert message.endswith('strict decoding error: unknown field "spec.template.metadata.color"')


def test_served_embedded_object_without_kind_is_invalid(things: Any) -> None:
    body = _thing(template={"apiVersion": "v1", "metadata": {"name": "p"}})
    with pytest.raises(ApiException) as err:
        things.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
    assert err.value.status == 422
    causes = json.loads(err.value.body)["details"]["causes"]
    assert causes == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.template.kind"}
    ]
