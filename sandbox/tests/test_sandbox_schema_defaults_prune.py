"""Compiled defaulting and pruning of custom objects give exactly what the generic walk over the
raw ``openAPIV3Schema`` gave: the same resulting object (key order included) and the same
dropped paths in the same order -- over random structural schemas and objects, and over
CloudShells with missing defaulted fields and unknown fields."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from cloudtty_sandbox.schema import CrdSchema
from cloudtty_sandbox.schemaplan import DecodeError, compile_defaulter, compile_pruner
from cloudtty_sandbox.schemawalk import walk_defaults as _reference_defaults
from cloudtty_sandbox.schemawalk import walk_prune as _reference_prune
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


# ----------------------------------------------------------------------------- comparing
def _compiled_default(schema: Any, obj: Any, top: bool) -> None:
    defaulter = compile_defaulter(schema, top=top)
    if defaulter is not None:
        defaulter(obj)


def _compiled_prune(schema: Any, obj: Any, top: bool) -> list[str]:
    dropped: list[str] = []
    pruner = compile_pruner(schema, top=top)
    if pruner is not None:
        pruner(obj, "", dropped)
    return dropped


def _reference_outcome(schema: Any, obj: Any, top: bool) -> list[str] | str:
    """The paths the reference walk drops, or the message of the decoding error that stopped
    it (an embedded object that cannot be decoded)."""
    dropped: list[str] = []
    try:
        _reference_prune(obj, schema, "", dropped, top=top)
    except DecodeError as exc:
        return f"DecodeError: {exc}"
    return dropped


def _compiled_outcome(prune: Any, *args: Any) -> list[str] | str:
    """What ``prune(*args)`` returns, or the message of its decoding error."""
    try:
        return list(prune(*args))
    except DecodeError as exc:
        return f"DecodeError: {exc}"


def _exact(value: Any) -> str:
    """The value as JSON with its key order: equal objects with keys in another order differ."""
    return json.dumps(value)


def _assert_same(schema: Any, obj: Any, top: bool) -> tuple[Any, list[str] | str]:
    """Defaulting, pruning, and both in turn (as a write does) agree with the reference."""
    untouched = copy.deepcopy(schema)
    expected, found = copy.deepcopy(obj), copy.deepcopy(obj)
    _reference_defaults(expected, schema, top=top)
    _compiled_default(schema, found, top)
    assert _exact(found) == _exact(expected)

    # Both stop at the same embedded object when one cannot be decoded (what they did to the
    # object before may differ then: the request fails and the object is thrown away).
    expected, found = copy.deepcopy(obj), copy.deepcopy(obj)
    expected_dropped = _reference_outcome(schema, expected, top)
    assert _compiled_outcome(_compiled_prune, schema, found, top) == expected_dropped
    if isinstance(expected_dropped, list):
        assert _exact(found) == _exact(expected)

    expected, found = copy.deepcopy(obj), copy.deepcopy(obj)
    _reference_defaults(expected, schema, top=top)
    expected_dropped = _reference_outcome(schema, expected, top)
    _compiled_default(schema, found, top)
    assert _compiled_outcome(_compiled_prune, schema, found, top) == expected_dropped
    if isinstance(expected_dropped, list):
        assert _exact(found) == _exact(expected)
    assert _exact(schema) == _exact(untouched), "the schema was changed"
    return found, expected_dropped


# ----------------------------------------------------------------------------- schemas
KEYS = ("a", "b", "c", "", "apiVersion", "kind", "metadata")
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "x", "0"]), st.just(1.5)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=8,
)

OBJECT_METAS = st.one_of(
    JSON,
    st.dictionaries(
        st.sampled_from(["name", "labels", "generation", "creationTimestamp", "a", "finalizers"]),
        st.one_of(
            SCALARS,
            st.just("2024-01-02T03:04:05.5+01:00"),
            st.dictionaries(st.sampled_from(["x", "y"]), SCALARS, max_size=2),
            st.lists(st.one_of(st.none(), st.just("f"), st.just({"name": "o", "b": 1}))),
        ),
        max_size=4,
    ),
)

SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def _flags(draw: st.DrawFn, node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with some of the flags that steer defaulting and pruning, keys shuffled."""
    extra: dict[str, Any] = {}
    if draw(st.integers(0, 2)) == 0:
        extra["default"] = draw(JSON)
    for flag in (
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-int-or-string",
    ):
        if draw(st.integers(0, 5)) == 0:
            extra[flag] = draw(st.sampled_from([True, True, False]))
    if draw(st.integers(0, 5)) == 0:
        extra["nullable"] = True
    entries = list({**node, **extra}.items())
    return dict(draw(st.permutations(entries)))


_LEAVES = st.sampled_from(
    [
        {"type": "string"},
        {"type": "integer"},
        {"type": "boolean"},
        {"type": "object"},
        {"type": "array"},
        {},
        {"x-kubernetes-int-or-string": True},
    ]
)


@st.composite
def _schemas(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    """A schema node: mostly objects with properties and arrays with items, as CRDs are, and
    now and then a node mixing keywords no CRD would (``items`` beside ``properties``)."""
    shape = draw(st.integers(3 if depth == 0 else 0, 9)) if depth < 4 else 0
    node: dict[str, Any]
    if shape <= 2:
        node = dict(draw(_LEAVES))
    elif shape <= 6:
        node = {} if draw(st.integers(0, 7)) == 0 else {"type": "object"}
        if draw(st.integers(0, 9)) > 0:
            node["properties"] = draw(
                st.dictionaries(st.sampled_from(KEYS), _schemas(depth + 1), max_size=4)
            )
        if draw(st.integers(0, 3)) == 0:
            node["additionalProperties"] = draw(st.one_of(st.booleans(), _schemas(depth + 1)))
    elif shape <= 8:
        node = {"type": "array", "items": draw(_schemas(depth + 1))}
    else:
        node = dict(draw(_LEAVES))
        node["properties"] = draw(
            st.dictionaries(st.sampled_from(KEYS), _schemas(depth + 1), max_size=3)
        )
        node["additionalProperties"] = draw(st.one_of(st.booleans(), _schemas(depth + 1)))
        node["items"] = draw(_schemas(depth + 1))
    return draw(_flags(node))


SCHEMAS = _schemas()


@st.composite
def _instance(draw: st.DrawFn, schema: Any, depth: int = 0) -> Any:
    """Mostly shaped like ``schema`` (so deep nodes are reached), with unknown keys, missing
    properties and values of the wrong kind mixed in."""
    if not isinstance(schema, dict) or depth > 5 or draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    props = schema.get("properties") or {}
    if props or "additionalProperties" in schema or schema.get("type") == "object":
        out: dict[str, Any] = {}
        keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=5))
        wanted = draw(st.lists(st.sampled_from(sorted(props)), unique=True)) if props else []
        for key in draw(st.permutations(list(dict.fromkeys(wanted + keys)))):
            sub = props.get(key, schema.get("additionalProperties"))
            out[key] = draw(_instance(sub, depth + 1))
        if schema.get("x-kubernetes-embedded-resource") and draw(st.booleans()):
            # An embedded object's metadata: ObjectMeta fields, good and bad, and unknown ones.
            out["metadata"] = draw(OBJECT_METAS)
        return out
    if "items" in schema or schema.get("type") == "array":
        return draw(st.lists(_instance(schema.get("items"), depth + 1), max_size=4))
    return draw(JSON)


CASES = SCHEMAS.flatmap(lambda s: st.tuples(st.just(s), _instance(s)))


@SETTINGS
@given(CASES, st.booleans())
def test_random_schemas_default_and_prune_as_the_reference(
    case: tuple[dict[str, Any], Any], top: bool
) -> None:
    schema, obj = case
    _assert_same(schema, obj, top)


@st.composite
def _root_schemas(draw: st.DrawFn) -> dict[str, Any]:
    root: dict[str, Any] = {
        "type": "object",
        "properties": draw(st.dictionaries(st.sampled_from(KEYS), _schemas(1), max_size=5)),
    }
    if draw(st.integers(0, 3)) == 0:
        root["additionalProperties"] = draw(st.one_of(st.booleans(), _schemas(1)))
    return draw(_flags(root))


@settings(SETTINGS, max_examples=60)
@given(_root_schemas(), st.data())
def test_random_root_schemas_through_crd_schema(root: dict[str, Any], data: st.DataObject) -> None:
    crd_schema = CrdSchema(root, "Thing")
    obj = data.draw(_instance(root))
    expected, found = copy.deepcopy(obj), copy.deepcopy(obj)
    _reference_defaults(expected, root, top=True)
    expected_dropped = _reference_outcome(root, expected, True)
    crd_schema.default(found)
    assert _compiled_outcome(crd_schema.prune, found) == expected_dropped
    if isinstance(expected_dropped, list):
        assert _exact(found) == _exact(expected)


def test_additional_properties_default_only_keys_that_are_not_properties() -> None:
    schema = {
        "type": "object",
        "properties": {"known": {"type": "object"}},
        "additionalProperties": {
            "type": "object",
            "properties": {"port": {"type": "integer", "default": 80}},
        },
    }
    obj: dict[str, Any] = {"known": {}, "web": {}, "api": {"port": 8080}}
    found, dropped = _assert_same(schema, obj, False)
    assert found == {"known": {}, "web": {"port": 80}, "api": {"port": 8080}}
    assert dropped == []


def test_preserved_nodes_prune_their_properties_with_full_paths() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {
                    "inner": {"type": "object", "properties": {"keep": {"type": "string"}}},
                    "list": {
                        "type": "array",
                        "items": {"type": "object", "properties": {"k": {"type": "string"}}},
                    },
                },
            }
        },
    }
    obj = {
        "spec": {
            "list": [{"k": "a"}, {"k": "b"}, {"k": "c", "x": 1}, {"y": 2}],
            "free": {"anything": 1},
            "inner": {"keep": "v", "drop": 1},
        }
    }
    found, dropped = _assert_same(schema, obj, True)
    # The declared properties are walked in the schema's order, not the object's.
    assert dropped == ["spec.inner.drop", "spec.list[2].x", "spec.list[3].y"]
    assert found["spec"]["free"] == {"anything": 1}


def test_defaults_are_copies_each_time() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {"tags": {"type": "array", "default": [{"k": "v"}]}},
            }
        },
    }
    defaulter = compile_defaulter(schema, top=True)
    assert defaulter is not None
    first: dict[str, Any] = {"spec": {}}
    second: dict[str, Any] = {"spec": {}}
    defaulter(first)
    defaulter(second)
    first["spec"]["tags"][0]["k"] = "changed"
    assert second["spec"]["tags"] == [{"k": "v"}]
    assert schema["properties"]["spec"]["properties"]["tags"]["default"] == [{"k": "v"}]


def test_nodes_that_cannot_change_anything_compile_to_nothing() -> None:
    status = {
        "type": "object",
        "properties": {
            "phase": {"type": "string"},
            "conditions": {
                "type": "array",
                "items": {"type": "object", "properties": {"type": {"type": "string"}}},
            },
        },
    }
    assert compile_defaulter(status) is None
    assert compile_pruner(status) is not None
    assert compile_pruner({"type": "object", "x-kubernetes-preserve-unknown-fields": True}) is None
    # An object without properties drops all but apiVersion, kind and metadata, the root too.
    assert compile_pruner({"type": "object"}, top=True) is not None
    assert compile_pruner({"type": "string"}) is None


def test_a_properties_value_that_is_not_an_object_is_named() -> None:
    with pytest.raises(ValueError, match=r"openAPIV3Schema\.properties\[spec\]\.properties"):
        compile_pruner({"type": "object", "properties": {"spec": {"properties": ["a"]}}})


# ----------------------------------------------------------------------------- the CloudShell CRD
def _cloudshell_schema() -> dict[str, Any]:
    crd = pytest.importorskip("cloudtty_core.crd")
    schema: dict[str, Any] = crd.crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _shell() -> dict[str, Any]:
    return {
        "apiVersion": "cloudtty.io/v1alpha1",
        "kind": "CloudShell",
        "metadata": {"name": "shell-1", "namespace": "default", "labels": {"a": "b"}},
        "spec": {
            "secretRef": {"name": "kubeconfig", "other": 1},
            "ttl": 3600,
            "bogus": {"deep": True},
            "env": [
                {"name": "A", "value": "1", "junk": 2},
                {"name": "B", "valueFrom": {"anything": {"goes": 1}}},
            ],
            "ttydClientOptions": {"fontSize": "14"},
            "resources": {"limits": {"cpu": "1"}, "whatever": 1},
            "auth": {"allowedUsers": ["ann"], "stray": "x"},
        },
        "status": {
            "phase": "Ready",
            "conditions": [
                {"type": "Ready", "status": "True", "extra": 1},
                {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "ok"},
            ],
            "unknownStatus": 3,
        },
        "extraTop": {"x": 1},
    }


def test_cloudshell_create_is_defaulted_and_pruned_as_the_reference() -> None:
    schema = _cloudshell_schema()
    obj, dropped = _assert_same(schema, _shell(), True)
    # Sorted, as the API server's pruning reports them.
    assert dropped == [
        "extraTop",
        "spec.auth.stray",
        "spec.bogus",
        "spec.env[0].junk",
        "spec.secretRef.other",
        "status.conditions[0].extra",
        "status.unknownStatus",
    ]
    spec = obj["spec"]
    assert spec["secretRef"] == {"name": "kubeconfig", "key": "config"}
    assert (spec["commandAction"], spec["exposureMode"], spec["imageBackend"]) == (
        "bash",
        "NodePort",
        "webterm",
    )
    assert (spec["once"], spec["cleanup"], spec["readOnly"], spec["urlArg"]) == (
        False,
        False,
        False,
        False,
    )
    assert spec["auth"] == {"allowedUsers": ["ann"], "mode": "none"}
    assert spec["env"][1]["valueFrom"] == {"anything": {"goes": 1}}
    assert spec["resources"] == {"limits": {"cpu": "1"}, "whatever": 1}
    assert obj["status"]["conditions"][0] == {
        "type": "Ready",
        "status": "True",
        "reason": "",
        "message": "",
    }
    assert obj["metadata"] == {"name": "shell-1", "namespace": "default", "labels": {"a": "b"}}


def test_cloudshell_through_crd_schema() -> None:
    schema = CrdSchema(_cloudshell_schema(), "CloudShell")
    bare: dict[str, Any] = {
        "apiVersion": "cloudtty.io/v1alpha1",
        "kind": "CloudShell",
        "metadata": {"name": "s"},
    }
    schema.default(bare)
    assert bare["spec"]["auth"] == {"mode": "none"}
    assert bare["spec"]["commandAction"] == "bash"
    assert schema.prune(bare) == []
    assert "status" not in bare

    shell = _shell()
    expected = copy.deepcopy(shell)
    _reference_defaults(expected, schema.raw, top=True)
    expected_dropped: list[str] = []
    _reference_prune(expected, schema.raw, "", expected_dropped, top=True)
    schema.default(shell)
    assert schema.prune(shell) == expected_dropped
    assert _exact(shell) == _exact(expected)
    assert schema.prune(shell) == []


@settings(SETTINGS, max_examples=50)
@given(st.data())
def test_random_cloudshells_as_the_reference(data: st.DataObject) -> None:
    schema = _cloudshell_schema()
    _assert_same(schema, data.draw(_instance(schema)), True)
