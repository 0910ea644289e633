"""Kubernetes ``Status`` failures: the error bodies every verb answers with."""

from __future__ import annotations

from typing import Any

_REASON_BY_CODE = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """A request failure carried as a Kubernetes ``Status`` object.

    ``code`` is the HTTP status, ``reason`` the machine-readable ``StatusReason``
    (``NotFound``, ``AlreadyExists``, ``Conflict``, ``Invalid``, ``Expired``, …).
    """

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASON_BY_CODE.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        """The ``Status`` body for this failure."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(kind: str, name: str, group: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        details["group"] = group
    return details


def qualified(plural: str, group: str) -> str:
    """``pods`` or ``cloudshells.cloudshell.cloudtty.io``: how messages name a resource."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    """404 NotFound for ``name`` of resource ``plural`` in API group ``group``."""
    return ApiError(
        404, f'{qualified(plural, group)} "{name}" not found', details=_details(plural, name, group)
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    """409 AlreadyExists for a create whose name is taken."""
    return ApiError(
        409,
        f'{qualified(plural, group)} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(plural, name, group),
    )


def conflict(plural: str, group: str, name: str, why: str) -> ApiError:
    """409 Conflict, e.g. an update carrying a stale resourceVersion."""
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {why}',
        reason="Conflict",
        details=_details(plural, name, group),
    )


STALE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


class Cause:
    """One field-level problem of an Invalid (422) error."""

    __slots__ = ("field", "message", "reason")

    def __init__(self, field: str, message: str, reason: str = "FieldValueInvalid") -> None:
        self.field = field
        self.message = message
        self.reason = reason

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}

    def __repr__(self) -> str:
        return f"Cause({self.field!r}, {self.message!r}, {self.reason!r})"


def invalid(kind: str, group: str, name: str, causes: list[Cause]) -> ApiError:
    """422 Invalid naming every offending field, as the API server reports validation errors."""
    listed = ", ".join(f"{c.field}: {c.message}" if c.field else c.message for c in causes)
    if len(causes) > 1:
        listed = f"[{listed}]"
    qualified_kind = f"{kind}.{group}" if group else kind
    details = _details(kind, name, group)
    details["causes"] = [c.as_dict() for c in causes]
    return ApiError(422, f'{qualified_kind} "{name}" is invalid: {listed}', details=details)


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, message)


STRICT_DECODING = "strict decoding error: "
"""How the API server's decoder starts the message listing unknown and duplicate fields."""


class Undecodable(ApiError):
    """The 400 BadRequest of a body the API server cannot decode into its object: the message
    wraps ``why``, the decoder's own error, which a patch reports differently
    (:func:`patch_invalid`)."""

    def __init__(self, message: str, why: str) -> None:
        super().__init__(400, message)
        self.why = why


def patch_invalid(shown: str, why: str) -> ApiError:
    """422 Invalid of a patched object the API server cannot decode (``why``, its decoder's
    error, a strict decoding error among them): the API server's patch handler reports it as an
    invalid value of the field ``patch`` -- ``shown``, the patched object as Go's ``%q``
    prints it -- with no kind, group or name."""
    body = f"Invalid value: {shown}: {why}"
    return ApiError(
        422,
        f' "" is invalid: patch: {body}',
        details={"causes": [Cause("patch", body).as_dict()]},
    )


def gone(message: str) -> ApiError:
    """410 with reason Expired: the requested resourceVersion is older than the retained window."""
    return ApiError(410, message, reason="Expired")


def method_not_allowed(verb: str, what: str) -> ApiError:
    """405 MethodNotAllowed."""
    return ApiError(405, f"{verb} is not supported on resources of kind {what!r}")


def forbidden(message: str) -> ApiError:
    """403 Forbidden."""
    return ApiError(403, message)
