"""Compiled draft 4 validation for CRD schemas: each schema node is turned into closures once,
and checking an object then runs only the keywords its schema nodes carry.

``jsonschema.Draft4Validator`` sends every keyword of every node through its generic machinery
(``iter_errors``, ``descend``, ``evolve``) on each call, which costs far more than the checks
themselves -- and the sandbox validates every write of a custom object. :func:`compile_schema`
gives the same answers as ``Draft4Validator`` over the same (already translated) schema: the
same errors, at the same paths, from the same keywords with the same values, the same messages,
and in the same order wherever two errors share a path.

A schema that uses something this module does not model -- ``$ref`` (and the ``id`` and
``$schema`` that steer it), or a keyword value that ``jsonschema`` itself would trip over while
validating (a pattern that does not compile, an unknown type name, ``items: true``, ...) -- is
checked by ``jsonschema`` itself, whole, so its behaviour stays exactly what it was
(:attr:`SchemaChecker.fallback_reason` says why).

Each compiled node is a pair ``(by_class, generic)``: ``by_class`` maps each JSON class
(``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``, ``NoneType``) to the one check an
instance of exactly that class needs, or to ``None`` when no keyword of the node can fault it
(``{"type": "string"}`` for a ``str``); ``generic`` serves any other class, with every keyword
guarding its own type as ``jsonschema`` does.
"""

from __future__ import annotations

import itertools
import numbers
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any, Protocol

import jsonschema

__all__ = ["SchemaChecker", "SchemaError", "ValidationProblem", "compile_schema"]


class ValidationProblem(Protocol):
    """What callers read from an error, whether it comes from a compiled schema
    (:class:`SchemaError`) or from ``jsonschema`` (``ValidationError``)."""

    path: deque[str | int]
    validator: Any
    validator_value: Any
    instance: Any

    @property
    def absolute_path(self) -> Sequence[str | int]: ...

    @property
    def message(self) -> str: ...


class SchemaError:
    """One schema violation: where (``path`` from the validated root), which keyword
    (``validator``, ``None`` for a ``false`` schema) with which value, the offending instance,
    and ``jsonschema``'s message for it (built only when read: most errors found inside
    ``anyOf``, ``oneOf`` and ``not`` are never shown)."""

    __slots__ = ("_detail", "_render", "instance", "path", "validator", "validator_value")

    def __init__(
        self,
        validator: str | None,
        validator_value: Any,
        instance: Any,
        render: Callable[[SchemaError], str],
        detail: Any = None,
    ) -> None:
        self.path: deque[str | int] = deque()
        self.validator = validator
        self.validator_value = validator_value
        self.instance = instance
        self._render = render
        self._detail = detail

    @property
    def absolute_path(self) -> deque[str | int]:
        """The path from the root that was validated (errors here have no parent error)."""
        return self.path

    @property
    def message(self) -> str:
        """The message ``jsonschema`` gives the same error."""
        return self._render(self)

    def __repr__(self) -> str:
        return f"<SchemaError {list(self.path)!r} {self.validator}: {self.message}>"


Errors = Sequence[SchemaError]
"""What a check returns: ``()`` when the instance is valid."""
Check = Callable[[Any], Errors]
Node = tuple[dict[type, Check | None], Check | None]

_NO_ERRORS: Errors = ()


class SchemaChecker:
    """Validates instances against one draft 4 schema: compiled when possible, otherwise by
    ``jsonschema.Draft4Validator`` (``fallback_reason`` then says what was not supported)."""

    __slots__ = ("_check", "_validator", "fallback_reason", "schema")

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.fallback_reason: str | None = None
        self._validator: jsonschema.Draft4Validator | None = None
        self._check: Check | None = None
        try:
            # jsonschema takes booleans only below the root (at the root it raises TypeError).
            _require(isinstance(schema, dict), f"the root schema must be an object: {schema!r}")
            self._check = _dispatcher(_compile(schema))
        except _Unsupported as exc:
            self.fallback_reason = str(exc)
            self._validator = jsonschema.Draft4Validator(schema)

    @property
    def compiled(self) -> bool:
        """Whether instances are checked by the compiled closures (not by ``jsonschema``)."""
        return self._check is not None

    def errors(self, instance: Any) -> list[ValidationProblem]:
        """Every violation of ``instance``, in ``jsonschema``'s order (an empty list if valid)."""
        if self._check is not None:
            return list(self._check(instance))
        assert self._validator is not None
        return list(self._validator.iter_errors(instance))


def compile_schema(schema: Any) -> SchemaChecker:
    """A checker for the draft 4 JSON Schema ``schema`` (see :class:`SchemaChecker`)."""
    return SchemaChecker(schema)


class _Unsupported(Exception):
    """The schema needs something only ``jsonschema`` models; the message says what."""


# ----------------------------------------------------------------------------- classes and kinds
_NONE = type(None)
_JSON_CLASSES: tuple[type, ...] = (dict, list, str, int, float, bool, _NONE)

# Which exact classes each kind of keyword applies to (bool is not a number in JSON Schema).
_KIND_CLASSES: dict[str, frozenset[type]] = {
    "object": frozenset({dict}),
    "array": frozenset({list}),
    "string": frozenset({str}),
    "number": frozenset({int, float}),
}


def _is_integer(instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _is_number(instance: Any) -> bool:
    return isinstance(instance, numbers.Number) and not isinstance(instance, bool)


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "object": lambda instance: isinstance(instance, dict),
    "array": lambda instance: isinstance(instance, list),
    "string": lambda instance: isinstance(instance, str),
    "boolean": lambda instance: isinstance(instance, bool),
    "null": lambda instance: instance is None,
    "integer": _is_integer,
    "number": _is_number,
}
_KIND_TESTS: dict[str, Callable[[Any], bool]] = {
    kind: _TYPE_TESTS[kind] for kind in ("object", "array", "string", "number")
}


class _Keyword:
    """One compiled keyword: its check, the kind of instance it applies to (``None``: every
    instance) and the exact classes for which it can never fail."""

    __slots__ = ("check", "kind", "passes_for")

    def __init__(
        self, check: Check, kind: str | None = None, passes_for: frozenset[type] = frozenset()
    ) -> None:
        self.check = check
        self.kind = kind
        self.passes_for = passes_for


# ----------------------------------------------------------------------------- compiling nodes
# Compiled nodes by the repr of their schema, which tells apart everything validation does (key
# order, 1 / 1.0 / True): a CRD repeats small nodes many times, and CrdSchema compiles each
# top-level field twice (whole and alone). Cleared when it grows past its bound.
_MEMO: dict[str, Node] = {}
_MEMO_BOUND = 4096


def _compile(schema: Any) -> Node:
    if schema is True:
        return _ACCEPT
    if schema is False:
        return _REJECT
    if not isinstance(schema, dict):
        raise _Unsupported(f"a schema must be an object or a boolean, not {schema!r}")
    key = repr(schema)
    node = _MEMO.get(key)
    if node is None:
        node = _compile_node(schema)
        if len(_MEMO) >= _MEMO_BOUND:
            _MEMO.clear()
        _MEMO[key] = node
    return node


def _compile_node(schema: dict[str, Any]) -> Node:
    for steering in ("$ref", "$schema"):
        if steering in schema:
            raise _Unsupported(f"{steering} is left to jsonschema")
    if "id" in schema and not isinstance(schema["id"], str):
        raise _Unsupported(f"id must be a string, not {schema['id']!r}")
    keywords: list[_Keyword] = []
    for key, value in schema.items():
        builder = _BUILDERS.get(key)
        if builder is not None:
            keywords.extend(builder(value, schema))
    return _assemble(keywords)


def _assemble(keywords: list[_Keyword]) -> Node:
    by_class: dict[type, Check | None] = {}
    for cls in _JSON_CLASSES:
        by_class[cls] = _all_of_checks(
            [
                kw.check
                for kw in keywords
                if cls not in kw.passes_for and (kw.kind is None or cls in _KIND_CLASSES[kw.kind])
            ]
        )
    return by_class, _all_of_checks([_guarded(kw) for kw in keywords])


def _guarded(keyword: _Keyword) -> Check:
    if keyword.kind is None:
        return keyword.check
    applies, check = _KIND_TESTS[keyword.kind], keyword.check

    def guarded(instance: Any) -> Errors:
        return check(instance) if applies(instance) else _NO_ERRORS

    return guarded


def _all_of_checks(checks: list[Check]) -> Check | None:
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    ordered = tuple(checks)

    def every(instance: Any) -> Errors:
        errors: list[SchemaError] | None = None
        for check in ordered:
            found = check(instance)
            if found:
                if errors is None:
                    errors = list(found)
                else:
                    errors.extend(found)
        return errors or _NO_ERRORS

    return every


def _dispatcher(node: Node) -> Check:
    by_class, generic = node

    def dispatch(instance: Any) -> Errors:
        check = by_class.get(instance.__class__, generic)
        return check(instance) if check is not None else _NO_ERRORS

    return dispatch


def _always_valid(node: Node) -> frozenset[type]:
    """The exact classes for which ``node`` has no check at all."""
    return frozenset(cls for cls, check in node[0].items() if check is None)


def _is_accept_all(node: Node) -> bool:
    return node[1] is None and all(check is None for check in node[0].values())


def _render_false(error: SchemaError) -> str:
    return f"False schema does not allow {error.instance!r}"


def _reject(instance: Any) -> Errors:
    return [SchemaError(None, None, instance, _render_false)]


_ACCEPT: Node = (dict.fromkeys(_JSON_CLASSES), None)
_REJECT: Node = (dict.fromkeys(_JSON_CLASSES, _reject), _reject)


def _under(key: str | int, found: Errors) -> Errors:
    for error in found:
        error.path.appendleft(key)
    return found


def _placer(node: Node) -> Callable[[str | int, Errors], Errors]:
    """How errors of ``node`` found under a key or index get their path. A ``false`` schema's
    error stays at the parent: jsonschema's ``descend`` answers a boolean schema before it
    adds the key to the path."""
    return _beside if node is _REJECT else _under


def _beside(key: str | int, found: Errors) -> Errors:
    return found


# ----------------------------------------------------------------------------- value checks
def _require(condition: bool, what: str) -> None:
    if not condition:
        raise _Unsupported(what)


def _is_plain_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _schemas(value: Any, keyword: str) -> list[Node]:
    _require(isinstance(value, list), f"{keyword} must be a list of schemas, not {value!r}")
    return [_compile(sub) for sub in value]


def _regex(pattern: Any, keyword: str) -> re.Pattern[str]:
    _require(isinstance(pattern, str), f"{keyword} must be a string, not {pattern!r}")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise _Unsupported(f"{keyword} {pattern!r} does not compile: {exc}") from None


# ----------------------------------------------------------------------------- the keywords
def _type(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
    names = [value] if isinstance(value, str) else value
    _require(
        isinstance(names, list) and all(isinstance(n, str) and n in _TYPE_TESTS for n in names),
        f"type {value!r} names an unknown type",
    )
    tests = tuple(_TYPE_TESTS[n] for n in names)
    shown = ", ".join(repr(n) for n in names)

    def render(error: SchemaError) -> str:
        return f"{error.instance!r} is not of type {shown}"

    def check(instance: Any) -> Errors:
        for test in tests:
            if test(instance):
                return _NO_ERRORS
        return [SchemaError("type", value, instance, render)]

    passes = frozenset(cls for cls in _JSON_CLASSES if any(test(_SAMPLES[cls]) for test in tests))
    return [_Keyword(check, passes_for=passes)]


_SAMPLES: dict[type, Any] = {
    dict: {},
    list: [],
    str: "",
    int: 0,
    float: 0.0,
    bool: False,
    _NONE: None,
}


def _enum(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
    _require(isinstance(value, list), f"enum must be a list, not {value!r}")
    strings = frozenset(v for v in value if isinstance(v, str))

    def render(error: SchemaError) -> str:
        return f"{error.instance!r} is not one of {value!r}"

    def check(instance: Any) -> Errors:
        if instance.__class__ is str:
            # A str equals only a str (jsonschema compares strings with ==).
            if instance in strings:
                return _NO_ERRORS
        elif any(_json_equal(each, instance) for each in value):
            return _NO_ERRORS
        return [SchemaError("enum", value, instance, render)]

    return [_Keyword(check)]


def _length_limit(keyword: str, kind: str, too_few: bool) -> Callable[..., list[_Keyword]]:
    words = {
        "string": ("is too short", "is too long"),
        "array": ("is too short", "is too long"),
        "object": ("does not have enough properties", "has too many properties"),
    }[kind]

    def build(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
        _require(_is_plain_number(value), f"{keyword} must be a number, not {value!r}")
        if too_few:
            word = "should be non-empty" if value == 1 else words[0]
        else:
            word = "is expected to be empty" if value == 0 else words[1]

        def render(error: SchemaError) -> str:
            return f"{error.instance!r} {word}"

        if too_few:

            def check(instance: Any) -> Errors:
                if len(instance) < value:
                    return [SchemaError(keyword, value, instance, render)]
                return _NO_ERRORS

        else:

            def check(instance: Any) -> Errors:
                if len(instance) > value:
                    return [SchemaError(keyword, value, instance, render)]
                return _NO_ERRORS

        return [_Keyword(check, kind)]

    return build


def _bound(keyword: str, exclusive_key: str, lower: bool) -> Callable[..., list[_Keyword]]:
    def build(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
        _require(_is_plain_number(value), f"{keyword} must be a number, not {value!r}")
        exclusive = bool(schema.get(exclusive_key, False))
        side = "less than" if lower else "greater than"
        comparison = f"{side} or equal to" if exclusive else side

        def render(error: SchemaError) -> str:
            return f"{error.instance!r} is {comparison} the {keyword} of {value!r}"

        def fail(instance: Any) -> Errors:
            return [SchemaError(keyword, value, instance, render)]

        if lower and exclusive:

            def check(instance: Any) -> Errors:
                return fail(instance) if instance <= value else _NO_ERRORS

        elif lower:

            def check(instance: Any) -> Errors:
                return fail(instance) if instance < value else _NO_ERRORS

        elif exclusive:

            def check(instance: Any) -> Errors:
                return fail(instance) if instance >= value else _NO_ERRORS

        else:

            def check(instance: Any) -> Errors:
                return fail(instance) if instance > value else _NO_ERRORS

        return [_Keyword(check, "number")]

    return build


def _multiple_of(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
    _require(
        _is_plain_number(value) and value != 0, f"multipleOf must be a non-zero number: {value!r}"
    )

    def render(error: SchemaError) -> str:
        return f"{error.instance!r} is not a multiple of {value}"

    def check(instance: Any) -> Errors:
        if isinstance(value, float):
            quotient = instance / value
            try:
                failed = int(quotient) != quotient
            except OverflowError:
                # A huge quotient: exact arithmetic, as jsonschema falls back to.
                failed = (Fraction(instance) / Fraction(value)).denominator != 1
        else:
            failed = bool(instance % value)
        return [SchemaError("multipleOf", value, instance, render)] if failed else _NO_ERRORS

    return [_Keyword(check, "number")]


def _pattern(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
    search = _regex(value, "pattern").search

    def render(error: SchemaError) -> str:
        return f"{error.instance!r} does not match {value!r}"

    def check(instance: Any) -> Errors:
        if search(instance) is None:
            return [SchemaError("pattern", value, instance, render)]
        return _NO_ERRORS

    return [_Keyword(check, "string")]


def _unique_items(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
    if not value:
        return []

    def render(error: SchemaError) -> str:
        return f"{error.instance!r} has non-unique elements"

    def check(instance: Any) -> Errors:
        if _all_unique(instance):
            return _NO_ERRORS
        return [SchemaError("uniqueItems", value, instance, render)]

    return [_Keyword(check, "array")]


def _required(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
    _require(
        isinstance(value, list) and all(isinstance(n, str) for n in value),
        f"required must be a list of names, not {value!r}",
    )
    if not value:
        return []
    names = tuple(value)

    def render(error: SchemaError) -> str:
        return f"{error._detail!r} is a required property"

    def check(instance: Any) -> Errors:
        for name in names:
            if name not in instance:
                break
        else:
            return _NO_ERRORS
        return [
            SchemaError("required", value, instance, render, name)
            for name in names
            if name not in instance
        ]

    return [_Keyword(check, "object")]


def _properties(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
    _require(isinstance(value, dict), f"properties must be a map of schemas, not {value!r}")
    compiled = {key: _compile(sub) for key, sub in value.items()}
    subs = {key: node for key, node in compiled.items() if not _is_accept_all(node)}
    if not subs:
        return []
    if any(node is _REJECT for node in subs.values()):
        # Their errors share the parent's path, where the schema's order of keys shows.
        placed = [(key, _dispatcher(node), _placer(node)) for key, node in subs.items()]

        def check_in_schema_order(instance: Any) -> Errors:
            errors: list[SchemaError] = []
            for key, sub, place in placed:
                if key in instance:
                    errors.extend(place(key, sub(instance[key])))
            return errors or _NO_ERRORS

        return [_Keyword(check_in_schema_order, "object")]
    get = subs.get

    def check(instance: Any) -> Errors:
        # Errors under different keys never share a path, so the instance's order serves as
        # well as the schema's (the caller sorts by path).
        errors: list[SchemaError] | None = None
        for key, item in instance.items():
            node = get(key)
            if node is None:
                continue
            sub = node[0].get(item.__class__, node[1])
            if sub is None:
                continue
            found = sub(item)
            if found:
                if errors is None:
                    errors = []
                errors.extend(_under(key, found))
        return errors or _NO_ERRORS

    return [_Keyword(check, "object")]


def _pattern_properties(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
    _require(isinstance(value, dict), f"patternProperties must be a map, not {value!r}")
    compiled = [
        (_regex(pattern, "patternProperties").search, _dispatcher(node), _placer(node))
        for pattern, node in ((pattern, _compile(sub)) for pattern, sub in value.items())
    ]

    def check(instance: Any) -> Errors:
        errors: list[SchemaError] = []
        for search, sub, place in compiled:
            for key, item in instance.items():
                if search(key):
                    errors.extend(place(key, sub(item)))
        return errors or _NO_ERRORS

    return [_Keyword(check, "object")]


def _additional_properties(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
    known = schema.get("properties", {})
    _require(isinstance(known, dict), "properties must be a map of schemas")
    pattern_map = schema.get("patternProperties", {})
    _require(isinstance(pattern_map, dict), "patternProperties must be a map")
    joined = "|".join(pattern_map)
    matches = _regex(joined, "patternProperties").search if joined else None

    def extras(instance: dict[Any, Any]) -> list[Any]:
        return [
            key
            for key in instance
            if key not in known and not (matches is not None and matches(key))
        ]

    if isinstance(value, dict):
        sub = _dispatcher(_compile(value))

        def check_each(instance: Any) -> Errors:
            errors: list[SchemaError] = []
            for key in extras(instance):
                errors.extend(_under(key, sub(instance[key])))
            return errors or _NO_ERRORS

        return [_Keyword(check_each, "object")]
    if value:
        return []

    if "patternProperties" in schema:
        patterns = ", ".join(repr(p) for p in sorted(pattern_map))

        def render(error: SchemaError) -> str:
            unmatched = sorted(error._detail)
            verb = "does" if len(unmatched) == 1 else "do"
            names = ", ".join(repr(each) for each in unmatched)
            return f"{names} {verb} not match any of the regexes: {patterns}"

    else:

        def render(error: SchemaError) -> str:
            names = sorted(error._detail, key=str)
            verb = "was" if len(names) == 1 else "were"
            shown = ", ".join(repr(each) for each in names)
            return f"Additional properties are not allowed ({shown} {verb} unexpected)"

    def check_none(instance: Any) -> Errors:
        unexpected = extras(instance)
        if unexpected:
            return [SchemaError("additionalProperties", value, instance, render, unexpected)]
        return _NO_ERRORS

    return [_Keyword(check_none, "object")]


def _dependencies(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
    _require(isinstance(value, dict), f"dependencies must be a map, not {value!r}")
    entries: list[tuple[Any, tuple[str, ...] | None, Check | None]] = []
    for name, dependency in value.items():
        if isinstance(dependency, list):
            _require(
                all(isinstance(each, str) for each in dependency),
                f"dependencies of {name!r} must name properties",
            )
            entries.append((name, tuple(dependency), None))
        else:
            entries.append((name, None, _dispatcher(_compile(dependency))))

    def render(error: SchemaError) -> str:
        each, name = error._detail
        return f"{each!r} is a dependency of {name!r}"

    def check(instance: Any) -> Errors:
        errors: list[SchemaError] = []
        for name, needed, sub in entries:
            if name not in instance:
                continue
            if sub is not None:
                errors.extend(sub(instance))
                continue
            assert needed is not None
            errors.extend(
                SchemaError("dependencies", value, instance, render, (each, name))
                for each in needed
                if each not in instance
            )
        return errors or _NO_ERRORS

    return [_Keyword(check, "object")]


def _items(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
    if isinstance(value, dict):
        node = _compile(value)
        if _is_accept_all(node):
            return []
        by_class, generic = node

        def check_each(instance: Any) -> Errors:
            errors: list[SchemaError] | None = None
            for index, item in enumerate(instance):
                sub = by_class.get(item.__class__, generic)
                if sub is None:
                    continue
                found = sub(item)
                if found:
                    if errors is None:
                        errors = []
                    errors.extend(_under(index, found))
            return errors or _NO_ERRORS

        return [_Keyword(check_each, "array")]
    subs = [(_dispatcher(node), _placer(node)) for node in _schemas(value, "items")]

    def check_tuple(instance: Any) -> Errors:
        errors: list[SchemaError] = []
        for index, (item, (sub, place)) in enumerate(zip(instance, subs, strict=False)):
            errors.extend(place(index, sub(item)))
        return errors or _NO_ERRORS

    return [_Keyword(check_tuple, "array")]


def _additional_items(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
    items = schema.get("items", {})
    if isinstance(items, dict):
        return []  # only a list of item schemas leaves items over
    _require(isinstance(items, list), "items must be a schema or a list of schemas")
    count = len(items)
    if isinstance(value, dict):
        sub = _dispatcher(_compile(value))

        def check_each(instance: Any) -> Errors:
            errors: list[SchemaError] = []
            for index in range(count, len(instance)):
                errors.extend(_under(index, sub(instance[index])))
            return errors or _NO_ERRORS

        return [_Keyword(check_each, "array")]
    if value:
        return []

    def render(error: SchemaError) -> str:
        rest = error.instance[count:]
        verb = "was" if len(rest) == 1 else "were"
        shown = ", ".join(repr(each) for each in rest)
        return f"Additional items are not allowed ({shown} {verb} unexpected)"

    def check_none(instance: Any) -> Errors:
        if len(instance) > count:
            return [SchemaError("additionalItems", value, instance, render)]
        return _NO_ERRORS

    return [_Keyword(check_none, "array")]


def _all_of(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
    nodes = _schemas(value, "allOf")
    subs = [_dispatcher(node) for node in nodes]

    def check(instance: Any) -> Errors:
        errors: list[SchemaError] = []
        for sub in subs:
            errors.extend(sub(instance))
        return errors or _NO_ERRORS

    passes = frozenset.intersection(frozenset(_JSON_CLASSES), *map(_always_valid, nodes))
    return [_Keyword(check, passes_for=passes)]


def _render_none_valid(error: SchemaError) -> str:
    return f"{error.instance!r} is not valid under any of the given schemas"


def _any_of(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
    nodes = _schemas(value, "anyOf")
    subs = [_dispatcher(node) for node in nodes]

    def check(instance: Any) -> Errors:
        for sub in subs:
            if not sub(instance):
                return _NO_ERRORS
        return [SchemaError("anyOf", value, instance, _render_none_valid)]

    passes = frozenset().union(*map(_always_valid, nodes))
    return [_Keyword(check, passes_for=passes)]


def _one_of(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
    subs = [_dispatcher(node) for node in _schemas(value, "oneOf")]

    def render_several(error: SchemaError) -> str:
        shown = ", ".join(repr(value[i]) for i in error._detail)
        return f"{error.instance!r} is valid under each of {shown}"

    def check(instance: Any) -> Errors:
        valid = [i for i, sub in enumerate(subs) if not sub(instance)]
        if not valid:
            return [SchemaError("oneOf", value, instance, _render_none_valid)]
        if len(valid) == 1:
            return _NO_ERRORS
        # jsonschema names the later valid schemas first, then the first one.
        shown = [*valid[1:], valid[0]]
        return [SchemaError("oneOf", value, instance, render_several, shown)]

    return [_Keyword(check)]


def _not(value: Any, schema: dict[str, Any]) -> list[_Keyword]:
    sub = _dispatcher(_compile(value))

    def render(error: SchemaError) -> str:
        return f"{error.instance!r} should not be valid under {value!r}"

    def check(instance: Any) -> Errors:
        if sub(instance):
            return _NO_ERRORS
        return [SchemaError("not", value, instance, render)]

    return [_Keyword(check)]


_BUILDERS: dict[str, Callable[[Any, dict[str, Any]], list[_Keyword]]] = {
    "type": _type,
    "enum": _enum,
    "properties": _properties,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "required": _required,
    "minProperties": _length_limit("minProperties", "object", too_few=True),
    "maxProperties": _length_limit("maxProperties", "object", too_few=False),
    "dependencies": _dependencies,
    "items": _items,
    "additionalItems": _additional_items,
    "minItems": _length_limit("minItems", "array", too_few=True),
    "maxItems": _length_limit("maxItems", "array", too_few=False),
    "uniqueItems": _unique_items,
    "minLength": _length_limit("minLength", "string", too_few=True),
    "maxLength": _length_limit("maxLength", "string", too_few=False),
    "pattern": _pattern,
    "minimum": _bound("minimum", "exclusiveMinimum", lower=True),
    "maximum": _bound("maximum", "exclusiveMaximum", lower=False),
    "multipleOf": _multiple_of,
    "allOf": _all_of,
    "anyOf": _any_of,
    "oneOf": _one_of,
    "not": _not,
    # ``format`` is a draft 4 keyword, but without a format checker (the sandbox passes none)
    # jsonschema never reports it; every other key is not a draft 4 keyword at all.
}


# ----------------------------------------------------------------------------- JSON equality
class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_TRUE, _FALSE = _Marker("true"), _Marker("false")


def _unbool(value: Any) -> Any:
    # True == 1 and False == 0 in Python; JSON Schema tells them apart.
    if value is True:
        return _TRUE
    if value is False:
        return _FALSE
    return value


def _json_equal(one: Any, two: Any) -> bool:
    """Equality as JSON Schema (and jsonschema) defines it: booleans are not numbers, at any
    depth; ``1`` and ``1.0`` are equal."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(
            _json_equal(a, b) for a, b in zip(one, two, strict=True)
        )
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(
            key in two and _json_equal(item, two[key]) for key, item in one.items()
        )
    return bool(_unbool(one) == _unbool(two))


def _all_unique(items: list[Any]) -> bool:
    """Whether no two items are equal, decided the way jsonschema decides ``uniqueItems``:
    sorted neighbours are compared when the items sort, every pair otherwise. (Sorting
    compares ``[True]`` and ``[1]`` as equal, so ``[[True], [1], [True]]`` passes there where a
    pairwise check would not; matching that keeps the two validators' answers the same.)"""
    try:
        ordered = sorted(_unbool(item) for item in items)
        return not any(_json_equal(a, b) for a, b in itertools.pairwise(ordered))
    except (NotImplementedError, TypeError):
        seen: list[Any] = []
        for item in items:
            item = _unbool(item)
            if any(_json_equal(other, item) for other in seen):
                return False
            seen.append(item)
        return True
