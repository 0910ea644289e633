"""The few protobuf request bodies kubectl sends without a JSON alternative (access reviews
from ``kubectl auth can-i``), decoded from the wire format into their JSON shape."""

from __future__ import annotations

from typing import Any

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


_RESOURCE_ATTRIBUTES = {
    1: "namespace",
    2: "verb",
    3: "group",
    4: "version",
    5: "resource",
    6: "subresource",
    7: "name",
}


def decode_access_review(body: bytes) -> dict[str, Any]:
    """A (Self)SubjectAccessReview in kubernetes protobuf framing, as its JSON object."""
    try:
        if not body.startswith(MAGIC):
            raise ValueError("missing the k8s protobuf prefix")
        unknown = fields(body[len(MAGIC) :])
        type_meta = fields(unknown.get(1, [b""])[0])
        review = fields(unknown.get(2, [b""])[0])
        spec_fields = fields(review.get(2, [b""])[0])
        spec: dict[str, Any] = {}
        if 1 in spec_fields:
            attributes = fields(spec_fields[1][0])
            spec["resourceAttributes"] = {
                name: _text(attributes, number)
                for number, name in _RESOURCE_ATTRIBUTES.items()
                if number in attributes
            }
        if 3 in spec_fields:
            spec["user"] = _text(spec_fields, 3)
        if 4 in spec_fields:
            spec["groups"] = [g.decode() for g in spec_fields[4]]
        return {"apiVersion": _text(type_meta, 1), "kind": _text(type_meta, 2), "spec": spec}
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ApiError(
            415, f"cannot decode the protobuf body: {exc}", reason="UnsupportedMediaType"
        ) from None
