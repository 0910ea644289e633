"""Properties over generated CloudShells: JSON -> model -> JSON, and model/CRD agreement.

The strategy is derived from the model itself (field types and FieldSpec rules), so a field added
to the model is generated without touching this file.
"""

from __future__ import annotations

import copy
import typing
from datetime import UTC, datetime
from typing import Any

import attrs
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtty_core import (
    API_VERSION,
    KIND,
    CloudShell,
    InvalidShell,
    Phase,
    shell_from_dict,
    shell_to_dict,
    validate_shell,
)
from cloudtty_core.crd import open_api_schema
from cloudtty_core.model import format_time, json_fields
from cloudtty_core.model.fields import FieldSpec, field_spec
from cloudtty_core.validation import MAX_UID

_LABEL = r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?"
_SUBDOMAIN = rf"{_LABEL}(\.{_LABEL}){{0,2}}"


def _regex(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True)


RULE_VALUES: dict[str, st.SearchStrategy[str]] = {
    "dns1123-label": _regex(_LABEL),
    "dns1123-subdomain": _regex(_SUBDOMAIN),
    "host": _regex(rf"(\*\.)?[a-z]{_LABEL}?(\.{_LABEL}){{0,2}}"),
    "url-path": _regex(r"/([A-Za-z0-9_~-][A-Za-z0-9._~-]{0,8}/?){0,4}"),
    "url-path-suffix": _regex(r"/?([A-Za-z0-9_~-][A-Za-z0-9._~-]{0,8}/?){0,3}"),
    "env-name": _regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,12}"),
    "run-as-user": st.one_of(st.just("root"), st.integers(0, MAX_UID).map(str)),
    "backend-name": _regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?"),
    "image": _regex(r"[a-z0-9][a-z0-9./:@-]{0,30}"),
    "command": st.text(min_size=1, max_size=40).filter(lambda s: s.strip() and "\0" not in s),
    "config-key": _regex(r"[-._a-zA-Z0-9]{1,20}"),
    "gateway": _regex(rf"({_LABEL}/)?{_SUBDOMAIN}"),
    "export-to": st.one_of(st.just("."), st.just("*"), _regex(_LABEL)),
    "http-header": _regex(r"X-[A-Za-z0-9-]{1,15}"),
    "condition-type": _regex(r"[A-Z][A-Za-z0-9]{0,15}"),
}

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=8))
JSON_OBJECTS = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=5),
    min_size=1,
    max_size=3,
)
TIMES = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(format_time)


def value_of(tp: Any, spec: FieldSpec | None) -> st.SearchStrategy[Any]:
    """Valid JSON for a model type, in canonical form (what shell_to_dict writes)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    members = [a for a in args if a is not type(None)]
    if origin is not None and len(members) != len(args):  # Optional[X]: None is absence
        tp = typing.Union[tuple(members)] if len(members) > 1 else members[0]  # noqa: UP007
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or (
        origin is not None and str(origin) == "<class 'types.UnionType'>"
    ):
        return st.one_of(st.integers(0, MAX_UID), RULE_VALUES["run-as-user"])
    if attrs.has(tp):
        return object_of(tp)
    if tp is str:
        if spec is not None and spec.enum:
            return st.sampled_from(spec.enum)
        if spec is not None and spec.rule:
            return RULE_VALUES[spec.rule]
        return st.text(min_size=1 if spec and spec.omit_default else 0, max_size=20)
    if tp is bool:
        return st.booleans()
    if tp is int:
        low = spec.minimum if spec and spec.minimum is not None else -(2**31)
        high = spec.maximum if spec and spec.maximum is not None else 2**31
        if spec is not None and spec.omit_default:
            low = max(low, 1)  # 0 is the default that is never written
        return st.integers(low, high)
    if tp is datetime:
        return TIMES
    if tp is Phase:
        return st.sampled_from([p.value for p in Phase])
    if origin is tuple:
        items = st.lists(value_of(args[0], None), min_size=1, max_size=3)
        if spec is not None and spec.list_key:
            key = spec.list_key
            items = st.lists(
                value_of(args[0], None), min_size=1, max_size=3, unique_by=lambda d: d[key]
            )
        return items
    if origin is dict:
        return JSON_OBJECTS
    return st.dictionaries(
        st.text(min_size=1, max_size=10), st.text(max_size=10), min_size=1, max_size=4
    )


@st.composite
def _object(draw: st.DrawFn, cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for key, f in json_fields(cls).items():
        spec = field_spec(f)
        always = spec.required or (f.default is not None and not spec.omit_default)
        factory = getattr(f.default, "factory", None)
        if callable(factory) and not attrs.has(type(factory())):
            always = False  # empty collections are never written
        if always or draw(st.booleans()):
            out[key] = draw(value_of(hints[f.name], spec))
    return out


def object_of(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    return _object(cls)


@st.composite
def canonical_shells(draw: st.DrawFn) -> dict[str, Any]:
    """A valid CloudShell exactly as shell_to_dict would write it."""
    raw = {"apiVersion": API_VERSION, "kind": KIND}
    body = draw(object_of(CloudShell))
    if body.get("spec", {}).get("configmapName") is not None:
        body["spec"].pop("secretRef", None)  # the one cross-field rule
    if not body.get("status"):
        body.pop("status", None)
    return raw | body


def strip_defaults(raw: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``raw`` without the values that equal a schema default (what a user may leave out)."""
    out = {}
    for key, value in raw.items():
        sub = schema.get("properties", {}).get(key, {})
        if "default" in sub and value == sub["default"]:
            continue
        out[key] = (
            strip_defaults(value, sub) if isinstance(value, dict) and "properties" in sub else value
        )
    return out


def apply_defaults(raw: Any, schema: dict[str, Any]) -> Any:
    """Fill in schema defaults the way the API server defaults a custom resource."""
    if isinstance(raw, dict) and "properties" in schema:
        out = dict(raw)
        for key, sub in schema["properties"].items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
            if key in out:
                out[key] = apply_defaults(out[key], sub)
        return out
    if isinstance(raw, list) and "items" in schema:
        return [apply_defaults(item, schema["items"]) for item in raw]
    return raw


COMMON = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCHEMA = open_api_schema()
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


@COMMON
@given(canonical_shells())
def test_json_model_json_is_identity(raw):
    assert validate_shell(raw) == [], "the strategy makes valid shells"
    shell = shell_from_dict(raw)
    assert shell_to_dict(shell) == raw
    assert shell_from_dict(shell_to_dict(shell)) == shell


@COMMON
@given(canonical_shells())
def test_model_and_crd_agree(raw):
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(raw)]
    assert errors == [], "the CRD schema accepts every valid shell"
    # A user leaves the defaults out; the API server fills them from the CRD, the model too.
    sparse = strip_defaults(raw, SCHEMA)
    assert shell_to_dict(shell_from_dict(sparse)) == apply_defaults(sparse, SCHEMA)


# --- invalid input --------------------------------------------------------------------------

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*prefix, i))
    return found


@st.composite
def broken_shells(draw: st.DrawFn) -> Any:
    """A valid shell with random parts replaced by junk, unknown keys added or keys removed."""
    raw = draw(canonical_shells())
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(raw)
        if not paths:
            return draw(JUNK)
        path = draw(st.sampled_from(paths))
        parent = raw
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(JUNK)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=6))] = draw(JUNK)
    return raw


@COMMON
@given(st.one_of(broken_shells(), JUNK))
def test_invalid_input_only_ever_raises_invalid_shell(raw):
    problems = validate_shell(raw)  # never raises, whatever the input
    assert all(p.message for p in problems)
    if problems:
        with pytest.raises(InvalidShell) as caught:
            shell_from_dict(raw)
        assert list(caught.value.problems) == problems
    else:
        shell = shell_from_dict(raw)
        assert shell_from_dict(shell_to_dict(shell)) == shell


@COMMON
@given(canonical_shells(), st.data())
def test_every_broken_field_is_reported(raw, data):
    spec_keys = [k for k, v in raw["spec"].items() if not isinstance(v, str)]
    chosen = data.draw(st.lists(st.sampled_from(spec_keys), unique=True, min_size=1, max_size=4))
    for key in chosen:
        raw["spec"][key] = "not-a-list-object-or-number" if key != "commandAction" else 5
    reported = {p.path for p in validate_shell(raw)}
    assert {f"spec.{k}" for k in chosen} <= reported
