"""CRD schemas: structural validation, defaulting and pruning of custom objects."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

from .errors import Cause
from .meta import validate_metadata
from .schemacheck import SchemaChecker, ValidationProblem, compile_schema
from .schemaplan import compile_defaulter, compile_pruner, is_embedded, read_object_meta


def _to_json_schema(node: Any) -> Any:
    """Translate an OpenAPI v3 ``openAPIV3Schema`` node into JSON Schema (draft 4 semantics)."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: _to_json_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _to_json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_to_json_schema(v) for v in value]
        elif key.startswith("x-kubernetes-") or key in (
            "nullable",
            "default",
            "example",
            "externalDocs",
            "format",
            "description",
            "title",
        ):
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


class CrdSchema:
    """Validation, defaults and pruning for one version of a custom resource."""

    def __init__(self, open_api_v3_schema: dict[str, Any] | None, kind: str) -> None:
        self.raw = open_api_v3_schema or {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
        }
        self.kind = kind
        self._defaulter = compile_defaulter(self.raw, top=True)
        self._pruner = compile_pruner(self.raw, top=True)
        self._embedded = _embedded_checker(self.raw, top=True)
        body = copy.deepcopy(self.raw)
        props = body.setdefault("properties", {}) if isinstance(body, dict) else {}
        # metadata is validated by the generic metadata rules, never by the CRD schema.
        props.pop("metadata", None)
        translated = _to_json_schema(body)
        self._validator = compile_schema(translated)
        # Per top-level field (spec, status, ...): one validator each, plus one for the root's
        # own rules with those fields left open, so an update re-validates only what changed.
        fields = translated.get("properties") if isinstance(translated, dict) else None
        self._field_validators: dict[str, SchemaChecker] = {}
        self._root_validator: SchemaChecker | None = None
        if isinstance(fields, dict) and fields:
            self._field_validators = {key: compile_schema(sub) for key, sub in fields.items()}
            self._root_validator = compile_schema(
                {**translated, "properties": {key: {} for key in fields}}
            )

    def default(self, obj: dict[str, Any]) -> None:
        """Fill in ``default`` values in place, as the API server does when decoding."""
        if self._defaulter is not None:
            self._defaulter(obj)

    def prune(self, obj: dict[str, Any]) -> list[str]:
        """Drop fields the schema does not know; return their paths (for strict validation).

        Embedded objects are decoded as the API server decodes them: ``DecodeError`` (from
        :mod:`.schemaplan`) names the first one whose ``apiVersion`` or ``kind`` is not a string
        or whose ``metadata`` is not an ObjectMeta -- a 400 for the request, not a 422.
        """
        dropped: list[str] = []
        if self._pruner is not None:
            self._pruner(obj, "", dropped)
        return dropped

    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[Cause]:
        """Schema problems of ``obj``. On an update (``old`` given) a top-level field equal to
        the stored one is not validated again -- the API server's validation ratcheting, which
        lets unchanged fields pass -- so a metadata or status write does not re-check the spec.
        """
        body = {k: v for k, v in obj.items() if k != "metadata"}
        if old is None or self._root_validator is None:
            errors = self._validator.errors(body)
        else:
            errors = self._root_validator.errors(body)
            for key, validator in self._field_validators.items():
                if key not in body or (key in old and old[key] == body[key]):
                    continue
                for error in validator.errors(body[key]):
                    error.path.appendleft(key)
                    errors.append(error)
        causes = [_cause(e) for e in sorted(errors, key=lambda e: list(e.absolute_path))]
        if self._embedded is not None:
            # Not ratcheted: the API server checks embedded objects on every write.
            self._embedded(obj, "", causes)
        return causes


# ----------------------------------------------------------------------------- embedded objects
# The API server's checks of every object under ``x-kubernetes-embedded-resource`` (below the
# root, whose own fields the cluster checks): apiVersion and kind are required -- with or
# without x-kubernetes-preserve-unknown-fields -- and must be well formed, and metadata must be
# an ObjectMeta whose values are valid. Paths are field paths: ``.key`` for a property,
# ``[key]`` under additionalProperties, ``[i]`` for an item.
_EmbeddedChecker = Callable[[Any, str, list[Cause]], None]
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


def _embedded_checker(schema: Any, top: bool = False) -> _EmbeddedChecker | None:
    """The checks of the embedded objects under ``schema``; ``None`` if it has none."""
    if not isinstance(schema, dict):
        return None
    embedded = is_embedded(schema) and not top
    props = schema.get("properties")
    props = props if isinstance(props, dict) else {}
    children = {key: c for key, sub in props.items() if (c := _embedded_checker(sub)) is not None}
    extra = _embedded_checker(schema.get("additionalProperties"))
    items = _embedded_checker(schema.get("items"))
    if not embedded and not children and extra is None and items is None:
        return None

    def check(value: Any, path: str, causes: list[Cause]) -> None:
        if isinstance(value, dict):
            if embedded:
                causes.extend(embedded_object_problems(value, path))
            for key, item in value.items():
                child = children.get(key)
                if child is not None:
                    child(item, f"{path}.{key}" if path else key, causes)
                elif extra is not None and key not in props:
                    extra(item, f"{path}[{key}]", causes)
        elif isinstance(value, list) and items is not None:
            for i, item in enumerate(value):
                items(item, f"{path}[{i}]", causes)

    return check


def _shown(value: Any) -> str:
    """A bad value as a field error shows it."""
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, separators=(",", ":"))


def embedded_object_problems(obj: dict[str, Any], path: str) -> list[Cause]:
    """What the API server finds wrong with the embedded object ``obj`` at field path ``path``:
    its ``apiVersion`` and ``kind`` (required, strings, well formed) and its ``metadata``."""
    causes: list[Cause] = []
    for key in ("apiVersion", "kind"):
        if key not in obj:
            causes.append(Cause(f"{path}.{key}", "Required value", "FieldValueRequired"))
    for key, value in obj.items():
        where = f"{path}.{key}"
        if key in ("apiVersion", "kind"):
            if not isinstance(value, str):
                causes.append(Cause(where, f"Invalid value: {_shown(value)}: must be a string"))
            elif not value:
                causes.append(Cause(where, "Required value", "FieldValueRequired"))
            elif key == "apiVersion" and value != "/" and value.count("/") > 1:
                causes.append(
                    Cause(
                        where,
                        f"Invalid value: {_shown(value)}: unexpected GroupVersion string: {value}",
                    )
                )
            elif key == "kind":
                problems = []
                if len(value) > 63:
                    problems.append("must be no more than 63 characters")
                if not _DNS1035.match(value.lower()):
                    problems.append(_DNS1035_MESSAGE)
                if problems:
                    causes.append(
                        Cause(
                            where,
                            f"Invalid value: {_shown(value)}: may have mixed case, but should "
                            "otherwise match: " + ",".join(problems),
                        )
                    )
        elif key == "metadata":
            causes.extend(_embedded_metadata_problems(value, where))
    return causes


def _embedded_metadata_problems(value: Any, where: str) -> list[Cause]:
    try:
        meta, _ = read_object_meta(value)
    except ValueError as exc:
        return [Cause(where, f"Invalid value: {_shown(value)}: {exc}")]
    causes: list[Cause] = []
    # A name is not required here; the rules for names are those of path segments.
    for key, prefix in (("name", False), ("generateName", True)):
        name = meta.get(key)
        if name is None:
            continue
        problems = [] if prefix or name not in (".", "..") else [f"may not be '{name}'"]
        problems += [f"may not contain '{c}'" for c in "/%" if c in name]
        causes.extend(
            Cause(f"{where}.{key}", f"Invalid value: {_shown(name)}: {p}") for p in problems
        )
    namespace = meta.get("namespace")
    if namespace is not None:
        problems = []
        if len(namespace) > 63:
            problems.append("must be no more than 63 characters")
        if not _DNS1123_LABEL.match(namespace):
            problems.append(_DNS1123_LABEL_MESSAGE)
        causes.extend(
            Cause(f"{where}.namespace", f"Invalid value: {_shown(namespace)}: {p}")
            for p in problems
        )
    # Labels, annotations, finalizers and owner references follow the rules of every object.
    for cause in validate_metadata({**meta, "name": "x"}, namespaced=False, name_rule="path"):
        cause.field = where + cause.field[len("metadata") :]
        causes.append(cause)
    return causes


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _cause(error: ValidationProblem) -> Cause:
    field = _path(error.absolute_path)
    shown = repr(error.instance) if not isinstance(error.instance, str) else f'"{error.instance}"'
    if len(shown) > 200:
        shown = shown[:200] + "..."
    validator = error.validator
    if validator == "required":
        missing = str(error.message).split("'")[1] if "'" in str(error.message) else ""
        full = f"{field}.{missing}" if field else missing
        return Cause(full, "Required value", "FieldValueRequired")
    if validator == "enum":
        allowed = ", ".join(
            f'"{v}"' if isinstance(v, str) else repr(v) for v in error.validator_value
        )
        return Cause(
            field,
            f"Unsupported value: {shown}: supported values: {allowed}",
            "FieldValueNotSupported",
        )
    if validator == "type":
        return Cause(
            field,
            f"Invalid value: {shown}: {field} in body must be of type "
            f"{error.validator_value}: {shown}",
            "FieldValueTypeInvalid",
        )
    if validator in ("maxLength", "maxItems", "maxProperties"):
        return Cause(
            field, f"Too long: may not be more than {error.validator_value}", "FieldValueTooLong"
        )
    if validator == "additionalProperties":
        return Cause(field, f"Invalid value: {error.message}", "FieldValueInvalid")
    return Cause(field, f"Invalid value: {shown}: {field} in body {_describe(error)}")


def _describe(error: ValidationProblem) -> str:
    v, value = error.validator, error.validator_value
    return {
        "minimum": f"should be greater than or equal to {value}",
        "maximum": f"should be less than or equal to {value}",
        "minLength": f"should be at least {value} chars long",
        "pattern": f"should match '{value}'",
        "minItems": f"should have at least {value} items",
    }.get(str(v), error.message)


def structural_problems(schema: Any, path: str = "openAPIV3Schema") -> list[Cause]:
    """Check the structural-schema rule: every node declares a type (or opts out explicitly)."""
    causes: list[Cause] = []
    if not isinstance(schema, dict):
        return [Cause(path, "Invalid value: must be an object")]
    opted_out = schema.get("x-kubernetes-int-or-string") or schema.get(
        "x-kubernetes-preserve-unknown-fields"
    )
    if is_embedded(schema):
        causes.extend(_embedded_node_problems(schema, path))
    elif "type" not in schema and not opted_out and not _only_logic(schema):
        causes.append(
            Cause(
                f"{path}.type",
                "Required value: must not be empty for specified object fields",
                "FieldValueRequired",
            )
        )
    for key, sub in (schema.get("properties") or {}).items():
        causes.extend(structural_problems(sub, f"{path}.properties[{key}]"))
    items = schema.get("items")
    if isinstance(items, dict):
        causes.extend(structural_problems(items, f"{path}.items"))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        causes.extend(structural_problems(extra, f"{path}.additionalProperties"))
    return causes


def _embedded_node_problems(schema: dict[str, Any], path: str) -> list[Cause]:
    """A node holding an embedded object is an object, and says what it holds unless it keeps
    unknown fields."""
    causes: list[Cause] = []
    kind = schema.get("type")
    must = "must be object if x-kubernetes-embedded-resource is true"
    if not kind:
        causes.append(Cause(f"{path}.type", f"Required value: {must}", "FieldValueRequired"))
    elif kind != "object":
        causes.append(Cause(f"{path}.type", f"Invalid value: {_shown(kind)}: {must}"))
    if not schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"):
        causes.append(
            Cause(
                f"{path}.properties",
                "Required value: must not be empty if x-kubernetes-embedded-resource is true "
                "without x-kubernetes-preserve-unknown-fields",
                "FieldValueRequired",
            )
        )
    return causes


def _only_logic(schema: dict[str, Any]) -> bool:
    return not ({"properties", "items", "additionalProperties"} & set(schema))
