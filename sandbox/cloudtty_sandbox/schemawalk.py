"""The generic walk over a raw ``openAPIV3Schema`` for defaulting and pruning: what
``CrdSchema.default`` and ``CrdSchema.prune`` did before their plans were compiled
(:mod:`.schemaplan`). It reads every schema node on every call, which makes it slow and plain;
it is kept as the reference the compiled plans are tested and measured against.
"""

from __future__ import annotations

import copy
from typing import Any

from .schemaplan import UnknownPaths, coerce_embedded, is_embedded

__all__ = ["walk_defaults", "walk_prune"]

_META_KEYS = ("apiVersion", "kind", "metadata")
_PRESERVE = "x-kubernetes-preserve-unknown-fields"


def walk_defaults(value: Any, schema: Any, *, top: bool = False) -> None:
    """Fill in the ``default`` of every absent property under ``schema``, in place."""
    if not isinstance(schema, dict):
        return
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if top and key in _META_KEYS:
                continue
            if key not in value and isinstance(sub, dict) and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                walk_defaults(value[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                if key not in props:
                    walk_defaults(item, extra)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for item in value:
                walk_defaults(item, items)


def walk_prune(
    value: Any,
    schema: Any,
    path: str,
    dropped: list[str],
    *,
    top: bool = False,
    where: str | None = None,
) -> None:
    """Drop the fields ``schema`` does not know, in place, adding their paths to ``dropped``.

    The root and embedded resources keep their ``apiVersion``, ``kind`` and ``metadata``; below
    the root, an embedded resource is then decoded (its metadata read as an ObjectMeta), which
    raises ``DecodeError`` when it cannot be. ``where`` is the path as the decoding walk writes
    it (map keys as ``[key]``), ``None`` while it is ``path``; the root reports the unknown
    metadata fields of embedded objects after the pruned fields, sorted.
    """
    if top:
        found = UnknownPaths()
        _walk_prune(value, schema, path, found, True, where)
        found.report(dropped)
        return
    embedded = is_embedded(schema)
    _walk_prune(value, schema, path, dropped, embedded, where)
    if embedded and isinstance(value, dict):
        coerce_embedded(value, path if where is None else where, dropped)


def _child(where: str | None, key: str) -> str | None:
    return None if where is None else f"{where}.{key}"


def _walk_prune(
    value: Any, schema: Any, path: str, dropped: list[str], keep_meta: bool, where: str | None
) -> None:
    if not isinstance(schema, dict):
        return
    if schema.get(_PRESERVE):
        # Unknown keys stay, but properties, additionalProperties and items are still pruned.
        if isinstance(value, dict):
            props = schema.get("properties") or {}
            for key, sub in props.items():
                if key in value and not (keep_meta and key in _META_KEYS):
                    walk_prune(
                        value[key],
                        sub,
                        f"{path}.{key}" if path else key,
                        dropped,
                        where=_child(where, key),
                    )
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                for key in list(value):
                    if key not in props and not (keep_meta and key in _META_KEYS):
                        walk_prune(
                            value[key],
                            extra,
                            f"{path}.{key}" if path else key,
                            dropped,
                            where=f"{path if where is None else where}[{key}]",
                        )
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            # Items of a node that keeps unknown fields keep theirs too (skipPrune).
            _walk_items(value, {**schema["items"], _PRESERVE: True}, path, dropped, where)
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is None and extra is None:
            if schema.get("type") == "object":
                for key in list(value):
                    if keep_meta and key in _META_KEYS:
                        continue
                    dropped.append(f"{path}.{key}" if path else key)
                    del value[key]
            return
        for key in list(value):
            if keep_meta and key in _META_KEYS:
                continue
            sub_path = f"{path}.{key}" if path else key
            if props is not None and key in props:
                walk_prune(value[key], props[key], sub_path, dropped, where=_child(where, key))
            elif isinstance(extra, dict):
                walk_prune(
                    value[key],
                    extra,
                    sub_path,
                    dropped,
                    where=f"{path if where is None else where}[{key}]",
                )
            elif extra is True:
                continue
            else:
                dropped.append(sub_path)
                del value[key]
    elif isinstance(value, list):
        _walk_items(value, schema.get("items"), path, dropped, where)


def _walk_items(
    value: list[Any], items: Any, path: str, dropped: list[str], where: str | None
) -> None:
    for i, item in enumerate(value):
        walk_prune(
            item, items, f"{path}[{i}]", dropped, where=None if where is None else f"{where}[{i}]"
        )
