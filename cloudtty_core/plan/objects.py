"""Comparing wanted objects with observed ones: what to create, what to update, what is fine.

Wanted objects name only the fields the operator cares about; the API server adds the rest
(clusterIP, nodePort, defaults). An observed object is up to date when it *contains* the wanted
one; otherwise it is updated with the wanted fields merged over the observed ones, keeping the
server's fields and the observed resourceVersion (optimistic concurrency).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from cloudtty_core.backends import ClusterView, copy_json
from cloudtty_core.model import Manifest

__all__ = ["ObjectChanges", "contains", "diff_objects", "merge", "normalize"]


def normalize(manifest: Manifest) -> Manifest:
    """``manifest`` as the API server would store it: a Secret's ``stringData`` becomes
    base64 ``data`` (so wanted and observed Secrets compare equal)."""
    if manifest.get("kind") != "Secret" or "stringData" not in manifest:
        return manifest
    # Only the top level changes: the rest is shared with ``manifest``, as it is for every
    # other kind (the callers copy what they change further).
    out = dict(manifest)
    data = dict(out.get("data") or {})
    for key, value in (out.pop("stringData") or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    out["data"] = data
    return out


_SCALARS = frozenset({str, int, float, bool, type(None)})
"""JSON's scalar types: compared by value, without the Mapping and sequence checks (exact
types only; subclasses take the general path)."""


def contains(observed: Any, wanted: Any) -> bool:
    """Whether ``observed`` has every field of ``wanted`` with the same value (recursively;
    lists must have the same length and match element by element)."""
    if observed is wanted:  # the caches share interned strings and unchanged parts
        return True
    if type(wanted) in _SCALARS:
        return bool(observed == wanted)
    if type(wanted) is dict or isinstance(wanted, Mapping):
        if not (type(observed) is dict or isinstance(observed, Mapping)):
            return False
        for key, value in wanted.items():
            if key not in observed:
                return False
            item = observed[key]
            # Equal values contain each other, and == settles scalars and most nested parts
            # without a call per level (dicts of different sizes compare unequal at once).
            if item is value or item == value:
                continue
            if type(value) in _SCALARS or not contains(item, value):
                return False
        return True
    if type(wanted) is list or isinstance(wanted, list | tuple):
        if not isinstance(observed, list | tuple) or len(observed) != len(wanted):
            return False
        for item, value in zip(observed, wanted, strict=True):
            if item is value or item == value:
                continue
            if type(value) in _SCALARS or not contains(item, value):
                return False
        return True
    return bool(observed == wanted)


def merge(observed: Any, wanted: Any) -> Any:
    """``wanted`` laid over ``observed``: wanted values win, the server's extra fields stay
    (element by element for lists of the same length)."""
    # Exact types first: the ABC check costs several times more, and JSON is plain dicts.
    if (type(wanted) is dict or isinstance(wanted, Mapping)) and (
        type(observed) is dict or isinstance(observed, Mapping)
    ):
        # Each observed field is copied once, by the recursion when ``wanted`` has it too
        # (copying the whole object at every level cost its size times its depth). The keys
        # keep their order: observed ones first, then those only ``wanted`` has.
        out = {}
        for key, value in observed.items():
            if key not in wanted:
                out[key] = copy_json(value)
                continue
            new = wanted[key]
            # A wanted scalar simply wins: no call for what most fields are.
            out[key] = new if type(new) in _SCALARS else merge(value, new)
        for key, value in wanted.items():
            if key not in out:
                out[key] = copy_json(value)
        return out
    if (
        (type(wanted) is list or isinstance(wanted, list | tuple))
        and (type(observed) is list or isinstance(observed, list | tuple))
        and len(wanted) == len(observed)
    ):
        pairs = zip(observed, wanted, strict=True)
        return [w if type(w) in _SCALARS else merge(o, w) for o, w in pairs]
    return copy_json(wanted)


@attrs.frozen
class ObjectChanges:
    """Creates and updates that bring the cluster to the wanted objects."""

    creates: tuple[Manifest, ...] = ()
    updates: tuple[Manifest, ...] = ()


def _observed(cluster: ClusterView, wanted: Manifest, meta: Mapping[str, Any]) -> Manifest | None:
    # The object ObjectRef.of(wanted) names, read without building the reference: this runs
    # for every wanted object of every pass (two per idle worker in a pool pass).
    namespace = meta.get("namespace") or None
    return cluster.get(str(wanted["apiVersion"]), str(wanted["kind"]), namespace, str(meta["name"]))


def diff_objects(cluster: ClusterView, wanted: Iterable[Manifest]) -> ObjectChanges:
    """Creates for wanted objects that do not exist, updates for those that differ.

    Objects with only ``metadata.generateName`` are always created (the pool's workers). A
    wanted object carrying ``metadata.resourceVersion`` (a shared route from a backend) is
    sent as it is: the backend built the full object.
    """
    creates: list[Manifest] = []
    updates: list[Manifest] = []
    for item in wanted:
        item = normalize(item)
        meta = item.get("metadata") or {}
        if not meta.get("name"):
            creates.append(item)
            continue
        observed = _observed(cluster, item, meta)
        if observed is None:
            fresh = copy_json(item)
            fresh["metadata"].pop("resourceVersion", None)
            creates.append(fresh)
        elif meta.get("resourceVersion"):
            if not contains(observed, item):
                updates.append(item)
        elif not contains(observed, item):
            updated = merge(observed, item)
            updated["metadata"]["resourceVersion"] = (observed.get("metadata") or {}).get(
                "resourceVersion", ""
            )
            updates.append(updated)
    return ObjectChanges(tuple(creates), tuple(updates))
