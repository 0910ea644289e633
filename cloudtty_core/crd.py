"""The CloudShell CustomResourceDefinition and its reference page, generated from the model.

The schema is structural (every node typed, spec and status pruned of unknown fields) and
carries what the model's field specs can express: types, enums, minimum/maximum, patterns and
maximum lengths of the named rules, and the defaults the model fills in. Checks a pattern cannot
express stay in :mod:`cloudtty_core.validation`, which the operator runs on every shell.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import attrs

from cloudtty_core.model import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    CloudShellSpec,
    CloudShellStatus,
    FieldSpec,
    Manifest,
    field_spec,
    json_name,
)
from cloudtty_core.phases import UPSTREAM_PHASES, Phase
from cloudtty_core.validation import MAX_UID, RULES

CRD_NAME = f"{PLURAL}.{GROUP}"

#: Columns of ``kubectl get cloudshells`` (CloudTTY's, in its order).
PRINTER_COLUMNS: tuple[Manifest, ...] = (
    {"name": "User", "type": "string", "jsonPath": ".spec.runAsUser", "description": "User"},
    {
        "name": "Command",
        "type": "string",
        "jsonPath": ".spec.commandAction",
        "description": "Command the terminal runs",
    },
    {
        "name": "Type",
        "type": "string",
        "jsonPath": ".spec.exposureMode",
        "description": "Exposure mode",
    },
    {"name": "URL", "type": "string", "jsonPath": ".status.accessUrl", "description": "Access URL"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "description": "Phase"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
)


def crd_manifest() -> Manifest:
    """The apiextensions.k8s.io/v1 CustomResourceDefinition of CloudShell."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["cloudtty"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(c) for c in PRINTER_COLUMNS],
                    "schema": {"openAPIV3Schema": open_api_schema()},
                }
            ],
        },
    }


def open_api_schema() -> Manifest:
    """The structural openAPIV3Schema of a CloudShell."""
    return {
        "type": "object",
        "description": "A request for a browser terminal with kubectl (a cloud shell).",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {**_object_schema(CloudShellSpec), "default": {}},
            "status": _object_schema(CloudShellStatus),
        },
    }


def _object_schema(cls: type) -> Manifest:
    hints = typing.get_type_hints(cls)
    properties: Manifest = {}
    required: list[str] = []
    for f in attrs.fields(cls):
        spec = field_spec(f)
        key = json_name(f)
        properties[key] = _field_schema(f, hints[f.name], spec)
        if spec.required:
            required.append(key)
    schema: Manifest = {"type": "object", "properties": properties}
    if cls.__doc__:
        schema["description"] = _first_line(cls.__doc__)
    if required:
        schema["required"] = required
    return schema


def _field_schema(field: attrs.Attribute[Any], tp: Any, spec: FieldSpec) -> Manifest:
    schema = _type_schema(_without_none(tp), spec)
    schema["description"] = spec.doc
    default = _default_of(field)
    if default is not None:
        schema["default"] = default
    if spec.list_key is not None:
        # Items are identified by the key: unique, and server-side apply merges them per item.
        schema["x-kubernetes-list-type"] = "map"
        schema["x-kubernetes-list-map-keys"] = [spec.list_key]
    return schema


def _type_schema(tp: Any, spec: FieldSpec | None) -> Manifest:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):  # runAsUser: a number or text
        schema: Manifest = {
            "x-kubernetes-int-or-string": True,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "minimum": 0,
            "maximum": MAX_UID,
        }
        return schema | _string_constraints(spec)
    if attrs.has(tp):
        return _object_schema(tp)
    if tp is str:
        return {"type": "string"} | _string_constraints(spec)
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        schema = {"type": "integer", "format": "int64"}
        if spec is not None and spec.minimum is not None:
            schema["minimum"] = spec.minimum
        if spec is not None and spec.maximum is not None:
            schema["maximum"] = spec.maximum
        return schema
    if tp is datetime:
        return {"type": "string", "format": "date-time"}
    if tp is Phase:
        # CloudTTY's spellings stay valid so statuses it wrote survive the upgrade.
        return {"type": "string", "enum": [p.value for p in Phase] + list(UPSTREAM_PHASES)}
    if origin is tuple:
        return {"type": "array", "items": _type_schema(args[0], None)}
    if origin is dict and args and args[1] is Any:
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if origin is not None and args == (str, str):
        return {"type": "object", "additionalProperties": {"type": "string"}}
    raise TypeError(f"no schema for model type {tp!r}")  # pragma: no cover


def _string_constraints(spec: FieldSpec | None) -> Manifest:
    out: Manifest = {}
    if spec is None:
        return out
    if spec.enum:
        out["enum"] = list(spec.enum)
    rule = RULES.get(spec.rule) if spec.rule else None
    max_length = spec.max_length or (rule.max_length if rule else None)
    if max_length is not None:
        out["maxLength"] = max_length
    if rule is not None and rule.pattern is not None:
        out["pattern"] = rule.pattern
    return out


def _without_none(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(members) == 1:
            return members[0]
        return typing.Union[tuple(members)]  # noqa: UP007 - built from a runtime list
    return tp


def _default_of(field: attrs.Attribute[Any]) -> Any:
    """The JSON default the API server should fill in, like the model does (None: no default)."""
    default = field.default
    factory = getattr(default, "factory", None)
    if callable(factory):  # only nested objects get a default ({}); empty lists/maps stay absent
        return {} if attrs.has(type(factory())) else None
    if isinstance(default, bool | int | str) and not field_spec(field).omit_default:
        return default
    return None


def _first_line(doc: str) -> str:
    return doc.strip().splitlines()[0]


# --- reference page ---------------------------------------------------------------------------


def crd_markdown() -> str:
    """docs/crd-reference.md: every field of spec and status with type, default and rules."""
    lines = [
        "# CloudShell reference",
        "",
        "<!-- Generated by `cloudtty crd --markdown` from the model; do not edit by hand. -->",
        "",
        f"`apiVersion: {API_VERSION}`, `kind: {KIND}`, namespaced; plural `{PLURAL}`, "
        f"short name {', '.join(f'`{n}`' for n in SHORT_NAMES)}. Fields marked *CloudTTY* are "
        "accepted exactly as CloudTTY users write them.",
        "",
        "Validation reports every problem with its path (`cloudtty validate FILE`); unknown "
        "fields are reported, not dropped.",
        "",
    ]
    for title, cls in (("spec", CloudShellSpec), ("status", CloudShellStatus)):
        for path, section_cls in _sections(title, cls):
            lines += [f"## `{path}`", "", _first_line(section_cls.__doc__ or ""), ""]
            lines += [
                "| Field | Type | Default | Description |",
                "| --- | --- | --- | --- |",
            ]
            hints = typing.get_type_hints(section_cls)
            for f in attrs.fields(section_cls):
                spec = field_spec(f)
                lines.append(
                    f"| `{json_name(f)}`{' (required)' if spec.required else ''} "
                    f"| {_type_name(hints[f.name])} | {_default_text(f)} "
                    f"| {_description(spec)} |"
                )
            lines.append("")
    lines += ["## Rules", "", "| Rule | Meaning |", "| --- | --- |"]
    lines += [f"| `{r.name}` | {r.description} |" for r in RULES.values()]
    lines += ["", "## Printer columns", "", "| Column | JSON path |", "| --- | --- |"]
    lines += [f"| {c['name'].upper()} | `{c['jsonPath']}` |" for c in PRINTER_COLUMNS]
    return "\n".join(lines) + "\n"


def _sections(path: str, cls: type) -> Iterator[tuple[str, type]]:
    yield path, cls
    hints = typing.get_type_hints(cls)
    for f in attrs.fields(cls):
        inner = _without_none(hints[f.name])
        if typing.get_origin(inner) is tuple:
            inner = typing.get_args(inner)[0]
            suffix = "[]"
        else:
            suffix = ""
        if attrs.has(inner):
            yield from _sections(f"{path}.{json_name(f)}{suffix}", inner)


def _type_name(tp: Any) -> str:
    optional = typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in (
        typing.get_args(tp)
    )
    inner = _without_none(tp)
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    if origin in (typing.Union, types.UnionType):
        name = "integer or string"
    elif attrs.has(inner):
        name = "object"
    elif origin is tuple:
        name = f"list of {_type_name(args[0])}"
    elif origin is dict and args and args[1] is Any:
        name = "object (Kubernetes JSON)"
    elif origin is not None:
        name = "map of string"
    else:
        simple = {str: "string", int: "integer", bool: "boolean", datetime: "time (RFC 3339)"}
        name = simple.get(inner, "string")
    return f"{name}, optional" if optional else name


def _default_text(field: attrs.Attribute[Any]) -> str:
    default = _default_of(field)
    if default is None:
        return ""
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return "`{}`" if default == {} else f"`{default}`"


def _description(spec: FieldSpec) -> str:
    parts = [spec.doc]
    if spec.rule:
        parts.append(f"Rule `{spec.rule}`.")
    if spec.minimum is not None or spec.maximum is not None:
        low = spec.minimum if spec.minimum is not None else "-"
        high = spec.maximum if spec.maximum is not None else "-"
        parts.append(f"Range {low}..{high}.")
    if spec.enum:
        parts.append("One of " + ", ".join(f"`{v}`" for v in spec.enum) + ".")
    if spec.origin == "CloudTTY":
        parts.append("*CloudTTY*")
    return " ".join(parts).replace("|", "\\|")
