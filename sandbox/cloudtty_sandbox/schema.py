"""CRD schemas: structural validation, defaulting and pruning of custom objects."""

from __future__ import annotations

import copy
from typing import Any

from .errors import Cause
from .schemacheck import SchemaChecker, ValidationProblem, compile_schema
from .schemaplan import compile_defaulter, compile_pruner


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
        """Drop fields the schema does not know; return their paths (for strict validation)."""
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
        if not errors:
            return []
        return [_cause(e) for e in sorted(errors, key=lambda e: list(e.absolute_path))]


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
    if "type" not in schema and not opted_out and not _only_logic(schema):
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


def _only_logic(schema: dict[str, Any]) -> bool:
    return not ({"properties", "items", "additionalProperties"} & set(schema))
