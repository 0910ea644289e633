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
  ``additionalProperties`` drops all its keys -- except at the root, which keeps them all; and
  the root never prunes its ``apiVersion``, ``kind`` and ``metadata``. Embedded resources
  (``x-kubernetes-embedded-resource``) get no case of their own.

A compiled node is ``None`` when it can do nothing to any value (a leaf such as
``{"type": "string"}``, or a status subtree without defaults): the parent then skips that
value without looking at it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

__all__ = ["Defaulter", "Pruner", "compile_defaulter", "compile_pruner"]

#: Fills in defaults in a value, in place.
Defaulter = Callable[[Any], None]
#: Drops unknown keys from a value in place, appending their paths (from ``path``) to a list.
Pruner = Callable[[Any, str, list[str]], None]

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

    ``top`` marks the object's root (its ``apiVersion``, ``kind`` and ``metadata`` are kept,
    and an ``object`` schema without properties keeps every key there).
    """
    return _pruner(schema, "openAPIV3Schema", top)


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


def _pruner(schema: Any, where: str, top: bool) -> Pruner | None:
    plan = _prune_plan(schema, where, top)
    return plan[0] if plan is not None else None


def _prune_plan(schema: Any, where: str, top: bool) -> _Plan | None:
    if not isinstance(schema, dict):
        return None
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return _preserving_pruner(schema, where)
    props = _properties(schema, where)
    extra_schema = schema.get("additionalProperties")
    on_dict: _Plan | None
    if props is None and extra_schema is None:
        on_dict = (_drop_all, frozenset()) if schema.get("type") == "object" and not top else None
    else:
        on_dict = _object_pruner(props, extra_schema, where, top)
    items = _prune_plan(schema.get("items"), f"{where}.items", False)
    if items is None:
        return on_dict
    return _prune_node(on_dict[0] if on_dict is not None else None, items), None


def _preserving_pruner(schema: dict[str, Any], where: str) -> _Plan | None:
    """Unknown keys stay; only the declared properties are pruned, in the schema's order."""
    props = _properties(schema, where) or {}
    children = tuple(
        (key, plan[0])
        for key, sub in props.items()
        if (plan := _prune_plan(sub, f"{where}.properties[{key}]", False)) is not None
    )
    if not children:
        return None

    def prune(value: Any, path: str, dropped: list[str]) -> None:
        if isinstance(value, dict):
            for key, child in children:
                if key in value:
                    child(value[key], f"{path}.{key}" if path else key, dropped)

    return prune, None


def _drop_all(value: Any, path: str, dropped: list[str]) -> None:
    if isinstance(value, dict):
        for key in value:
            dropped.append(f"{path}.{key}" if path else key)
        value.clear()


def _object_pruner(
    props: dict[str, Any] | None, extra_schema: Any, where: str, top: bool
) -> _Plan | None:
    """Pruning of a dict against ``properties`` and ``additionalProperties``."""
    props = props if props is not None else {}
    children = {
        key: plan
        for key, sub in props.items()
        if not (top and key in _META_KEYS)
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
    # Keys never pruned here: the properties, and the object's own fields at the root.
    known = frozenset(props) | (_META_KEYS if top else frozenset())
    dropping = unknown == _DROP

    def prune(value: Any, path: str, dropped: list[str]) -> None:
        if not isinstance(value, dict) or (not children and value.keys() <= known):
            return
        doomed: list[str] | None = None
        for key, item in value.items():
            plan = children.get(key)
            if plan is not None:
                child, clean = plan
                if clean is None or type(item) is not dict or not item.keys() <= clean:
                    child(item, f"{path}.{key}" if path else key, dropped)
            elif key in known:
                continue
            elif dropping:
                dropped.append(f"{path}.{key}" if path else key)
                if doomed is None:
                    doomed = [key]
                else:
                    doomed.append(key)
            elif extra is not None:
                extra(item, f"{path}.{key}" if path else key, dropped)
        if doomed is not None:
            for key in doomed:
                del value[key]

    return prune, (None if children else known)


def _prune_node(on_dict: Pruner | None, items: _Plan) -> Pruner:
    item_pruner, clean = items

    def prune(value: Any, path: str, dropped: list[str]) -> None:
        if isinstance(value, list):
            for i, item in enumerate(value):
                if clean is None or type(item) is not dict or not item.keys() <= clean:
                    item_pruner(item, f"{path}[{i}]", dropped)
        elif on_dict is not None:
            on_dict(value, path, dropped)

    return prune
