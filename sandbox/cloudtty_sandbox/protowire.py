"""Protobuf request bodies, decoded into their JSON shape.

kubectl's typed clients (``kubectl create namespace|secret|configmap|serviceaccount|token|role
…``, ``kubectl auth can-i``) send built-in objects as ``application/vnd.kubernetes.protobuf``
whatever the server advertises, and do not retry with JSON on a 415. The sandbox therefore
decodes the wire format for the kinds those commands send, with a table of their messages (field
numbers from the Kubernetes ``generated.proto`` files). Other kinds are refused with a 415 that
names the kind.

Go's protobuf encoder writes every non-pointer field, zero or not; the JSON form omits empty
values, so zero values of plain fields are dropped and kept only for pointer fields (``keep``).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import attrs

from .errors import ApiError

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> dict[int, list[Any]]:
    """Field number -> values (ints for varints, bytes for length-delimited)."""
    out: dict[int, list[Any]] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("truncated field")
            value, pos = data[pos : pos + size], pos + size
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _text(values: dict[int, list[Any]], number: int) -> str:
    got = values.get(number)
    return got[0].decode() if got else ""


# ---------------------------------------------------------------------- message schemas
@attrs.frozen
class F:
    """One field of a message: its JSON name, its type and whether it repeats.

    ``kind``: ``str``, ``bytes`` (base64 in JSON), ``int``, ``bool``, ``time``, ``intstr``,
    ``map`` (string to string), ``bytesmap`` (string to bytes) or ``msg`` (then ``message``
    names the nested message). ``keep``: a pointer field, whose zero value is meaningful.
    """

    name: str
    kind: str
    repeated: bool = False
    message: str = ""
    keep: bool = False


Message = dict[int, F]


def _msg(name: str, message: str, *, repeated: bool = False, keep: bool = False) -> F:
    return F(name, "msg", repeated, message, keep)


MESSAGES: dict[str, Message] = {
    # k8s.io/apimachinery/pkg/apis/meta/v1
    "ObjectMeta": {
        1: F("name", "str"),
        2: F("generateName", "str"),
        3: F("namespace", "str"),
        4: F("selfLink", "str"),
        5: F("uid", "str"),
        6: F("resourceVersion", "str"),
        7: F("generation", "int"),
        8: F("creationTimestamp", "time"),
        9: F("deletionTimestamp", "time"),
        10: F("deletionGracePeriodSeconds", "int", keep=True),
        11: F("labels", "map"),
        12: F("annotations", "map"),
        13: _msg("ownerReferences", "OwnerReference", repeated=True),
        14: F("finalizers", "str", repeated=True),
    },
    "OwnerReference": {
        1: F("kind", "str"),
        3: F("name", "str"),
        4: F("uid", "str"),
        5: F("apiVersion", "str"),
        6: F("controller", "bool", keep=True),
        7: F("blockOwnerDeletion", "bool", keep=True),
    },
    "LabelSelector": {
        1: F("matchLabels", "map"),
        2: _msg("matchExpressions", "LabelSelectorRequirement", repeated=True),
    },
    "LabelSelectorRequirement": {
        1: F("key", "str"),
        2: F("operator", "str"),
        3: F("values", "str", repeated=True),
    },
    "DeleteOptions": {
        1: F("gracePeriodSeconds", "int", keep=True),
        2: _msg("preconditions", "Preconditions", keep=True),
        3: F("orphanDependents", "bool", keep=True),
        4: F("propagationPolicy", "str", keep=True),
        5: F("dryRun", "str", repeated=True),
    },
    "Preconditions": {1: F("uid", "str", keep=True), 2: F("resourceVersion", "str", keep=True)},
    # k8s.io/api/core/v1
    "Namespace": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("spec", "NamespaceSpec"),
        3: _msg("status", "NamespaceStatus"),
    },
    "NamespaceSpec": {1: F("finalizers", "str", repeated=True)},
    "NamespaceStatus": {1: F("phase", "str")},
    "Secret": {
        1: _msg("metadata", "ObjectMeta"),
        2: F("data", "bytesmap"),
        3: F("type", "str"),
        4: F("stringData", "map"),
        5: F("immutable", "bool", keep=True),
    },
    "ConfigMap": {
        1: _msg("metadata", "ObjectMeta"),
        2: F("data", "map"),
        3: F("binaryData", "bytesmap"),
        4: F("immutable", "bool", keep=True),
    },
    "ServiceAccount": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("secrets", "ObjectReference", repeated=True),
        3: _msg("imagePullSecrets", "LocalObjectReference", repeated=True),
        4: F("automountServiceAccountToken", "bool", keep=True),
    },
    "ObjectReference": {
        1: F("kind", "str"),
        2: F("namespace", "str"),
        3: F("name", "str"),
        4: F("uid", "str"),
        5: F("apiVersion", "str"),
        6: F("resourceVersion", "str"),
        7: F("fieldPath", "str"),
    },
    "LocalObjectReference": {1: F("name", "str")},
    # k8s.io/api/authentication/v1
    "TokenRequest": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("spec", "TokenRequestSpec"),
    },
    "TokenRequestSpec": {
        1: F("audiences", "str", repeated=True),
        3: _msg("boundObjectRef", "BoundObjectReference", keep=True),
        4: F("expirationSeconds", "int", keep=True),
    },
    "BoundObjectReference": {
        1: F("kind", "str"),
        2: F("apiVersion", "str"),
        3: F("name", "str"),
        4: F("uid", "str"),
    },
    # k8s.io/api/authorization/v1
    "SubjectAccessReview": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("spec", "SubjectAccessReviewSpec"),
    },
    "SubjectAccessReviewSpec": {
        1: _msg("resourceAttributes", "ResourceAttributes", keep=True),
        2: _msg("nonResourceAttributes", "NonResourceAttributes", keep=True),
        3: F("user", "str"),
        4: F("groups", "str", repeated=True),
        6: F("uid", "str"),
    },
    "SelfSubjectAccessReviewSpec": {
        1: _msg("resourceAttributes", "ResourceAttributes", keep=True),
        2: _msg("nonResourceAttributes", "NonResourceAttributes", keep=True),
    },
    "ResourceAttributes": {
        1: F("namespace", "str"),
        2: F("verb", "str"),
        3: F("group", "str"),
        4: F("version", "str"),
        5: F("resource", "str"),
        6: F("subresource", "str"),
        7: F("name", "str"),
    },
    "NonResourceAttributes": {1: F("path", "str"), 2: F("verb", "str")},
    # k8s.io/api/rbac/v1
    "Role": {1: _msg("metadata", "ObjectMeta"), 2: _msg("rules", "PolicyRule", repeated=True)},
    "ClusterRole": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("rules", "PolicyRule", repeated=True),
        3: _msg("aggregationRule", "AggregationRule", keep=True),
    },
    "AggregationRule": {1: _msg("clusterRoleSelectors", "LabelSelector", repeated=True)},
    "PolicyRule": {
        1: F("verbs", "str", repeated=True),
        2: F("apiGroups", "str", repeated=True),
        3: F("resources", "str", repeated=True),
        4: F("resourceNames", "str", repeated=True),
        5: F("nonResourceURLs", "str", repeated=True),
    },
    "RoleBinding": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("subjects", "Subject", repeated=True),
        3: _msg("roleRef", "RoleRef"),
    },
    "Subject": {
        1: F("kind", "str"),
        2: F("apiGroup", "str"),
        3: F("name", "str"),
        4: F("namespace", "str"),
    },
    "RoleRef": {1: F("apiGroup", "str"), 2: F("kind", "str"), 3: F("name", "str")},
    # k8s.io/api/policy/v1
    "Eviction": {
        1: _msg("metadata", "ObjectMeta"),
        2: _msg("deleteOptions", "DeleteOptions", keep=True),
    },
}
MESSAGES["SelfSubjectAccessReview"] = {
    1: _msg("metadata", "ObjectMeta"),
    2: _msg("spec", "SelfSubjectAccessReviewSpec"),
}
MESSAGES["LocalSubjectAccessReview"] = MESSAGES["SubjectAccessReview"]
MESSAGES["ClusterRoleBinding"] = MESSAGES["RoleBinding"]

# (apiVersion, kind) of a top-level body -> its message. DeleteOptions comes with any version.
TOP_LEVEL: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "Namespace",
    ("v1", "Secret"): "Secret",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("authentication.k8s.io/v1", "TokenRequest"): "TokenRequest",
    ("authorization.k8s.io/v1", "SubjectAccessReview"): "SubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): "LocalSubjectAccessReview",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "ClusterRoleBinding",
    ("policy/v1", "Eviction"): "Eviction",
}


def _empty(value: Any) -> bool:
    return value in ("", 0, False, None) or value == {} or value == []


def _time(raw: bytes) -> str | None:
    parts = fields(raw)
    seconds = parts.get(1, [0])[0]
    if not seconds:
        return None
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _map(raw_entries: list[bytes], binary: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in raw_entries:
        parts = fields(entry)
        key = _text(parts, 1)
        value = parts.get(2, [b""])[0]
        out[key] = base64.b64encode(value).decode() if binary else value.decode()
    return out


def _scalar(field: F, value: Any) -> Any:
    kind = field.kind
    if kind == "str":
        return value.decode()
    if kind == "bytes":
        return base64.b64encode(value).decode()
    if kind == "int":
        return _signed(value)
    if kind == "bool":
        return bool(value)
    if kind == "time":
        return _time(value)
    if kind == "intstr":
        parts = fields(value)
        if parts.get(1, [0])[0] == 1:
            return _text(parts, 3)
        return _signed(parts.get(2, [0])[0])
    if kind == "msg":
        return decode_message(field.message, value)
    raise ValueError(f"unknown field kind {kind}")


def decode_message(message: str, raw: bytes) -> dict[str, Any]:
    """Decode the protobuf bytes of the named message (a key of ``MESSAGES``) into JSON form."""
    schema = MESSAGES[message]
    out: dict[str, Any] = {}
    for number, values in fields(raw).items():
        field = schema.get(number)
        if field is None:
            continue  # a field the sandbox does not know; JSON decoding would drop it too
        if field.kind in ("map", "bytesmap"):
            value: Any = _map(values, field.kind == "bytesmap")
        elif field.repeated:
            value = [_scalar(field, v) for v in values]
        else:
            value = _scalar(field, values[-1])
        kept = field.keep and value is not None and value != []
        if kept or not _empty(value):
            out[field.name] = value
    return out


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf request body (``k8s\\0`` + ``runtime.Unknown``) as its JSON object.

    Raises a 415 ``ApiError`` naming the kind when the sandbox has no table for it.
    """
    try:
        if not body.startswith(MAGIC):
            raise ValueError("missing the k8s protobuf prefix")
        unknown = fields(body[len(MAGIC) :])
        type_meta = fields(unknown.get(1, [b""])[0])
        api_version, kind = _text(type_meta, 1), _text(type_meta, 2)
        message = TOP_LEVEL.get((api_version, kind))
        if message is None and kind == "DeleteOptions":
            message = "DeleteOptions"
        if message is None:
            raise ApiError(
                415,
                f"the sandbox cannot decode a protobuf {kind or 'object'} ({api_version}); "
                "send it as JSON (kubectl apply -f does)",
                reason="UnsupportedMediaType",
            )
        obj = decode_message(message, unknown.get(2, [b""])[0])
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ApiError(
            415, f"cannot decode the protobuf body: {exc}", reason="UnsupportedMediaType"
        ) from None
    return {"apiVersion": api_version, "kind": kind, **obj}


def decode_access_review(body: bytes) -> dict[str, Any]:
    """A (Self)SubjectAccessReview in kubernetes protobuf framing, as its JSON object."""
    return decode(body)
