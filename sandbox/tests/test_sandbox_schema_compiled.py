"""The compiled CRD schema validator answers exactly as ``jsonschema.Draft4Validator`` does over
the translated schema: same errors (path, keyword, value, message), same order where paths are
equal, same ``Cause`` list from ``CrdSchema.validate``; what it does not model goes to
jsonschema whole."""

from __future__ import annotations

import copy
import datetime
import re
from typing import Any

import jsonschema
import jsonschema.exceptions
import pytest
from cloudtty_sandbox.schema import CrdSchema, _cause, _to_json_schema
from cloudtty_sandbox.schemacheck import compile_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEYS = ("a", "b", "c", "ab", "ba")
PATTERNS = ("^a", "b$", "^[a-c]+$", "x|y", "^$", "[0-9]", "^.{2}$")
NUMBERS = (0, 1, 2, 3, -1, 10, 0.5, 1.5, 2.0, -2.5)
FLOATS = (0.0, 1.0, 2.0, 1.5, -2.5, 0.3, 0.1, 1e20, 1e308)
STRINGS = ("", "a", "ab", "b", "x", "0", "abc", "1a", "é", "😀", "a😀", "ba")

SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ----------------------------------------------------------------------------- comparing
def _by_path(errors: list[Any]) -> list[Any]:
    return sorted(errors, key=lambda e: list(e.absolute_path))


def _described(errors: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (list(e.absolute_path), e.validator, repr(e.validator_value), e.message)
        for e in _by_path(errors)
    ]


def _assert_same(schema: Any, instance: Any) -> list[tuple[Any, ...]]:
    """Compiled and jsonschema agree on ``instance``; returns the errors, described."""
    expected = list(jsonschema.Draft4Validator(schema).iter_errors(instance))
    checker = compile_schema(schema)
    found = checker.errors(instance)
    pairs = {(tuple(e.absolute_path), e.validator) for e in found}
    assert pairs == {(tuple(e.absolute_path), e.validator) for e in expected}
    assert _described(found) == _described(expected)
    causes = [_cause(e).as_dict() for e in _by_path(found)]
    assert causes == [_cause(e).as_dict() for e in _by_path(expected)]
    return _described(found)


# ----------------------------------------------------------------------------- schemas
@st.composite
def _keywords(draw: st.DrawFn, fixed: dict[str, Any], optional: dict[str, Any]) -> dict[str, Any]:
    """A node with ``fixed`` and some of ``optional`` (strategies), its keys in a drawn order
    (the order of errors at one path follows the order of keywords)."""
    chosen = draw(st.lists(st.sampled_from(sorted(optional)), unique=True)) if optional else []
    entries = [(k, draw(v) if isinstance(v, st.SearchStrategy) else v) for k, v in fixed.items()]
    entries += [(k, draw(optional[k])) for k in chosen]
    return dict(draw(st.permutations(entries)))


_numbers = st.sampled_from(NUMBERS)
_counts = st.integers(0, 3)
_flags = {
    "description": st.just("ignored"),
    "default": st.just("ignored"),
    "format": st.sampled_from(["date-time", "int64"]),
    "x-kubernetes-preserve-unknown-fields": st.just(True),
    "nullable": st.booleans(),
}
_string_keywords = {
    "minLength": _counts,
    "maxLength": _counts,
    "pattern": st.sampled_from(PATTERNS),
    "enum": st.lists(st.sampled_from(STRINGS), min_size=1, max_size=3),
}
_number_keywords = {
    "minimum": _numbers,
    "maximum": _numbers,
    "exclusiveMinimum": st.booleans(),
    "exclusiveMaximum": st.booleans(),
    "multipleOf": st.sampled_from([2, 3, 0.5, 0.1]),
    "enum": st.lists(st.sampled_from([*NUMBERS, True, False, None, "1"]), min_size=1, max_size=3),
}
_leaves = st.one_of(
    _keywords({"type": "string"}, {**_string_keywords, **_flags}),
    _keywords({"type": st.sampled_from(["integer", "number"])}, {**_number_keywords, **_flags}),
    _keywords({"type": "boolean"}, {"enum": st.just([True]), **_flags}),
    _keywords({"x-kubernetes-int-or-string": True}, {"maxLength": _counts, "minimum": _numbers}),
    _keywords({}, {**_string_keywords, **_number_keywords}),
    _keywords({"type": "object", "x-kubernetes-preserve-unknown-fields": True}, {}),
    st.sampled_from([{}, True, False]),
)


def _object_nodes(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return _keywords(
        {"type": "object"},
        {
            "properties": st.dictionaries(st.sampled_from(KEYS), children, max_size=4),
            "required": st.lists(st.sampled_from(KEYS), unique=True, max_size=3),
            "additionalProperties": st.one_of(st.booleans(), children),
            "patternProperties": st.dictionaries(st.sampled_from(PATTERNS), children, max_size=2),
            "minProperties": _counts,
            "maxProperties": _counts,
            "dependencies": st.dictionaries(
                st.sampled_from(KEYS),
                st.one_of(st.lists(st.sampled_from(KEYS), unique=True, max_size=2), children),
                max_size=2,
            ),
            "nullable": st.booleans(),
            "x-kubernetes-preserve-unknown-fields": st.just(True),
        },
    )


def _array_nodes(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    limits = {"minItems": _counts, "maxItems": _counts, "uniqueItems": st.booleans()}
    # A lone items schema is an object (draft 4 has no boolean one there; jsonschema trips).
    item = children.map(lambda node: node if isinstance(node, dict) else {})
    return st.one_of(
        _keywords({"type": "array", "items": item}, {**limits, "nullable": st.booleans()}),
        _keywords(
            {"type": "array", "items": st.lists(children, max_size=3)},
            {**limits, "additionalItems": st.one_of(st.booleans(), children)},
        ),
    )


def _logic_nodes(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    several = st.lists(children, max_size=3)
    return _keywords(
        {},
        {
            "allOf": several,
            "anyOf": several,
            "oneOf": several,
            "not": children,
            "type": st.sampled_from(["object", "array", "string", "integer"]),
        },
    )


_openapi_schemas = st.recursive(
    _leaves,
    lambda children: st.one_of(
        _object_nodes(children), _array_nodes(children), _logic_nodes(children)
    ),
    max_leaves=12,
)


# ----------------------------------------------------------------------------- instances
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-20, 20),
    st.sampled_from(FLOATS),
    st.sampled_from(STRINGS),
    st.text(alphabet="abcxy0é😀", max_size=4),
)
_any_json = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from([*KEYS, "x", "a1"]), children, max_size=4),
    ),
    max_leaves=10,
)


def _fitting(schema: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Instances shaped after ``schema`` (a translated node) most of the time, anything at all
    otherwise: fitting values reach the deep paths, the rest hit every kind of error."""
    if depth > 6 or not isinstance(schema, dict):
        return _any_json
    shaped = _shaped(schema, depth)
    return st.one_of(shaped, shaped, shaped, _any_json) if shaped is not None else _any_json


def _shaped(schema: dict[str, Any], depth: int) -> st.SearchStrategy[Any] | None:
    for key in ("allOf", "anyOf", "oneOf"):
        branches = [b for b in schema.get(key) or () if isinstance(b, dict)]
        if branches:
            return st.one_of([_fitting(b, depth + 1) for b in branches])
    types = schema.get("type")
    kind = types[0] if isinstance(types, list) else types
    props = schema.get("properties")
    if kind == "object" or isinstance(props, dict):
        known = {k: _fitting(v, depth + 1) for k, v in (props or {}).items()}
        extra = schema.get("additionalProperties")
        return st.fixed_dictionaries(
            {},
            optional={
                **known,
                "x": _fitting(extra, depth + 1) if isinstance(extra, dict) else _any_json,
            },
        )
    items = schema.get("items")
    if kind == "array" or items is not None:
        if isinstance(items, list):
            return st.tuples(*(_fitting(i, depth + 1) for i in items)).map(list)
        return st.lists(_fitting(items, depth + 1), max_size=4)
    if kind == "string":
        pattern = schema.get("pattern")
        text = st.sampled_from(STRINGS)
        return st.one_of(text, st.from_regex(pattern)) if pattern else text
    if kind in ("integer", "number"):
        return st.one_of(st.integers(-20, 20), st.sampled_from(FLOATS))
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    return None


@st.composite
def _schema_and_instance(draw: st.DrawFn) -> tuple[Any, Any]:
    schema = _to_json_schema(draw(_openapi_schemas))
    if not isinstance(schema, dict):
        schema = {"allOf": [schema]}  # a root schema is an object (see the fallback tests)
    return schema, draw(_fitting(schema))


# ----------------------------------------------------------------------------- properties
@SETTINGS
@given(_schema_and_instance())
def test_random_schemas_and_instances_get_jsonschemas_errors(case: tuple[Any, Any]) -> None:
    schema, instance = case
    assert compile_schema(schema).compiled  # every generated keyword is modelled
    _assert_same(schema, instance)


@pytest.mark.parametrize(
    ("schema", "instance", "keywords"),
    [
        ({"type": "integer"}, 1.0, ["type"]),  # draft 4: 1.0 is a number, not an integer
        ({"type": "integer"}, True, ["type"]),
        ({"type": "number"}, False, ["type"]),
        ({"type": ["integer", "null"]}, None, []),
        ({"enum": [1]}, True, ["enum"]),
        ({"enum": [1]}, 1.0, []),
        ({"enum": [[1]]}, [True], ["enum"]),
        ({"maxLength": 1}, "😀", []),  # code points, not UTF-16 units or bytes
        ({"minLength": 2}, "é", ["minLength"]),
        ({"minimum": 1, "exclusiveMinimum": True}, 1, ["minimum"]),
        ({"maximum": 1, "exclusiveMaximum": False}, 1, []),
        ({"minimum": 5}, "4", []),  # a bound only applies to numbers
        ({"multipleOf": 0.5}, 1e308, []),
        ({"multipleOf": 0.1}, 0.3, ["multipleOf"]),
        ({"uniqueItems": True}, [1, True], []),
        ({"uniqueItems": True}, [1, 1.0], ["uniqueItems"]),
        ({"uniqueItems": True}, [{"a": 1}, {"a": 1}], ["uniqueItems"]),
        ({"pattern": "b"}, "abc", []),  # search, not match
        ({"anyOf": []}, 1, ["anyOf"]),
        ({"oneOf": [{}, {"type": "integer"}]}, 1, ["oneOf"]),
        ({"not": {"type": "string"}}, "a", ["not"]),
        ({"properties": {"a": False}}, {"a": 1}, [None]),
        (
            {"additionalProperties": False, "patternProperties": {"^x": {}}},
            {"b": 1},
            ["additionalProperties"],
        ),
        ({"items": [{}], "additionalItems": False}, [1, 2, 3], ["additionalItems"]),
        ({"dependencies": {"a": ["b", "c"]}}, {"a": 1}, ["dependencies", "dependencies"]),
        (
            {"required": ["a", "b"], "minProperties": 2},
            {},
            ["required", "required", "minProperties"],
        ),
        (_to_json_schema({"x-kubernetes-int-or-string": True}), 1.5, ["anyOf"]),
        (_to_json_schema({"type": "string", "nullable": True}), None, []),
    ],
)
def test_draft4_details(schema: Any, instance: Any, keywords: list[str | None]) -> None:
    described = _assert_same(schema, instance)
    assert [validator for _, validator, _, _ in described] == keywords


def test_errors_at_one_path_come_in_the_order_of_the_keywords() -> None:
    schema = {"maxLength": 1, "pattern": "^a", "enum": ["a"], "type": "string"}
    assert [v for _, v, _, _ in _assert_same(schema, "bb")] == ["maxLength", "pattern", "enum"]
    reordered = {"enum": ["a"], "pattern": "^a", "maxLength": 1}
    assert [v for _, v, _, _ in _assert_same(reordered, "bb")] == ["enum", "pattern", "maxLength"]


def test_messages_name_what_is_wrong() -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"n": {"type": "integer", "multipleOf": 3}},
        "required": ["m"],
    }
    described = _assert_same(schema, {"n": 4, "z": 1, "y": 2})
    assert [(path, message) for path, _, _, message in described] == [
        ([], "Additional properties are not allowed ('y', 'z' were unexpected)"),
        ([], "'m' is a required property"),
        (["n"], "4 is not a multiple of 3"),
    ]


# ----------------------------------------------------------------------------- the fallback
@pytest.mark.parametrize(
    ("schema", "instance", "reason"),
    [
        (
            {
                "definitions": {"n": {"type": "integer"}},
                "properties": {"a": {"$ref": "#/definitions/n"}},
            },
            {"a": "x"},
            "$ref",
        ),
        ({"$schema": "http://json-schema.org/draft-04/schema#", "type": "string"}, 1, "$schema"),
        ({"type": "string", "minLength": True}, "", "minLength"),
        ({"required": "ab"}, {"a": 1}, "required"),
    ],
)
def test_what_is_not_modelled_is_validated_by_jsonschema(schema, instance, reason):
    checker = compile_schema(schema)
    assert not checker.compiled
    assert reason in (checker.fallback_reason or "")
    found = checker.errors(instance)
    assert found  # each instance above breaks its schema
    assert _described(found) == _described(
        list(jsonschema.Draft4Validator(schema).iter_errors(instance))
    )


@pytest.mark.parametrize(
    ("schema", "instance", "raised"),
    [
        ({"pattern": "("}, "x", re.error),
        ({"type": "date"}, "x", jsonschema.exceptions.UnknownType),
        ({"items": True}, [1], TypeError),
    ],
)
def test_a_schema_jsonschema_trips_over_trips_the_same_way(schema, instance, raised):
    checker = compile_schema(schema)
    assert not checker.compiled
    with pytest.raises(raised):
        list(jsonschema.Draft4Validator(schema).iter_errors(instance))
    with pytest.raises(raised):
        checker.errors(instance)


def test_a_crd_with_a_ref_still_reports_the_same_causes():
    raw = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "size": {"$ref": "#/properties/count"},
                    "count": {"type": "integer"},
                },
            }
        },
    }
    obj = {"apiVersion": "g/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": {"count": "x"}}
    assert [c.as_dict() for c in CrdSchema(raw, "Thing").validate(obj)] == [
        c.as_dict() for c in _TodaysCrdValidation(raw).validate(obj)
    ]


# ----------------------------------------------------------------------------- CloudShells
class _TodaysCrdValidation:
    """``CrdSchema.validate`` as it was with ``jsonschema`` doing the checks (the oracle)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        body = copy.deepcopy(raw)
        body.setdefault("properties", {}).pop("metadata", None)
        translated = _to_json_schema(body)
        fields = translated.get("properties") or {}
        self.whole = jsonschema.Draft4Validator(translated)
        self.fields = {key: jsonschema.Draft4Validator(sub) for key, sub in fields.items()}
        self.root = jsonschema.Draft4Validator(
            {**translated, "properties": {key: {} for key in fields}}
        )

    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[Any]:
        body = {k: v for k, v in obj.items() if k != "metadata"}
        if old is None or not self.fields:
            errors = list(self.whole.iter_errors(body))
        else:
            errors = list(self.root.iter_errors(body))
            for key, validator in self.fields.items():
                if key not in body or (key in old and old[key] == body[key]):
                    continue
                for error in validator.iter_errors(body[key]):
                    error.path.appendleft(key)
                    errors.append(error)
        return [_cause(e) for e in _by_path(errors)]


def _cloudshell_schema() -> dict[str, Any]:
    crd = pytest.importorskip("cloudtty_core.crd")
    schema: dict[str, Any] = crd.crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _ready_status() -> dict[str, Any]:
    now = "2024-05-01T10:00:00Z"
    conditions = [
        {
            "type": kind,
            "status": "True",
            "reason": f"{kind}Ok",
            "message": "",
            "lastTransitionTime": now,
            "observedGeneration": 2,
        }
        for kind in (
            "Accepted",
            "KubeconfigReady",
            "AuthReady",
            "WorkerReady",
            "RouteReady",
            "Ready",
        )
    ]
    return {
        "phase": "Ready",
        "accessUrl": "http://127.0.0.1:30001/",
        "lastScheduleTime": now,
        "observedGeneration": 2,
        "conditions": conditions,
        "worker": "cloudshell-worker-abc12",
        "kubeconfigSecret": "cloudshell-kubeconfig-abc12",
    }


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


@st.composite
def _mutated(draw: st.DrawFn, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with one to three places replaced by anything, removed, or given a new key."""
    out = copy.deepcopy(obj)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(out) if p and p[0] != "metadata"]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = out
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(_any_json)
        elif action == "remove":
            del parent[path[-1]]
        elif isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.sampled_from(["x", "zz", "name"]))] = draw(_any_json)
    return out


def test_the_cloudshell_schema_is_compiled_whole():
    raw = _cloudshell_schema()
    assert compile_schema(_to_json_schema(raw)).compiled
    for field in raw["properties"].values():
        assert compile_schema(_to_json_schema(field)).compiled


@SETTINGS
@given(st.data())
def test_cloudshells_valid_and_broken_get_todays_causes(data: st.DataObject) -> None:
    raw = _cloudshell_schema()
    from cloudtty_core.testing import cloudshell_dicts
    from cloudtty_core.testing.badinput import bad_cloudshells

    compiled, today = CrdSchema(raw, "CloudShell"), _TodaysCrdValidation(raw)
    shell = data.draw(cloudshell_dicts())
    shell["status"] = _ready_status()
    assert compiled.validate(shell) == [] == today.validate(shell)
    for candidate in (data.draw(_mutated(shell)), data.draw(bad_cloudshells()).manifest):
        expected = [c.as_dict() for c in today.validate(candidate)]
        assert [c.as_dict() for c in compiled.validate(candidate)] == expected
        # An update re-checks only the top-level fields that changed (ratcheting).
        expected = [c.as_dict() for c in today.validate(candidate, shell)]
        assert [c.as_dict() for c in compiled.validate(candidate, shell)] == expected


def test_a_broken_ready_status_names_each_field():
    raw = _cloudshell_schema()
    shell = {
        "apiVersion": "cloudtty.io/v1alpha1",
        "kind": "CloudShell",
        "metadata": {"name": "s"},
        "spec": {"commandAction": "bash"},
        "status": _ready_status(),
    }
    broken = copy.deepcopy(shell)
    broken["status"]["phase"] = "Running"
    broken["status"]["observedGeneration"] = -1
    broken["status"]["conditions"][2]["status"] = "Maybe"
    del broken["status"]["conditions"][4]["type"]
    broken["status"]["conditions"][5]["type"] = "not a type!"
    causes = CrdSchema(raw, "CloudShell").validate(broken, shell)
    assert [c.as_dict() for c in causes] == [
        c.as_dict() for c in _TodaysCrdValidation(raw).validate(broken, shell)
    ]
    assert [(c.field, c.reason) for c in causes] == [
        ("status.conditions[2].status", "FieldValueNotSupported"),
        ("status.conditions[4].type", "FieldValueRequired"),
        ("status.conditions[5].type", "FieldValueInvalid"),
        ("status.observedGeneration", "FieldValueInvalid"),
        ("status.phase", "FieldValueNotSupported"),
    ]


def test_the_status_a_planner_writes_is_valid():
    pytest.importorskip("cloudtty_core.model")
    from cloudtty_core.model import CloudShellStatus, Condition
    from cloudtty_core.model.convert import status_to_dict
    from cloudtty_core.phases import Phase

    now = datetime.datetime(2024, 5, 1, 10, 0, tzinfo=datetime.UTC)
    status = CloudShellStatus(
        phase=Phase.READY,
        access_url="http://127.0.0.1:30001/",
        last_schedule_time=now,
        observed_generation=1,
        conditions=(Condition("Ready", "True", "ShellReady", "", now, 1),),
    )
    raw = _cloudshell_schema()
    shell = {"apiVersion": "cloudtty.io/v1alpha1", "kind": "CloudShell", "metadata": {"name": "s"}}
    assert CrdSchema(raw, "CloudShell").validate({**shell, "status": status_to_dict(status)}) == []
