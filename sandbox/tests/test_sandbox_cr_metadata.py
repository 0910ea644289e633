"""Objects' metadata and embedded objects are decoded as the API server decodes them: a custom
resource's root ``metadata`` -- and any kind's -- is cut to an ObjectMeta (unknown fields
dropped, or refused by Strict), a value Go cannot decode is a 400 BadRequest rather than a 422,
nodes that keep unknown fields still prune under ``additionalProperties`` and ``items``, and a
root ``object`` without properties keeps only ``apiVersion``, ``kind`` and ``metadata``."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from cloudtty_sandbox.schema import CrdSchema
from cloudtty_sandbox.schemaplan import DecodeError, go_value
from cloudtty_sandbox.schemawalk import walk_prune
from kubernetes.client.rest import ApiException

EMBEDDED = {
    "type": "object",
    "x-kubernetes-embedded-resource": True,
    "x-kubernetes-preserve-unknown-fields": True,
}
ROOT = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "size": {"type": "integer"},
                "template": EMBEDDED,
                # Keeps unknown keys, but its values are still pruned by their schema.
                "byName": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"fixed": {"type": "string"}},
                    "additionalProperties": EMBEDDED,
                },
                "rules": {
                    "type": "array",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "items": {
                        "type": "object",
                        "properties": {"inner": {"type": "object", "properties": {}}},
                    },
                },
            },
        }
    },
}


def _thing(metadata: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.cloudtty.io/v1",
        "kind": "Thing",
        "metadata": {"name": "t", "namespace": "default"} if metadata is None else metadata,
        "spec": spec,
    }


def _pod(**meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **meta}}


def _pruned(obj: dict[str, Any], schema: dict[str, Any] = ROOT) -> list[str]:
    """Prune through CrdSchema, checking the reference walk does the same."""
    reference = copy.deepcopy(obj)
    expected: list[str] = []
    walk_prune(reference, schema, "", expected, top=True)
    dropped = CrdSchema(schema, "Thing").prune(obj)
    assert dropped == expected
    assert obj == reference
    return dropped


# ----------------------------------------------------------------------------- pruning
def test_a_map_that_keeps_unknown_fields_prunes_its_values_by_additional_properties() -> None:
    obj = _thing(
        byName={
            "fixed": "f",
            "web": {**_pod(color="blue"), "spec": {"any": 1}},
            "api": _pod(labels={}),
        }
    )
    # The decoding of embedded objects writes a map key as [key], unlike pruning.
    assert _pruned(obj) == ["spec.byName[web].metadata.color"]
    assert obj["spec"]["byName"] == {
        "fixed": "f",
        "web": {**_pod(), "spec": {"any": 1}},
        "api": _pod(),
    }


def test_items_of_a_list_that_keeps_unknown_fields_keep_theirs_but_prune_their_properties() -> None:
    obj = _thing(rules=[{"inner": {"x": 1}, "free": 2}, "text", {"free": {"y": 3}}])
    assert _pruned(obj) == ["spec.rules[0].inner.x"]
    assert obj["spec"]["rules"] == [{"inner": {}, "free": 2}, "text", {"free": {"y": 3}}]


def test_a_root_object_without_properties_keeps_only_its_type_and_metadata() -> None:
    obj = {**_thing(size=3), "status": {"ready": True}, "other": 1}
    assert _pruned(obj, {"type": "object"}) == ["other", "spec", "status"]
    assert obj == {
        "apiVersion": "example.cloudtty.io/v1",
        "kind": "Thing",
        "metadata": {"name": "t", "namespace": "default"},
    }
    # Keeping unknown fields at the root still keeps them all.
    kept = _thing(size=3)
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    assert CrdSchema(schema, "Thing").prune(kept) == []
    assert kept == _thing(size=3)


# ----------------------------------------------------------------------------- decoding
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"template": {"apiVersion": "v1", "kind": 5}},
            "spec.template.kind: Invalid value: 5: must be a string",
        ),
        (
            {"template": {"apiVersion": ["v1"], "kind": "Pod"}},
            'spec.template.apiVersion: Invalid value: []interface {}{"v1"}: must be a string',
        ),
        (
            {"byName": {"web": {**_pod(), "metadata": "p"}}},
            'spec.byName[web].metadata: Invalid value: "p": json: cannot unmarshal string into '
            "Go value of type v1.ObjectMeta",
        ),
        (
            {"template": _pod(labels={"a": 1.5})},
            'spec.template.metadata: Invalid value: map[string]interface {}{"labels":'
            'map[string]interface {}{"a":1.5}, "name":"p"}: json: cannot unmarshal number into '
            "Go struct field ObjectMeta.labels of type string",
        ),
    ],
)
def test_embedded_objects_go_cannot_decode_stop_pruning(spec: dict[str, Any], message: str) -> None:
    reference = _thing(**copy.deepcopy(spec))
    with pytest.raises(DecodeError) as walked:
        walk_prune(reference, ROOT, "", [], top=True)
    with pytest.raises(DecodeError) as compiled:
        CrdSchema(ROOT, "Thing").prune(_thing(**spec))
    assert str(compiled.value) == str(walked.value) == message


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "null"),
        (True, "true"),
        (-7, "-7"),
        (2.0, "2"),
        (0.25, "0.25"),
        (1e6, "1e+06"),
        (1.5e-7, "1.5e-07"),
        ('a"b', '"a\\"b"'),
        (
            {"b": None, "a": [1, "x"]},
            'map[string]interface {}{"a":[]interface {}{1, "x"}, "b":interface {}(nil)}',
        ),
    ],
)
def test_bad_values_are_shown_as_go_prints_them(value: Any, shown: str) -> None:
    assert go_value(value) == shown


# ----------------------------------------------------------------------------- served
GROUP, VERSION, PLURAL = "example.cloudtty.io", "v1", "things"


@pytest.fixture
def things(serve_things: Any) -> Any:
    return serve_things(ROOT)


def _create(things: Any, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    created: dict[str, Any] = things.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, body, **kwargs
    )
    return created


def _refused(call: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ApiException) as err:
        call(*args, **kwargs)
    return err.value.status, json.loads(err.value.body)


def test_served_custom_resources_lose_unknown_root_metadata(things: Any) -> None:
    meta = {"name": "t", "namespace": "default", "color": "blue", "labels": {}, "finalizers": []}
    created = _create(things, _thing(meta, size=1))
    assert "color" not in created["metadata"]
    # Empty fields are left out, as an encoded ObjectMeta leaves them out.
    assert "labels" not in created["metadata"]
    assert "finalizers" not in created["metadata"]
    stored = things.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "t")
    assert stored["metadata"] == created["metadata"]

    # A replace and a merge patch are decoded the same way.
    stored["metadata"]["shape"] = "round"
    replaced = things.replace_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "t", stored
    )
    assert "shape" not in replaced["metadata"]
    patched = things.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "t", {"metadata": {"size": 3, "labels": {"a": "b"}}}
    )
    assert "size" not in patched["metadata"]
    assert patched["metadata"]["labels"] == {"a": "b"}


def test_served_strict_validation_names_unknown_root_metadata_first(things: Any) -> None:
    meta = {"name": "t", "namespace": "default", "color": "blue"}
    status, body = _refused(
        _create, things, _thing(meta, size=1, extra=2), field_validation="Strict"
    )
    assert (status, body["reason"]) == (400, "BadRequest")
    assert body["message"] == (
        'Thing in version "v1" cannot be handled as a Thing: strict decoding error: '
        'unknown field "metadata.color", unknown field "spec.extra"'
    )
    status, body = _refused(
        things.get_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, "t"
    )
    assert status == 404


def test_served_strict_validation_lists_pruned_fields_sorted(things: Any) -> None:
    # The API server walks a decoded map, in no order, and sorts what its pruning found; the
    # embedded objects' unknown metadata comes after, from a later walk.
    body = {
        **_thing(
            zeta=1,
            size=1,
            alpha=2,
            template={**_pod(name="p", shape="round"), "extra": 1},
            rules=[{"inner": {"b": 1, "a": 2}}],
        ),
        "junk": True,
    }
    status, answer = _refused(_create, things, body, field_validation="Strict")
    assert status == 400
    assert answer["message"].split("strict decoding error: ")[1] == ", ".join(
        f'unknown field "{path}"'
        for path in (
            "junk",
            "spec.alpha",
            "spec.rules[0].inner.a",
            "spec.rules[0].inner.b",
            "spec.zeta",
            "spec.template.metadata.shape",
        )
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (
            _thing({"name": "t", "labels": "a=b"}),
            "json: cannot unmarshal string into Go struct field ObjectMeta.labels of type "
            "map[string]string",
        ),
        (_thing(["t"]), "json: cannot unmarshal array into Go value of type v1.ObjectMeta"),
        (
            _thing(template={"apiVersion": "v1", "kind": 5}),
            "spec.template.kind: Invalid value: 5: must be a string",
        ),
        (
            _thing(byName={"web": _pod(name=7)}),
            'spec.byName[web].metadata: Invalid value: map[string]interface {}{"name":7}: json: '
            "cannot unmarshal number into Go struct field ObjectMeta.name of type string",
        ),
    ],
)
def test_served_bodies_that_cannot_be_decoded_are_bad_requests(
    things: Any, body: dict[str, Any], why: str
) -> None:
    status, answer = _refused(_create, things, body)
    assert (status, answer["reason"], answer["code"]) == (400, "BadRequest", 400)
    assert answer["message"] == f'Thing in version "v1" cannot be handled as a Thing: {why}'


def test_served_builtin_kinds_lose_unknown_metadata_too(sandbox: Any, raw_http: Any) -> None:
    configmaps = f"{sandbox.url}/api/v1/namespaces/default/configmaps"
    body = {"metadata": {"name": "c", "color": "blue", "annotations": {}}, "data": {"k": "v"}}
    status, created, _ = raw_http(configmaps, "POST", body)
    assert status == 201
    assert created["metadata"]["name"] == "c"
    assert "color" not in created["metadata"]
    assert "annotations" not in created["metadata"]

    strict = {"metadata": {"name": "d", "color": "blue"}}
    status, answer, _ = raw_http(f"{configmaps}?fieldValidation=Strict", "POST", strict)
    assert status == 400
    assert answer["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: '
        'unknown field "metadata.color"'
    )
    status, answer, _ = raw_http(configmaps, "POST", {"metadata": {"name": "e", "uid": 1}})
    assert (status, answer["reason"]) == (400, "BadRequest")
    # A built-in kind is decoded whole: Go's type error names the field from the root.
    assert answer["message"].endswith(
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.uid of type string"
    )


def _warnings(sandbox: Any, query: str) -> tuple[int, list[str]]:
    """Create a Thing with an unknown field in its metadata and in its spec through raw HTTP
    (``query`` added to the URL); the status and every ``Warning`` header of the answer."""
    import urllib.request

    body = _thing({"name": "t", "namespace": "default", "color": "blue"}, size=1, extra=2)
    request = urllib.request.Request(
        f"{sandbox.url}/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}{query}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {sandbox.admin_token}",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers.get_all("Warning") or []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "",
            [
                '299 - "unknown field \\"metadata.color\\""',
                '299 - "unknown field \\"spec.extra\\""',
            ],
        ),
        (
            "?fieldValidation=Warn",
            [
                '299 - "unknown field \\"metadata.color\\""',
                '299 - "unknown field \\"spec.extra\\""',
            ],
        ),
        ("?fieldValidation=Ignore", []),
    ],
)
def test_served_unknown_fields_are_warned_of_unless_ignored(
    things: Any, sandbox: Any, query: str, expected: list[str]
) -> None:
    status, warnings = _warnings(sandbox, query)
    assert status == 201
    assert warnings == expected
    stored = things.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "t")
    assert "color" not in stored["metadata"]
    assert stored["spec"] == {"size": 1}
