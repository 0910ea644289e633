"""Compact copies of the objects the informers cache.

An informer keeps every object of its kind for as long as the operator runs: with 10,000
shells, tens of thousands of objects. Parsed from JSON one watch event at a time, each object
carries its own copy of every key and every value, and pods carry a spec and status the
operator never reads. :func:`compact` makes the copy an informer stores, several times smaller,
without changing any field the operator reads:

- **Interning.** Every key and every short string value (namespaces, label keys and values,
  phases, ``"True"``, kinds, reasons, image names, uids, names, timestamps) is replaced by its
  interned copy (:func:`sys.intern`), so 10,000 pods share one ``"metadata"``, one
  ``"cloudtty.io/role"``, one namespace, and a shell's uid is stored once for the shell and
  every child labelled or owned by it. Interned strings die with their last user. Values that
  are never shared (resourceVersions, messages, IP addresses: :data:`UNIQUE_VALUES`) are not
  interned: the interpreter's table would hold an entry for each.
- **Trimming, for kinds the operator never writes back from its cache.** A pod keeps its
  metadata and the few spec and status fields something reads (:data:`POD_SHAPE`); a
  CustomResourceDefinition keeps what tells whether a version is served (:data:`CRD_SHAPE`);
  a Node drops its image list and volumes (:data:`NODE_SHAPE`); a CloudShell, whose status is
  written through the status subresource (which takes nothing but the status from the body),
  drops the ``kubectl.kubernetes.io/last-applied-configuration`` annotation that repeats its
  spec. Pods are only ever created and deleted (a warm worker is claimed through its session
  Secret), never updated from the cache.
- **Kinds the planner merges and PUTs back** (Services, Secrets, ServiceAccounts, Roles,
  RoleBindings, ConfigMaps, Ingresses, VirtualServices, and any kind not named above) keep all
  their content, annotations included: a field missing from the cache would be missing from
  the next update, and the API server would drop it.

What a cached pod keeps is therefore a contract for code reading pods through a
:class:`~cloudtty_core.ClusterView` (the planner and backends): ``metadata`` (name,
generateName, namespace, uid, resourceVersion, labels, annotations, ownerReferences,
finalizers, deletionTimestamp, deletionGracePeriodSeconds), ``spec.serviceAccountName``,
``spec.restartPolicy``, ``spec.nodeName``, ``status.phase``, ``status.reason``,
``status.message``, ``status.podIP``, ``status.hostIP``, the ``type`` and ``status`` of the
conditions of :data:`POD_CONDITION_TYPES`, and of each ``status.containerStatuses[]`` its
``name``, ``ready``, ``started``, ``restartCount``, ``state.terminated`` (``exitCode``,
``signal``, ``reason``, ``message``) and ``state.waiting.reason``. A reader that needs more
adds it to :data:`POD_SHAPE` (or :data:`POD_CONDITION_TYPES`).

Compacted objects are plain dicts and lists, new ones: no mutable part is shared with the
object given or with any other compacted object (strings, numbers, booleans and None are
immutable and may be).

The informers store most objects encoded (:mod:`.frozen`), where interning buys nothing: they
trim them with :func:`trimmed` (the same fields kept, no copy, no interning) and keep only the
objects they never encode (the warm pool's) as compact copies.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Final, TypeAlias

from cloudtty_core.backends import copy_json
from cloudtty_core.model import API_VERSION, KIND, Manifest

__all__ = [
    "CRD_SHAPE",
    "INTERN_MAX_LENGTH",
    "LAST_APPLIED",
    "NODE_SHAPE",
    "POD_CONDITION_TYPES",
    "POD_SHAPE",
    "UNIQUE_VALUES",
    "Shape",
    "compact",
    "interned",
    "shaped",
    "trimmed",
]

Shape: TypeAlias = "Mapping[str, Shape] | tuple[Shape] | None"
"""Which parts of a JSON value to keep: ``None`` keeps the value whole; a mapping keeps only
the keys it names, each shaped by its value; a one-element tuple shapes every element of a
list."""

INTERN_MAX_LENGTH: Final = 100
"""String values up to this length are interned. Longer ones (Secret data, certificates,
scripts) are rarely repeated, and interning a unique string only adds a table entry."""

UNIQUE_VALUES: Final = frozenset(
    {"resourceVersion", "message", "podIP", "podIPs", "clusterIP", "clusterIPs", "accessUrl"}
)
"""Keys whose values are (nearly) never repeated between objects: their strings are kept as they
are, since interning a string nobody shares only costs an entry in the interpreter's table."""

LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"
"""The annotation ``kubectl apply`` leaves: the whole manifest again, as one JSON string."""

_METADATA: Shape = dict.fromkeys(
    (
        "name",
        "generateName",
        "namespace",
        "uid",
        "resourceVersion",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    )
)

_CONDITIONS: Shape = ({"type": None, "status": None},)

POD_SHAPE: Final[Shape] = {
    "apiVersion": None,
    "kind": None,
    "metadata": _METADATA,
    "spec": {"serviceAccountName": None, "restartPolicy": None, "nodeName": None},
    "status": {
        "phase": None,
        "reason": None,
        "message": None,
        "podIP": None,
        "hostIP": None,
        "conditions": _CONDITIONS,
        "containerStatuses": (
            {
                "name": None,
                "ready": None,
                "started": None,
                "restartCount": None,
                "state": {
                    "terminated": {
                        "exitCode": None,
                        "signal": None,
                        "reason": None,
                        "message": None,
                    },
                    "waiting": {"reason": None},
                },
            },
        ),
    },
}
"""What a pod keeps (see the module's docstring)."""

POD_CONDITION_TYPES: Final = frozenset({"Ready"})
"""The pod conditions kept (the others -- PodScheduled, Initialized, ContainersReady... -- are
five dicts per pod nobody reads)."""

CRD_SHAPE: Final[Shape] = {
    "apiVersion": None,
    "kind": None,
    "metadata": _METADATA,
    "spec": {
        "group": None,
        "names": None,
        "scope": None,
        "versions": ({"name": None, "served": None, "storage": None},),
    },
    "status": {"conditions": _CONDITIONS},
}
"""What a CustomResourceDefinition keeps: enough to tell which versions are served (the
schemas, often hundreds of kilobytes on clusters with Istio, are dropped)."""

NODE_SHAPE: Final[Shape] = {
    "apiVersion": None,
    "kind": None,
    "metadata": None,
    "spec": None,
    "status": dict.fromkeys(
        (
            "addresses",
            "conditions",
            "capacity",
            "allocatable",
            "nodeInfo",
            "daemonEndpoints",
            "phase",
        )
    ),
}
"""What a Node keeps: everything but its image list and volumes (large, never read)."""

_POD_KEY = ("v1", "Pod")
_CRD_KEY = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
_SHAPES: Final[Mapping[tuple[str, str], Shape]] = {
    _POD_KEY: POD_SHAPE,
    _CRD_KEY: CRD_SHAPE,
    ("v1", "Node"): NODE_SHAPE,
    (API_VERSION, KIND): None,
}
"""Kinds never written back whole from the cache, and what of them is kept (all their kinds
also lose the last-applied annotation)."""

_intern = sys.intern


def interned(value: Any) -> Any:
    """A copy of the JSON value ``value`` with every key and every string value of at most
    :data:`INTERN_MAX_LENGTH` characters interned (but those of :data:`UNIQUE_VALUES`); new
    dicts and lists throughout."""
    if type(value) is str:
        return _intern(value) if len(value) <= INTERN_MAX_LENGTH else value
    if isinstance(value, dict):
        return {
            (_intern(k) if type(k) is str else k): (
                copy_json(v) if k in UNIQUE_VALUES else interned(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [interned(v) for v in value]
    return value


def shaped(value: Any, shape: Shape) -> Any:
    """The parts of ``value`` that ``shape`` names, interned (see :func:`interned`). A value
    whose type does not match its shape (a list where a mapping was expected) is kept whole:
    an odd object is cached as it is rather than misread."""
    if shape is None:
        return interned(value)
    if isinstance(shape, tuple):
        if not isinstance(value, list):
            return interned(value)
        element = shape[0]
        return [shaped(v, element) for v in value]
    if not isinstance(value, dict):
        return interned(value)
    return {
        _intern(k): copy_json(v) if k in UNIQUE_VALUES else shaped(v, shape[k])
        for k, v in value.items()
        if k in shape
    }


def _rule(obj: Mapping[str, Any]) -> tuple[Shape, bool]:
    """(what to keep, whether the last-applied annotation goes) for ``obj``."""
    key = (str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))
    if key not in _SHAPES:
        return None, False
    return _SHAPES[key], True


def _keep_conditions(obj: Manifest, types: frozenset[str]) -> None:
    status = obj.get("status")
    conditions = status.get("conditions") if isinstance(status, dict) else None
    if isinstance(status, dict) and isinstance(conditions, list):
        status["conditions"] = [
            c for c in conditions if not isinstance(c, dict) or c.get("type") in types
        ]


def compact(obj: Manifest) -> Manifest:
    """The copy of ``obj`` (an object as the API server sent it, with ``apiVersion`` and
    ``kind``) that an informer caches: interned, trimmed to what the operator reads for kinds
    it never writes back, without ``metadata.managedFields``. ``obj`` is not changed."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        # Server bookkeeping, often the largest part of an object; a PUT without it keeps it.
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    shape, drop_last_applied = _rule(obj)
    out: Manifest = shaped(obj, shape)
    if shape is POD_SHAPE:
        _keep_conditions(out, POD_CONDITION_TYPES)
    if drop_last_applied:
        _drop_last_applied(out)
    return out


def _cut(value: Any, shape: Shape) -> Any:
    """The parts of ``value`` that ``shape`` names, sharing what is kept with ``value``."""
    if shape is None:
        return value
    if isinstance(shape, tuple):
        if not isinstance(value, list):
            return value
        element = shape[0]
        return [_cut(v, element) for v in value]
    if not isinstance(value, dict):
        return value
    # Most kept keys are kept whole (shape None): no call for them.
    return {k: v if shape[k] is None else _cut(v, shape[k]) for k, v in value.items() if k in shape}


def trimmed(obj: Manifest) -> Manifest:
    """``obj`` trimmed as :func:`compact` trims it, without interning or copying: the parts
    kept are ``obj``'s own (shared with it), and ``obj`` may be changed (its last-applied
    annotation removed). For a cache that stores objects encoded (:mod:`.frozen`), where
    interning buys nothing and copying costs time: an informer takes over the objects it is
    given."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        del meta["managedFields"]
    shape, drop_last_applied = _rule(obj)
    out: Manifest = obj if shape is None else _cut(obj, shape)
    if shape is POD_SHAPE:
        _keep_conditions(out, POD_CONDITION_TYPES)
    if drop_last_applied:
        _drop_last_applied(out)
    return out


def _drop_last_applied(obj: Manifest) -> None:
    """Remove the last-applied annotation from ``obj``'s metadata, replacing the annotations
    rather than changing them: they may be shared with the object as sent."""
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict) or LAST_APPLIED not in annotations:
        return
    assert isinstance(meta, dict)
    kept = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    if kept:
        meta["annotations"] = kept
    else:
        del meta["annotations"]
