"""Compiled defaulting and pruning for CRD schemas: each ``openAPIV3Schema`` node is turned into
a closure once, and a walk over an object then does dict lookups instead of re-reading the
schema.

The semantics are the API server's as the sandbox implements them:

- defaulting: where a property is absent and its schema has a ``default``, a deep copy of it is
  set; then the property's value (given or defaulted) is defaulted by its schema, recursively,
  and so are values under ``additionalProperties`` (keys that are not properties) and ``items``.
  At the root, ``apiVersion``, ``kind`` and ``metadata`` are left alone.
- pruning: keys a schema does not know are dropped and their paths reported, in the order the
  walk meets them (the object's key order, depth first). A node with
  ``x-kubernetes-preserve-unknown-fields`` keeps every key but still prunes under its
  ``properties`` (in the schema's order); ``additionalProperties: true`` keeps unknown keys, a
  schema there prunes under them; an ``object`` with neither ``properties`` nor
  ``additionalProperties`` drops all its keys (the root too, but for the three below). A
  node with ``x-kubernetes-preserve-unknown-fields`` still prunes under its
  ``additionalProperties`` schema (keys that are not properties) and under its ``items``,
  whose own unknown keys it keeps -- the API server's ``skipPrune``.
- embedded resources: the root and every node with ``x-kubernetes-embedded-resource`` never
  prune their ``apiVersion``, ``kind`` and ``metadata`` by the schema (with or without
  ``x-kubernetes-preserve-unknown-fields``). Below the root, such a node is then decoded as the
  API server decodes it (see :func:`coerce_embedded`): ``apiVersion`` and ``kind`` must be
  strings and ``metadata`` is read as an ``ObjectMeta`` -- unknown fields are dropped, empty
  ones are left out, timestamps are rewritten in UTC -- or the walk stops with a
  :class:`DecodeError`. The root's metadata is the cluster's business, not the schema's.
- paths: the API server prunes first and decodes embedded objects in a second walk, so it
  reports the unknown metadata fields of embedded objects after every pruned field, sorted. The
  two walks write paths differently: pruning writes a map key as ``.key``, the decoding walk
  (a ``field.Path``) as ``[key]`` -- ``spec.byName.web.extra`` is pruned, but
  ``spec.byName[web].metadata.extra`` is an unknown metadata field, and the decoding errors
  name ``spec.byName[web].kind``. A pruner takes the decoding walk's path as an optional
  fourth argument, ``None`` while it is the same as the pruning path.

A compiled node is ``None`` when it can do nothing to any value (a leaf such as
``{"type": "string"}``, or a status subtree without defaults): the parent then skips that
value without looking at it.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

__all__ = [
    "DecodeError",
    "Defaulter",
    "Pruner",
    "UnknownPaths",
    "coerce_embedded",
    "compile_defaulter",
    "compile_pruner",
    "go_json",
    "go_json_float",
    "go_map_text",
    "go_quote",
    "go_value",
    "is_embedded",
    "read_object_meta",
]

#: Fills in defaults in a value, in place.
Defaulter = Callable[[Any], None]


class Pruner(Protocol):
    """Drops unknown keys from a value in place, appending their paths (from ``path``) to
    ``dropped``; ``where`` is the decoding walk's path when it differs from ``path``."""

    def __call__(
        self, value: Any, path: str, dropped: list[str], where: str | None = None, /
    ) -> None: ...


_META_KEYS = frozenset(("apiVersion", "kind", "metadata"))
# Defaults of these classes are shared as they are: nothing can change them.
_IMMUTABLE = frozenset((str, int, float, bool, type(None)))


def compile_defaulter(schema: Any, *, top: bool = False) -> Defaulter | None:
    """The defaulting of values of ``schema``, or ``None`` if it can never change a value.

    ``top`` marks the object's root, whose ``apiVersion``, ``kind`` and ``metadata`` are not
    defaulted by the schema's properties.
    """
    return _defaulter(schema, "openAPIV3Schema", top)


def compile_pruner(schema: Any, *, top: bool = False) -> Pruner | None:
    """The pruning of values of ``schema``, or ``None`` if it can never drop anything.

    ``top`` marks the object's root, whose ``apiVersion``, ``kind`` and ``metadata`` are kept,
    and which reports the pruned paths sorted, as the API server's pruning does, then the
    unknown metadata fields of embedded objects, sorted too.
    The pruner raises :class:`DecodeError` on an embedded object the API server cannot decode.
    """
    pruner = _pruner(schema, "openAPIV3Schema", top)
    if pruner is None or not top:
        return pruner
    inner = pruner

    def prune(value: Any, path: str, dropped: list[str], where: str | None = None) -> None:
        found = UnknownPaths()
        inner(value, path, found, where)
        found.report(dropped)

    return prune


class UnknownPaths(list[str]):
    """The unknown-field paths of one object: those pruning finds, in the list, and apart, in
    ``decoded``, the unknown metadata fields of its embedded objects, which the API server
    finds in a later walk and reports after the others. Each part is reported sorted: the
    API server walks Go maps, in no order, and sorts what its pruning found."""

    __slots__ = ("decoded",)

    def __init__(self) -> None:
        super().__init__()
        self.decoded: list[str] = []

    def report(self, dropped: list[str]) -> None:
        """Add every path to ``dropped`` in the API server's order."""
        dropped.extend(sorted(self))
        dropped.extend(sorted(self.decoded))


def _properties(schema: dict[str, Any], where: str) -> dict[str, Any] | None:
    """The node's ``properties``: ``None`` when absent, ``{}`` for an empty (falsy) value."""
    props = schema.get("properties")
    if props is None or isinstance(props, dict):
        return props
    if not props:
        return {}
    raise ValueError(f"{where}.properties must be an object, not {type(props).__name__}")


# ----------------------------------------------------------------------------- defaulting
# A compiled defaulting node: its defaulter, and the keys a dict needs to have for the node to
# leave it alone (``None`` when that takes a look inside), so a parent skips such dicts -- list
# items whose defaulted fields are all set -- without a call.
_Defaults = tuple[Defaulter, "frozenset[str] | None"]
# (key, has a default, the default, whether it needs a copy, the property's defaulting)
_Entry = tuple[str, bool, Any, bool, "_Defaults | None"]


def _defaulter(schema: Any, where: str, top: bool) -> Defaulter | None:
    plan = _default_plan(schema, where, top)
    return plan[0] if plan is not None else None


def _default_plan(schema: Any, where: str, top: bool) -> _Defaults | None:
    if not isinstance(schema, dict):
        return None
    props = _properties(schema, where) or {}
    # In the schema's order, only the properties with something to do.
    entries: list[_Entry] = []
    for key, sub in props.items():
        if top and key in _META_KEYS:
            continue
        has_default = isinstance(sub, dict) and "default" in sub
        default = sub["default"] if has_default else None
        child = _default_plan(sub, f"{where}.properties[{key}]", False)
        if has_default or child is not None:
            entries.append((key, has_default, default, _needs_copy(default), child))
    extra = _defaulter(schema.get("additionalProperties"), f"{where}.additionalProperties", False)
    items = _default_plan(schema.get("items"), f"{where}.items", False)
    if not entries and extra is None and items is None:
        return None
    # Only dicts are skipped, so what the node does to lists does not matter here.
    flat = extra is None and all(e[4] is None for e in entries)
    complete = frozenset(e[0] for e in entries) if flat else None
    return _default_node(tuple(entries), frozenset(props), extra, items), complete


def _needs_copy(default: Any) -> bool:
    return type(default) not in _IMMUTABLE


def _fresh(default: Any) -> Any:
    if type(default) is dict and not default:
        return {}
    if type(default) is list and not default:
        return []
    return copy.deepcopy(default)


def _default_node(
    entries: tuple[_Entry, ...],
    known: frozenset[str],
    extra: Defaulter | None,
    items: _Defaults | None,
) -> Defaulter:
    item_defaulter, item_complete = items if items is not None else (None, None)

    def apply(value: Any) -> None:
        if isinstance(value, dict):
            for key, has_default, default, needs_copy, child in entries:
                if key not in value:
                    if not has_default:
                        continue
                    value[key] = _fresh(default) if needs_copy else default
                if child is not None:
                    item = value[key]
                    complete = child[1]
                    if complete is None or type(item) is not dict or not item.keys() >= complete:
                        child[0](item)
            if extra is not None:
                for key, item in value.items():
                    if key not in known:
                        extra(item)
        elif isinstance(value, list) and item_defaulter is not None:
            for item in value:
                if (
                    item_complete is None
                    or type(item) is not dict
                    or not item.keys() >= item_complete
                ):
                    item_defaulter(item)

    return apply


# ----------------------------------------------------------------------------- pruning
# A compiled pruning node: its pruner, and the keys of a dict it leaves alone when that dict has
# no others (``None`` when that takes a look inside), so a parent skips such dicts -- most list
# items and small objects -- without a call or a path.
_Plan = tuple[Pruner, "frozenset[str] | None"]
_KEEP, _DESCEND, _DROP = "keep", "descend", "drop"
_PRESERVE = "x-kubernetes-preserve-unknown-fields"


def is_embedded(schema: Any) -> bool:
    """Whether a schema node holds a whole object (``x-kubernetes-embedded-resource``)."""
    return isinstance(schema, dict) and bool(schema.get("x-kubernetes-embedded-resource"))


def _pruner(schema: Any, where: str, top: bool) -> Pruner | None:
    plan = _prune_plan(schema, where, top)
    return plan[0] if plan is not None else None


def _prune_plan(schema: Any, where: str, top: bool) -> _Plan | None:
    if not isinstance(schema, dict):
        return None
    embedded = is_embedded(schema) and not top
    # apiVersion, kind and metadata of an object -- the root or an embedded one -- are never
    # pruned by the schema, even where its properties name them.
    keep_meta = top or embedded
    plan: _Plan | None
    if schema.get(_PRESERVE):
        plan = _preserving_pruner(schema, where, keep_meta)
    else:
        props = _properties(schema, where)
        extra_schema = schema.get("additionalProperties")
        on_dict: _Plan | None
        if props is None and extra_schema is None:
            if schema.get("type") != "object":
                on_dict = None
            elif keep_meta:
                on_dict = _object_pruner({}, None, where, True)
            else:
                on_dict = (_drop_all, frozenset())
        else:
            on_dict = _object_pruner(props, extra_schema, where, keep_meta)
        items = _prune_plan(schema.get("items"), f"{where}.items", False)
        if items is None:
            plan = on_dict
        else:
            plan = _prune_node(on_dict[0] if on_dict is not None else None, items), None
    return _embedded_node(plan) if embedded else plan


def _preserving_pruner(schema: dict[str, Any], where: str, keep_meta: bool) -> _Plan | None:
    """Unknown keys stay; the declared properties are pruned, in the schema's order, then the
    other keys under an ``additionalProperties`` schema, and list items under ``items`` -- as
    nodes that keep their own unknown keys too."""
    props = _properties(schema, where) or {}
    children = tuple(
        (key, plan[0])
        for key, sub in props.items()
        if not (keep_meta and key in _META_KEYS)
        and (plan := _prune_plan(sub, f"{where}.properties[{key}]", False)) is not None
    )
    extra_schema = schema.get("additionalProperties")
    extra = (
        _pruner(extra_schema, f"{where}.additionalProperties", False)
        if isinstance(extra_schema, dict)
        else None
    )
    items_schema = schema.get("items")
    items = (
        _prune_plan({**items_schema, _PRESERVE: True}, f"{where}.items", False)
        if isinstance(items_schema, dict)
        else None
    )
    if not children and extra is None and items is None:
        return None
    # Keys the additionalProperties schema never sees.
    known = frozenset(props) | (_META_KEYS if keep_meta else frozenset())
    item_pruner, item_clean = items if items is not None else (None, None)

    def prune(value: Any, path: str, dropped: list[str], where: str | None = None) -> None:
        if isinstance(value, dict):
            for key, child in children:
                if key in value:
                    child(
                        value[key],
                        f"{path}.{key}" if path else key,
                        dropped,
                        None if where is None else f"{where}.{key}",
                    )
            if extra is not None:
                for key, item in value.items():
                    if key not in known:
                        extra(
                            item,
                            f"{path}.{key}" if path else key,
                            dropped,
                            f"{path if where is None else where}[{key}]",
                        )
        elif isinstance(value, list) and item_pruner is not None:
            for i, item in enumerate(value):
                if item_clean is None or type(item) is not dict or not item.keys() <= item_clean:
                    item_pruner(
                        item, f"{path}[{i}]", dropped, None if where is None else f"{where}[{i}]"
                    )

    return prune, None


def _drop_all(value: Any, path: str, dropped: list[str], where: str | None = None) -> None:
    if isinstance(value, dict):
        for key in value:
            dropped.append(f"{path}.{key}" if path else key)
        value.clear()


def _object_pruner(
    props: dict[str, Any] | None, extra_schema: Any, where: str, keep_meta: bool
) -> _Plan | None:
    """Pruning of a dict against ``properties`` and ``additionalProperties``."""
    props = props if props is not None else {}
    children = {
        key: plan
        for key, sub in props.items()
        if not (keep_meta and key in _META_KEYS)
        and (plan := _prune_plan(sub, f"{where}.properties[{key}]", False)) is not None
    }
    extra: Pruner | None = None
    if isinstance(extra_schema, dict):
        extra = _pruner(extra_schema, f"{where}.additionalProperties", False)
        unknown = _DESCEND if extra is not None else _KEEP
    else:
        unknown = _KEEP if extra_schema is True else _DROP
    if not children and unknown == _KEEP:
        return None
    # Keys never pruned here: the properties, and an object's own fields.
    known = frozenset(props) | (_META_KEYS if keep_meta else frozenset())
    dropping = unknown == _DROP

    def prune(value: Any, path: str, dropped: list[str], where: str | None = None) -> None:
        if not isinstance(value, dict) or (not children and value.keys() <= known):
            return
        doomed: list[str] | None = None
        for key, item in value.items():
            plan = children.get(key)
            if plan is not None:
                child, clean = plan
                if clean is None or type(item) is not dict or not item.keys() <= clean:
                    child(
                        item,
                        f"{path}.{key}" if path else key,
                        dropped,
                        None if where is None else f"{where}.{key}",
                    )
            elif key in known:
                continue
            elif dropping:
                dropped.append(f"{path}.{key}" if path else key)
                if doomed is None:
                    doomed = [key]
                else:
                    doomed.append(key)
            elif extra is not None:
                extra(
                    item,
                    f"{path}.{key}" if path else key,
                    dropped,
                    f"{path if where is None else where}[{key}]",
                )
        if doomed is not None:
            for key in doomed:
                del value[key]

    return prune, (None if children else known)


def _prune_node(on_dict: Pruner | None, items: _Plan) -> Pruner:
    item_pruner, clean = items

    def prune(value: Any, path: str, dropped: list[str], where: str | None = None) -> None:
        if isinstance(value, list):
            for i, item in enumerate(value):
                if clean is None or type(item) is not dict or not item.keys() <= clean:
                    item_pruner(
                        item, f"{path}[{i}]", dropped, None if where is None else f"{where}[{i}]"
                    )
        elif on_dict is not None:
            on_dict(value, path, dropped, where)

    return prune


def _embedded_node(plan: _Plan | None) -> _Plan:
    """``plan``, then the embedded object decoded (:func:`coerce_embedded`)."""
    inner = plan[0] if plan is not None else None

    def prune(value: Any, path: str, dropped: list[str], where: str | None = None) -> None:
        if inner is not None:
            inner(value, path, dropped, where)
        if isinstance(value, dict):
            coerce_embedded(value, path if where is None else where, dropped)

    # A dict without apiVersion, kind and metadata that the plan leaves alone is still left
    # alone: there is nothing to decode.
    clean = plan[1] if plan is not None else None
    return prune, (clean - _META_KEYS if clean is not None else None)


# ----------------------------------------------------------------------------- ObjectMeta
# What the API server does to the metadata of an embedded object: it decodes it into an
# ObjectMeta and encodes that back, so fields ObjectMeta does not have are dropped, empty ones
# (omitempty) are left out, and a value of the wrong type fails the request (the sandbox leaves
# such metadata as it is, for validation to name). Each field with its Go type's kind:
_STR, _INT, _OPT_INT, _TIME, _OPT_TIME, _STR_MAP, _STR_LIST, _OWNERS, _MANAGED = range(9)
_OBJECT_META = {
    "name": _STR,
    "generateName": _STR,
    "namespace": _STR,
    "selfLink": _STR,
    "uid": _STR,
    "resourceVersion": _STR,
    "generation": _INT,
    "creationTimestamp": _TIME,
    "deletionTimestamp": _OPT_TIME,
    "deletionGracePeriodSeconds": _OPT_INT,
    "labels": _STR_MAP,
    "annotations": _STR_MAP,
    "ownerReferences": _OWNERS,
    "finalizers": _STR_LIST,
    "managedFields": _MANAGED,
}
_GO_TYPES = {
    _STR: "string",
    _INT: "int64",
    _OPT_INT: "int64",
    _STR_MAP: "map[string]string",
    _STR_LIST: "[]string",
    _OWNERS: "[]v1.OwnerReference",
    _MANAGED: "[]v1.ManagedFieldsEntry",
}
# OwnerReference: these four are always written, even empty; the two flags only when set.
_OWNER_STRINGS = ("apiVersion", "kind", "name", "uid")
_OWNER_FLAGS = ("controller", "blockOwnerDeletion")
_MANAGED_STRINGS = ("manager", "operation", "apiVersion", "fieldsType", "subresource")
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_ZERO_TIME = "0001-01-01T00:00:00Z"
_INT64 = (-(2**63), 2**63 - 1)


class _Malformed(Exception):
    """A metadata value ObjectMeta cannot hold: the API server's decoding error."""


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _type_error(value: Any, struct: str, field: str, go_type: str) -> _Malformed:
    shown = _json_kind(value)
    if go_type == "int64" and shown == "number":
        shown = f"number {json.dumps(value)}"
    return _Malformed(
        f"json: cannot unmarshal {shown} into Go struct field {struct}.{field} of type {go_type}"
    )


def _time(value: Any, struct: str, field: str) -> str:
    """A ``metav1.Time`` as the API server writes it back: RFC 3339 in UTC, whole seconds.
    (The decoder puts its own context on the type error of ``Time``'s own decoding.)"""
    if not isinstance(value, str):
        raise _type_error(value, struct, field, "string")
    return _utc(value)


@functools.lru_cache(maxsize=4096)
def _utc(value: str) -> str:
    # Every write decodes its object's timestamps, and an object keeps them across writes.
    match = _RFC3339.match(value)
    when = None
    if match is not None:
        try:
            when = dt.datetime.fromisoformat(match[1] + match[2].replace("Z", "+00:00"))
        except ValueError:
            when = None
    if when is None:
        raise _Malformed(f'parsing time "{value}" as "2006-01-02T15:04:05Z07:00"')
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _string(value: Any, struct: str, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _type_error(value, struct, field, "string")
    return value


def _entries(
    items: Any, field: str, struct: str, prefix: str, unknown: list[str], go_path: str
) -> list[dict[str, Any]]:
    """The entries of ``ownerReferences`` or ``managedFields`` as their Go structs keep them."""
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if item is None:
            item = {}
        if not isinstance(item, dict):
            raise _Malformed(
                f"json: cannot unmarshal {_json_kind(item)} into Go struct field "
                f"ObjectMeta.{go_path}{field} of type v1.{struct}"
            )
        entry: dict[str, Any] = {}
        for key, value in item.items():
            path = f"{go_path}{field}.{key}"
            if struct == "OwnerReference" and key in _OWNER_STRINGS:
                entry[key] = _string(value, struct, path)
            elif struct == "OwnerReference" and key in _OWNER_FLAGS:
                if value is not None and not isinstance(value, bool):
                    raise _type_error(value, struct, path, "bool")
                if value is not None:
                    entry[key] = value
            elif struct == "ManagedFieldsEntry" and key in _MANAGED_STRINGS:
                if text := _string(value, struct, path):
                    entry[key] = text
            elif struct == "ManagedFieldsEntry" and key == "time":
                if value is not None:
                    entry[key] = _time(value, struct, path)
            elif struct == "ManagedFieldsEntry" and key == "fieldsV1":
                if value is not None:
                    entry[key] = value
            else:
                unknown.append(f"{prefix}{field}[{i}].{key}")
        if struct == "OwnerReference":
            for key in _OWNER_STRINGS:
                entry.setdefault(key, "")
        out.append(entry)
    return out


def _field(kind: int, key: str, value: Any, prefix: str, unknown: list[str], go_path: str) -> Any:
    """The value ObjectMeta keeps for one field (``None``: left out as empty); ``go_path``
    leads the field's name in Go's type errors."""
    if value is None:
        return None
    if kind == _STR:
        if type(value) is str:
            return value or None
        return _string(value, "ObjectMeta", go_path + key) or None
    if kind in (_INT, _OPT_INT):
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not _INT64[0] <= value <= _INT64[1]
        ):
            raise _type_error(value, "ObjectMeta", go_path + key, "int64")
        return value if value or kind == _OPT_INT else None
    if kind in (_TIME, _OPT_TIME):
        when = _time(value, "ObjectMeta", go_path + key)
        return None if kind == _TIME and when == _ZERO_TIME else when
    if kind == _STR_MAP:
        if not isinstance(value, dict):
            raise _type_error(value, "ObjectMeta", go_path + key, _GO_TYPES[kind])
        if all(type(v) is str for v in value.values()):
            return dict(value) if value else None
        strings = {k: _string(v, "ObjectMeta", go_path + key) for k, v in value.items()}
        return strings or None
    if not isinstance(value, list):
        raise _type_error(value, "ObjectMeta", go_path + key, _GO_TYPES[kind])
    if kind == _STR_LIST:
        return [_string(v, "ObjectMeta", go_path + key) for v in value] or None
    struct = "OwnerReference" if kind == _OWNERS else "ManagedFieldsEntry"
    return _entries(value, key, struct, prefix, unknown, go_path) or None


def read_object_meta(
    meta: Any, prefix: str = "metadata.", *, owner: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """``meta`` as the API server keeps it after decoding it into an ObjectMeta, and the paths
    (from ``prefix``) of the fields it drops as unknown.

    ``owner`` names the Go struct whose ``metadata`` field ``meta`` is when the API server
    decodes the whole object at once (built-in kinds): Go's type errors then name the field's
    path from the object's root (``ObjectMeta.metadata.uid``). Without it the metadata is
    decoded on its own, as a custom resource's is (``ObjectMeta.uid``).

    Raises ``ValueError`` with the decoding error when a field has a value of the wrong type.
    """
    if meta is None:
        return {}, []
    if not isinstance(meta, dict):
        where = f"Go struct field {owner}.metadata" if owner is not None else "Go value"
        raise ValueError(
            f"json: cannot unmarshal {_json_kind(meta)} into {where} of type v1.ObjectMeta"
        )
    go_path = "metadata." if owner is not None else ""
    kept: dict[str, Any] = {}
    unknown: list[str] = []
    try:
        for key, value in meta.items():
            kind = _OBJECT_META.get(key)
            if kind is None:
                unknown.append(prefix + key)
                continue
            converted = _field(kind, key, value, prefix, unknown, go_path)
            if converted is not None:
                kept[key] = converted
    except _Malformed as exc:
        raise ValueError(str(exc)) from None
    return kept, unknown


def coerce_embedded(obj: dict[str, Any], path: str, dropped: list[str]) -> None:
    """Decode the embedded object ``obj`` at ``path`` (the decoding walk's path: map keys as
    ``[key]``) as the API server does after pruning: its ``apiVersion`` and ``kind`` must be
    strings, and its ``metadata`` is replaced by what an ObjectMeta keeps of it, the paths of
    the unknown fields it drops added to ``dropped`` (to its ``decoded`` paths when it is an
    :class:`UnknownPaths`).

    Raises :class:`DecodeError` naming the field when ``obj`` cannot be decoded.
    """
    for key in ("apiVersion", "kind"):
        if key in obj and not isinstance(obj[key], str):
            where = f"{path}.{key}" if path else key
            raise DecodeError(f"{where}: Invalid value: {go_value(obj[key])}: must be a string")
    if "metadata" in obj:
        where = f"{path}.metadata" if path else "metadata"
        try:
            kept, unknown = read_object_meta(obj["metadata"], where + ".")
        except ValueError as exc:
            shown = go_value(obj["metadata"])
            raise DecodeError(f"{where}: Invalid value: {shown}: {exc}") from None
        if unknown:
            if isinstance(dropped, UnknownPaths):
                dropped.decoded.extend(unknown)
            else:
                dropped.extend(unknown)
        obj["metadata"] = kept


class DecodeError(ValueError):
    """A value the API server cannot decode into its Go types: the request fails with a 400
    while it is decoded, before any validation. The message is the field error."""


def go_value(value: Any) -> str:
    """A JSON value as a field error of the API server prints it: Go's ``%v`` for scalars,
    ``%q`` for strings and ``%#v`` for maps and lists."""
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, (dict, list)):
        return _go_syntax(value)
    return _go_scalar(value)


def _go_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_float(value: float) -> str:
    """``%v`` of a float64: the shortest digits, in exponent form below 1e-4 and from 1e6."""
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent  # digits before the decimal point
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        shown = f"{mantissa}e{point - 1:+03d}"
    elif point <= 0:
        shown = "0." + "0" * -point + text
    elif point >= len(text):
        shown = text + "0" * (point - len(text))
    else:
        shown = text[:point] + "." + text[point:]
    return ("-" if sign else "") + shown


def _go_syntax(value: Any) -> str:
    """Go's ``%#v`` of a decoded JSON value (maps print their keys sorted)."""
    if isinstance(value, dict):
        inner = ", ".join(
            f"{go_quote(str(k))}:{_go_syntax(value[k])}" for k in sorted(value, key=str)
        )
        return "map[string]interface {}{" + inner + "}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_syntax(v) for v in value) + "}"
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, str):
        return go_quote(value)
    return _go_scalar(value)


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (``strconv.Quote``): printable characters as they are, the
    others escaped."""
    out = ['"']
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        elif char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif (code := ord(char)) < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_HTML_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def go_json(value: Any) -> str:
    """A decoded JSON value encoded as Go's ``encoding/json`` encodes an unstructured object:
    compact, map keys sorted, ``<``, ``>`` and ``&`` escaped, numbers as Go writes them."""
    return _go_encode(value).translate(_HTML_ESCAPES)


def _go_encode(value: Any) -> str:
    if isinstance(value, dict):
        members = (f"{_go_encode(str(k))}:{_go_encode(value[k])}" for k in sorted(value, key=str))
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_go_encode(v) for v in value) + "]"
    if isinstance(value, float):
        return go_json_float(value)
    return json.dumps(value, ensure_ascii=False)


def go_json_float(number: float) -> str:
    """``number`` as Go's JSON encoder writes a float64: the shortest digits that read back
    as it, in plain decimals from 1e-6 up to 1e21 (a whole number without a fraction),
    with an exponent outside that range, a negative exponent without leading zeros."""
    magnitude = abs(number)
    if number.is_integer() and magnitude < 1e21:
        return "-0" if number == 0 and math.copysign(1.0, number) < 0 else str(int(number))
    if magnitude < 1e-6 or magnitude >= 1e21:
        return repr(number).replace("e-0", "e-")
    return format(Decimal(repr(number)), "f")


def go_map_text(value: Any) -> str:
    """Go's ``%+v`` of a decoded JSON value: ``map[key:value ...]`` with the keys sorted,
    ``[a b]`` for lists, strings bare and ``<nil>`` for null."""
    if isinstance(value, dict):
        inner = " ".join(f"{k}:{go_map_text(value[k])}" for k in sorted(value, key=str))
        return f"map[{inner}]"
    if isinstance(value, list):
        return "[" + " ".join(go_map_text(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, str):
        return value
    return _go_scalar(value)
