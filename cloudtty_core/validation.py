"""Validation of CloudShell JSON: every problem, each with the path of its field.

The checks come from the model: each field's type and its :class:`~cloudtty_core.model.FieldSpec`
(required, minimum/maximum, enum and a named string rule from :data:`RULES`). Backend names
(exposureMode, auth.mode, imageBackend) are only checked for form here; whether a plugin provides
them is the planner's question.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs

from cloudtty_core.model import (
    API_VERSION,
    KIND,
    SERVER_MANAGED_METADATA,
    CloudShell,
    FieldSpec,
    InvalidShell,
    Problem,
    field_spec,
    json_fields,
    parse_time,
    structure_shell,
)
from cloudtty_core.phases import Phase

MAX_UID = 2**31 - 1
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = rf"{_LABEL}(\.{_LABEL})*"
# A host name as DNS sees it: like a subdomain, but each label at most 63 characters.
_HOST_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_HOST = rf"{_HOST_LABEL}(\.{_HOST_LABEL})*"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@attrs.frozen
class Rule:
    """A named check for string values.

    ``pattern`` and ``max_length`` are what the CRD can express of it (the check may do more).
    ``check`` returns the problem message, or None when the value is fine.
    """

    name: str
    description: str
    check: Callable[[str], str | None]
    pattern: str | None = None
    max_length: int | None = None


def _pattern_rule(name: str, description: str, pattern: str, max_length: int, message: str) -> Rule:
    compiled = re.compile(pattern)

    def check(value: str) -> str | None:
        if len(value) > max_length:
            return f"{message} (at most {max_length} characters)"
        return None if compiled.fullmatch(value) else message

    return Rule(name, description, check, f"^{pattern}$", max_length)


def _check_host(value: str) -> str | None:
    name = value.removeprefix("*.")
    if len(value) > 253 or not re.fullmatch(_HOST, name):
        return "must be a DNS-1123 host name, optionally starting with '*.'"
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return None
    return "must be a host name, not an IP address"


def _check_path(value: str, *, leading_slash: bool) -> str | None:
    if leading_slash and not value.startswith("/"):
        return "must start with '/'"
    if _CONTROL.search(value) or any(c.isspace() for c in value):
        return "must not contain spaces or control characters"
    if any(c in value for c in "?#\\"):
        return "must not contain '?', '#' or '\\'"
    if ".." in value.split("/"):
        return "must not contain '..' segments"
    if len(value) > 1024:
        return "must be at most 1024 characters"
    return None


def _check_run_as_user(value: str) -> str | None:
    if value == "root" or (value.isascii() and value.isdigit() and int(value) <= MAX_UID):
        return None
    return f"must be 'root' or a uid from 0 to {MAX_UID}"


def _check_command(value: str) -> str | None:
    if not value.strip():
        return "must not be empty"
    if "\x00" in value or len(value) > 4096:
        return "must be at most 4096 characters without NUL"
    return None


def _check_gateway(value: str) -> str | None:
    namespace, _, name = value.rpartition("/")
    if (namespace and not re.fullmatch(_LABEL, namespace)) or not re.fullmatch(_SUBDOMAIN, name):
        return "must be 'name' or 'namespace/name' of an Istio Gateway"
    return None


def _check_export_to(value: str) -> str | None:
    if value in (".", "*") or (len(value) <= 63 and re.fullmatch(_LABEL, value)):
        return None
    return "must be '.', '*' or a namespace name"


RULES: Mapping[str, Rule] = {
    r.name: r
    for r in (
        _pattern_rule(
            "dns1123-label",
            "DNS-1123 label: lower-case letters, digits and '-', at most 63 characters",
            _LABEL,
            63,
            "must be a DNS-1123 label (lower-case letters, digits, '-')",
        ),
        _pattern_rule(
            "dns1123-subdomain",
            "DNS-1123 subdomain: lower-case letters, digits, '-' and '.', at most 253 characters",
            _SUBDOMAIN,
            253,
            "must be a DNS-1123 name (lower-case letters, digits, '-', '.')",
        ),
        Rule(
            "host",
            "DNS-1123 host name, `*.` wildcard allowed",
            _check_host,
            rf"^(\*\.)?{_HOST}$",
            253,
        ),
        Rule(
            "url-path",
            "URL path starting with `/`, no `..` segment, no spaces or control characters",
            lambda v: _check_path(v, leading_slash=True),
            r"^/[^\s?#\\]*$",
            1024,
        ),
        Rule(
            "url-path-suffix",
            "URL path piece, no `..` segment, no spaces or control characters",
            lambda v: _check_path(v, leading_slash=False),
            r"^[^\s?#\\]*$",
            1024,
        ),
        _pattern_rule(
            "env-name",
            "environment variable name (letters, digits, '_', '-', '.'; not starting with a digit)",
            r"[-._a-zA-Z][-._a-zA-Z0-9]*",
            253,
            "must be a valid environment variable name",
        ),
        Rule(
            "run-as-user",
            f"`root` or a uid from 0 to {MAX_UID} (number or text)",
            _check_run_as_user,
            r"^(root|[0-9]+)$",
        ),
        _pattern_rule(
            "backend-name",
            "backend name: letters, digits, '-', '_', '.', at most 63 characters",
            r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?",
            63,
            "must be a backend name (letters, digits, '-', '_', '.')",
        ),
        _pattern_rule(
            "image",
            "container image reference, no spaces",
            r"[^\s]+",
            4096,
            "must be a container image reference without spaces",
        ),
        Rule(
            "command",
            "non-empty command line, at most 4096 characters",
            _check_command,
            r"\S",
            4096,
        ),
        _pattern_rule(
            "config-key",
            "key of a Secret or ConfigMap: letters, digits, '-', '_', '.'",
            r"[-._a-zA-Z0-9]+",
            253,
            "must be a Secret key (letters, digits, '-', '_', '.')",
        ),
        Rule(
            "gateway",
            "Istio Gateway as `name` or `namespace/name`",
            _check_gateway,
            rf"^({_LABEL}/)?{_SUBDOMAIN}$",
            317,
        ),
        Rule(
            "export-to",
            "`.`, `*` or a namespace name",
            _check_export_to,
            rf"^(\.|\*|{_LABEL})$",
            63,
        ),
        _pattern_rule(
            "http-header",
            "HTTP header name",
            r"[-!#$%&'*+.^_`|~0-9A-Za-z]+",
            256,
            "must be an HTTP header name",
        ),
        _pattern_rule(
            "condition-type",
            "condition type, CamelCase, optionally prefixed by a DNS name and '/'",
            rf"({_SUBDOMAIN}/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?",
            316,
            "must be a condition type such as 'Ready'",
        ),
    )
}


def validate_shell(raw: object) -> list[Problem]:
    """Every problem of a CloudShell given as JSON (a parsed manifest). Empty when it is valid.

    Accepts any parsed value (a YAML document may be a list or a string) and never raises.
    """
    problems: list[Problem] = []
    if not isinstance(raw, Mapping):
        return [Problem("", f"must be an object, not {_kind(raw)}")]
    for key in raw:
        if key not in ("apiVersion", "kind", "metadata", "spec", "status"):
            problems.append(Problem(str(key), "unknown field"))
    for key, expected in (("apiVersion", API_VERSION), ("kind", KIND)):
        if key not in raw:
            problems.append(Problem(key, f"required (must be {expected!r})"))
        elif raw[key] != expected:
            problems.append(Problem(key, f"must be {expected!r}, not {raw[key]!r}"))
    metadata = raw.get("metadata")
    if metadata is None:
        problems.append(Problem("metadata", "required"))
    else:
        _check_metadata(metadata, problems)
    for key in ("spec", "status"):
        if raw.get(key) is not None:
            hints = _types(CloudShell)
            _check_value(raw[key], hints[key], key, None, problems)
    problems.extend(_cross_field_problems(raw))
    return problems


def shell_from_dict(raw: object) -> CloudShell:
    """Validate and build a CloudShell; raises :class:`InvalidShell` with every problem."""
    problems = validate_shell(raw)
    if problems:
        raise InvalidShell(problems)
    return structure_shell(typing.cast(Mapping[str, Any], raw))


def _check_metadata(metadata: Any, problems: list[Problem]) -> None:
    if not isinstance(metadata, Mapping):
        problems.append(Problem("metadata", f"must be an object, not {_kind(metadata)}"))
        return
    known = {k: v for k, v in metadata.items() if k not in SERVER_MANAGED_METADATA}
    if "name" not in known and isinstance(known.get("generateName"), str) and known["generateName"]:
        known["name"] = "placeholder"  # the API server completes generateName into a name
    _check_value(known, _types(CloudShell)["metadata"], "metadata", None, problems)


def _cross_field_problems(raw: Mapping[str, Any]) -> list[Problem]:
    spec = raw.get("spec")
    if not isinstance(spec, Mapping):
        return []
    if spec.get("configmapName") is not None and spec.get("secretRef") is not None:
        return [Problem("spec", "set either configmapName or secretRef, not both")]
    return []


@functools.cache
def _types(cls: type) -> Mapping[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in attrs.fields(cls)}


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    names |= {int: "an integer", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


Check = Callable[[Any, str, list[Problem]], None]
"""A check of one value at a path, appending what is wrong with it to a list of problems."""


def _check_value(
    value: Any, tp: Any, path: str, spec: FieldSpec | None, problems: list[Problem]
) -> None:
    _checker(tp, spec)(value, path, problems)


@functools.cache
def _checker(tp: Any, spec: FieldSpec | None) -> Check:
    """The check of values of type ``tp`` (a field's annotation) described by ``spec``.

    Built once per type and field description: every shell is validated at every planning
    pass, and reading the annotation and the field table each time cost more than the checks.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        inner = (
            _int_or_string_checker(spec)  # runAsUser: a number or text
            if len(members) > 1
            else _checker(members[0], spec)
        )
        if type(None) not in args:
            return inner

        def check_optional(value: Any, path: str, problems: list[Problem]) -> None:
            if value is not None:
                inner(value, path, problems)

        return check_optional
    if attrs.has(tp):
        return _object_checker(tp)
    if tp is str:
        return _string_checker(spec)
    if tp is bool:
        return _check_bool
    if tp is int:
        return _int_checker(spec)
    if tp is datetime:
        return _check_time
    if tp is Phase:
        return _check_phase
    if origin is tuple:
        return _list_checker(_checker(args[0], None), spec)
    if origin in (dict, Mapping) or tp is dict:
        return _map_checker(args)
    return _unknown_type_checker(tp)


def _object_checker(cls: type) -> Check:
    hints = _types(cls)
    fields = [
        (
            key,
            field_spec(f).required,
            _unconstrained_types(hints[f.name], field_spec(f)),
            _checker(hints[f.name], field_spec(f)),
        )
        for key, f in json_fields(cls).items()
    ]
    known = frozenset(key for key, _, _, _ in fields)

    def check_object(value: Any, path: str, problems: list[Problem]) -> None:
        if not isinstance(value, Mapping):
            problems.append(Problem(path, f"must be an object, not {_kind(value)}"))
            return
        for key in value:
            if key not in known:
                problems.append(Problem(f"{path}.{key}", "unknown field"))
        for key, required, accepted, check in fields:
            if key not in value:
                if required:
                    problems.append(Problem(f"{path}.{key}", "required"))
                continue
            item = value[key]
            if type(item) not in accepted:
                check(item, f"{path}.{key}", problems)

    return check_object


def _unconstrained_types(tp: Any, spec: FieldSpec) -> frozenset[type]:
    """The exact types a field's value may have for its check to find nothing whatever the
    value: plain strings, booleans and integers the field sets no bounds on (and None when it
    is optional). Such values are accepted without calling the check."""
    args = typing.get_args(tp)
    optional = typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args
    members = [a for a in args if a is not type(None)] if optional else [tp]
    if len(members) != 1:
        return frozenset()
    member = members[0]
    free = (
        (member is str and not spec.enum and spec.max_length is None and spec.rule is None)
        or member is bool
        or (member is int and spec.minimum is None and spec.maximum is None)
    )
    if not free:
        return frozenset()
    return frozenset({member, type(None)} if optional else {member})


def _string_checker(spec: FieldSpec | None) -> Check:
    # What _check_string does, with the field's constraints and rule looked up once: strings
    # are most of what a shell holds.
    enum = spec.enum if spec is not None else ()
    max_length = spec.max_length if spec is not None else None
    rule = RULES[spec.rule].check if spec is not None and spec.rule is not None else None

    def check_string(value: Any, path: str, problems: list[Problem]) -> None:
        if not isinstance(value, str):
            problems.append(Problem(path, f"must be a string, not {_kind(value)}"))
            return
        if enum and value not in enum:
            problems.append(Problem(path, f"must be one of {', '.join(enum)}, not {value!r}"))
        if max_length is not None and len(value) > max_length:
            problems.append(Problem(path, f"must be at most {max_length} characters"))
        if rule is not None:
            message = rule(value)
            if message:
                problems.append(Problem(path, message))

    return check_string


def _check_bool(value: Any, path: str, problems: list[Problem]) -> None:
    if not isinstance(value, bool):
        problems.append(Problem(path, f"must be a boolean, not {_kind(value)}"))


def _int_checker(spec: FieldSpec | None) -> Check:
    def check_int(value: Any, path: str, problems: list[Problem]) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(Problem(path, f"must be an integer, not {_kind(value)}"))
        else:
            _check_range(value, path, spec, problems)

    return check_int


def _int_or_string_checker(spec: FieldSpec | None) -> Check:
    def check_int_or_string(value: Any, path: str, problems: list[Problem]) -> None:
        _check_int_or_string(value, path, spec, problems)

    return check_int_or_string


def _map_checker(args: tuple[Any, ...]) -> Check:
    def check_map(value: Any, path: str, problems: list[Problem]) -> None:
        _check_map(value, args, path, problems)

    return check_map


def _unknown_type_checker(tp: Any) -> Check:  # pragma: no cover - a model type not handled
    def fail(value: Any, path: str, problems: list[Problem]) -> None:
        raise TypeError(f"{path}: no validation for type {tp!r}")

    return fail


def _check_phase(value: Any, path: str, problems: list[Problem]) -> None:
    if not isinstance(value, str) or not _is_phase(value):
        names = ", ".join(p.value for p in Phase)
        problems.append(Problem(path, f"must be one of {names}, not {value!r}"))


def _list_checker(check_item: Check, spec: FieldSpec | None) -> Check:
    list_key = spec.list_key if spec is not None else None

    def check_list(value: Any, path: str, problems: list[Problem]) -> None:
        if not isinstance(value, list):
            problems.append(Problem(path, f"must be a list, not {_kind(value)}"))
            return
        for i, item in enumerate(value):
            check_item(item, f"{path}[{i}]", problems)
        if list_key is not None:
            _check_unique(value, list_key, path, problems)

    return check_list


def _check_unique(items: list[Any], key: str, path: str, problems: list[Problem]) -> None:
    seen: set[Any] = set()
    for i, item in enumerate(items):
        value = item.get(key) if isinstance(item, Mapping) else None
        if not isinstance(value, str):
            continue
        if value in seen:
            problems.append(Problem(f"{path}[{i}].{key}", f"duplicate {key} {value!r}"))
        seen.add(value)


def _check_map(value: Any, args: tuple[Any, ...], path: str, problems: list[Problem]) -> None:
    if not isinstance(value, Mapping):
        problems.append(Problem(path, f"must be an object, not {_kind(value)}"))
        return
    values_must_be_str = len(args) == 2 and args[1] is str
    for key, item in value.items():
        if not isinstance(key, str):
            problems.append(Problem(f"{path}.{key}", "keys must be strings"))
        elif values_must_be_str and not isinstance(item, str):
            problems.append(Problem(f"{path}.{key}", f"must be a string, not {_kind(item)}"))


def _check_string(value: str, path: str, spec: FieldSpec | None, problems: list[Problem]) -> None:
    if spec is None:
        return
    if spec.enum and value not in spec.enum:
        problems.append(Problem(path, f"must be one of {', '.join(spec.enum)}, not {value!r}"))
    if spec.max_length is not None and len(value) > spec.max_length:
        problems.append(Problem(path, f"must be at most {spec.max_length} characters"))
    if spec.rule is not None:
        message = RULES[spec.rule].check(value)
        if message:
            problems.append(Problem(path, message))


def _check_range(value: int, path: str, spec: FieldSpec | None, problems: list[Problem]) -> None:
    if spec is None:
        return
    if spec.minimum is not None and value < spec.minimum:
        problems.append(Problem(path, f"must be at least {spec.minimum}"))
    if spec.maximum is not None and value > spec.maximum:
        problems.append(Problem(path, f"must be at most {spec.maximum}"))


def _check_int_or_string(
    value: Any, path: str, spec: FieldSpec | None, problems: list[Problem]
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        problems.append(Problem(path, f"must be a string or an integer, not {_kind(value)}"))
    elif isinstance(value, int):
        if not 0 <= value <= MAX_UID:
            problems.append(Problem(path, f"must be 'root' or a uid from 0 to {MAX_UID}"))
    else:
        _check_string(value, path, spec, problems)


def _check_time(value: Any, path: str, problems: list[Problem]) -> None:
    message = "must be an RFC 3339 time such as 2024-05-01T10:00:00Z"
    if not isinstance(value, str):
        problems.append(Problem(path, message))
        return
    try:
        parse_time(value)
    except ValueError:
        problems.append(Problem(path, message))


def _is_phase(value: str) -> bool:
    try:
        Phase(value)
    except ValueError:
        return False
    return True
