"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jsonpatch

from .builtin_kinds import PRIMITIVE_SET
from .errors import ApiError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

MergeKeys = Callable[[tuple[str, ...]], str | None]


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = json_merge_patch(result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 operations; a failed operation is a 422 like the API server's."""
    if not isinstance(operations, list):
        raise bad_request("the body of a json patch must be a list of operations")
    try:
        return jsonpatch.JsonPatch(operations).apply(target, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise ApiError(
            422,
            f"the server rejected our request due to an error in our request: {exc}",
            reason="Invalid",
        ) from None
    except (TypeError, KeyError, IndexError, ValueError) as exc:
        raise bad_request(f"invalid json patch: {exc}") from None


_OPERATION_KEYS = frozenset({"op", "path", "from", "value"})


def json_patch_unknown_keys(operations: Any) -> list[str]:
    """The keys of a JSON patch's operations that an operation does not have, as the API
    server words them under ``fieldValidation=Strict`` or ``Warn`` (it decodes each operation
    strictly, case-sensitively, into ``op``, ``path``, ``from`` and ``value``), in order."""
    if not isinstance(operations, list):
        return []
    return [
        f'json patch unknown field "{key}"'
        for operation in operations
        if isinstance(operation, dict)
        for key in operation
        if key not in _OPERATION_KEYS
    ]


_DIRECTIVE = "$patch"
_ORDER_PREFIX = "$setElementOrder/"
_DELETE_PRIMITIVES_PREFIX = "$deleteFromPrimitiveList/"
_RETAIN_KEYS = "$retainKeys"


def strategic_merge_patch(
    target: dict[str, Any], patch: Any, merge_keys: MergeKeys
) -> dict[str, Any]:
    """Kubernetes strategic merge patch for built-in kinds.

    Lists whose field has a merge key (containers by name, ports, env, volumes, …) merge
    element-wise; ``$patch: delete|replace``, ``$setElementOrder/<list>``,
    ``$deleteFromPrimitiveList/<list>`` and ``$retainKeys`` directives are honoured; other lists
    are replaced.
    """
    if not isinstance(patch, dict):
        raise bad_request("a strategic merge patch must be a JSON object")
    result = _merge_map(target, patch, (), merge_keys)
    if result is None:
        raise bad_request("a strategic merge patch cannot delete the whole object")
    return result


def _merge_map(
    original: Any, patch: dict[str, Any], path: tuple[str, ...], merge_keys: MergeKeys
) -> dict[str, Any] | None:
    directive = patch.get(_DIRECTIVE)
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != _DIRECTIVE}
    result = dict(original) if isinstance(original, dict) else {}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in (_DIRECTIVE, _RETAIN_KEYS):
            continue
        if key.startswith(_ORDER_PREFIX):
            orders[key[len(_ORDER_PREFIX) :]] = value if isinstance(value, list) else []
            continue
        if key.startswith(_DELETE_PRIMITIVES_PREFIX):
            field = key[len(_DELETE_PRIMITIVES_PREFIX) :]
            drop = value if isinstance(value, list) else []
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in drop]
            continue
        sub = (*path, key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = _merge_map(result.get(key), value, sub, merge_keys)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, sub, merge_keys)
        else:
            result[key] = copy.deepcopy(value)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _apply_order(result[field], order, merge_keys((*path, field)))
    retain = patch.get(_RETAIN_KEYS)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(
    original: Any, patch: list[Any], path: tuple[str, ...], merge_keys: MergeKeys
) -> list[Any]:
    key = merge_keys(path)
    current = list(original) if isinstance(original, list) else []
    if key is None:
        return [_strip_directives(v) for v in patch]
    if key == PRIMITIVE_SET:
        out = list(current)
        for v in patch:
            if v not in out:
                out.append(copy.deepcopy(v))
        return out
    if any(isinstance(v, dict) and v.get(_DIRECTIVE) == "replace" and len(v) == 1 for v in patch):
        return [
            _strip_directives(v) for v in patch if not (isinstance(v, dict) and v.get(_DIRECTIVE))
        ]
    out = list(current)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            if isinstance(item, dict) and item.get(_DIRECTIVE):
                continue
            raise bad_request(f"map: {item!r} does not contain declared merge key: {key}")
        index = next(
            (i for i, cur in enumerate(out) if isinstance(cur, dict) and cur.get(key) == item[key]),
            None,
        )
        if item.get(_DIRECTIVE) == "delete":
            if index is not None:
                del out[index]
            continue
        if index is None:
            out.append(_strip_directives(item))
        else:
            merged = _merge_map(out[index], item, path, merge_keys)
            if merged is None:
                del out[index]
            else:
                out[index] = merged
    return out


def _apply_order(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    if key is None or key == PRIMITIVE_SET:
        rank = {repr(v): i for i, v in enumerate(order)}
        return sorted(items, key=lambda v: rank.get(repr(v), len(rank)))
    rank = {repr(o.get(key)): i for i, o in enumerate(order) if isinstance(o, dict)}
    return sorted(
        items, key=lambda v: rank.get(repr(v.get(key)) if isinstance(v, dict) else "", len(rank))
    )


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value
