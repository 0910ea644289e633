"""Field metadata: one description of a field, shared by converter, validation, CRD and docs.

Every attrs field of the model carries a :class:`FieldSpec` under ``metadata["cloudtty"]``.
The JSON name, the documentation and the constraints therefore live next to the Python attribute,
and nothing else in the project repeats them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

META_KEY = "cloudtty"


@attrs.frozen
class FieldSpec:
    """What a field means and which values it accepts.

    ``rule`` names a string rule that :mod:`cloudtty_core.validation` implements (for example
    ``"dns1123-label"``); the CRD turns the rules it can express into ``pattern``/``maxLength``.
    """

    doc: str
    json_name: str | None = None
    rule: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    enum: tuple[str, ...] = ()
    required: bool = False
    # For lists of objects: the key that identifies an item (unique, a list-map in the CRD).
    list_key: str | None = None
    # Leave the field out of JSON when it equals its default (server-filled metadata such as uid).
    omit_default: bool = False
    origin: str = "cloudtty-py"


def meta(doc: str, **kwargs: Any) -> dict[str, FieldSpec]:
    """Build the ``metadata`` argument of ``attrs.field`` for a model field."""
    return {META_KEY: FieldSpec(doc=doc, **kwargs)}


def upstream(doc: str, **kwargs: Any) -> dict[str, FieldSpec]:
    """Like :func:`meta`, for a field CloudTTY users already write (kept unchanged)."""
    return meta(doc, origin="CloudTTY", **kwargs)


def camel_case(name: str) -> str:
    """``ttl_seconds_after_started`` -> ``ttlSecondsAfterStarted``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def field_spec(field: attrs.Attribute[Any]) -> FieldSpec:
    """The :class:`FieldSpec` of an attrs field; every model field must have one."""
    spec = field.metadata.get(META_KEY)
    if not isinstance(spec, FieldSpec):
        raise TypeError(f"model field {field.name!r} has no FieldSpec metadata")
    return spec


def json_name(field: attrs.Attribute[Any]) -> str:
    """The name a field has in JSON/YAML (camelCase unless the field says otherwise)."""
    spec = field.metadata.get(META_KEY)
    if isinstance(spec, FieldSpec) and spec.json_name:
        return spec.json_name
    return camel_case(field.name)


def json_fields(cls: type) -> Mapping[str, attrs.Attribute[Any]]:
    """The attrs fields of a model class keyed by JSON name, in declaration order."""
    return _json_fields(cls)


@functools.cache
def _json_fields(cls: type) -> Mapping[str, attrs.Attribute[Any]]:
    # A class's fields never change: validation reads this table for every object it checks,
    # so it is built once per class (read-only, as it is shared).
    return MappingProxyType({json_name(f): f for f in attrs.fields(cls)})
