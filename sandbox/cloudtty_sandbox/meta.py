"""Object metadata rules: names, labels, timestamps, uids and human-readable ages."""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import secrets
import time
from typing import Any

from .errors import Cause

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
MAX_ANNOTATIONS_BYTES = 256 * 1024


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_last_second: list[object] = [None, ""]


def rfc3339(when: dt.datetime | None = None) -> str:
    """Seconds-precision UTC timestamp, the format of ``creationTimestamp``."""
    if when is not None:
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    second = int(time.time())
    if _last_second[0] != second:  # formatting once per second is enough
        _last_second[0] = second
        _last_second[1] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
    return str(_last_second[1])


def rfc3339_micro(when: dt.datetime | None = None) -> str:
    """Microsecond timestamp (``MicroTime``), used by Events and Leases."""
    return (when or now()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def new_uid() -> str:
    """A random (version 4) UUID string, built without the uuid module's overhead."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def generate_suffix(length: int = 5) -> str:
    """The random suffix ``generateName`` appends (same alphabet as the API server)."""
    return "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(length))


def human_duration(seconds: float) -> str:
    """kubectl's short age format: ``5s``, ``3m12s``, ``4h``, ``2d3h``, ``3y``."""
    s = int(seconds)
    if s < 0:
        return "<invalid>"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def age(timestamp: str | None) -> str:
    when = parse_time(timestamp) if timestamp else None
    if when is None:
        return "<unknown>"
    return human_duration((now() - when).total_seconds())


def is_dns_subdomain(name: str) -> bool:
    return len(name) <= 253 and bool(_DNS_SUBDOMAIN.match(name))


def is_dns_label(name: str) -> bool:
    return len(name) <= 63 and bool(_DNS_LABEL.match(name))


@functools.lru_cache(maxsize=4096)
def _qualified_key_problem(key: str) -> str | None:
    # Every write checks its labels' and annotations' keys, and a cluster uses a few dozen.
    prefix, _, name = key.rpartition("/")
    if "/" in key and not prefix:
        return "prefix part must be non-empty"
    if prefix and not is_dns_subdomain(prefix):
        return "prefix part must be a lowercase RFC 1123 subdomain"
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return (
            "name part must consist of alphanumeric characters, '-', '_' or '.', must start and "
            "end with an alphanumeric character and be at most 63 characters"
        )
    return None


def validate_metadata(meta: Any, *, namespaced: bool, name_rule: str = "subdomain") -> list[Cause]:
    """Check ``metadata`` the way the API server does for every kind."""
    if not isinstance(meta, dict):
        return [Cause("metadata", "Invalid value: must be an object")]
    causes: list[Cause] = []
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        causes.append(
            Cause(
                "metadata.name",
                "Required value: name or generateName is required",
                "FieldValueRequired",
            )
        )
    else:
        ok = (
            is_dns_label(name)
            if name_rule == "label"
            else (
                is_dns_subdomain(name)
                if name_rule == "subdomain"
                else ("/" not in name and name not in (".", ".."))
            )
        )
        if not ok:
            rule = (
                "a lowercase RFC 1123 label (at most 63 characters)"
                if name_rule == "label"
                else "a lowercase RFC 1123 subdomain (at most 253 characters)"
                if name_rule == "subdomain"
                else "a valid path segment name"
            )
            causes.append(Cause("metadata.name", f'Invalid value: "{name[:100]}": must be {rule}'))
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is None:
            continue
        if not isinstance(value, dict):
            causes.append(Cause(f"metadata.{field}", "Invalid value: must be a map of strings"))
            continue
        total = 0
        for key, item in value.items():
            problem = _qualified_key_problem(str(key))
            if problem:
                causes.append(
                    Cause(f"metadata.{field}", f'Invalid value: "{str(key)[:100]}": {problem}')
                )
            if not isinstance(item, str):
                causes.append(Cause(f"metadata.{field}.{key}", "Invalid value: must be a string"))
                continue
            total += len(key) + len(item)
            if field == "labels" and (len(item) > 63 or not _LABEL_VALUE.match(item)):
                causes.append(
                    Cause(
                        "metadata.labels",
                        f'Invalid value: "{item[:100]}": a valid label must be an empty string '
                        "or consist of alphanumeric characters, '-', '_' or '.', and must start "
                        "and end with an alphanumeric character (at most 63 characters)",
                    )
                )
        if field == "annotations" and total > MAX_ANNOTATIONS_BYTES:
            causes.append(
                Cause(
                    "metadata.annotations",
                    "Too long: must have at most 262144 bytes",
                    "FieldValueTooLong",
                )
            )
    for field in ("finalizers",):
        value = meta.get(field)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) and v for v in value)
        ):
            causes.append(Cause("metadata.finalizers", "Invalid value: must be a list of strings"))
    refs = meta.get("ownerReferences")
    if refs is not None:
        if not isinstance(refs, list):
            causes.append(Cause("metadata.ownerReferences", "Invalid value: must be a list"))
        else:
            for i, ref in enumerate(refs):
                if not isinstance(ref, dict):
                    causes.append(
                        Cause(f"metadata.ownerReferences[{i}]", "Invalid value: must be an object")
                    )
                    continue
                for key in ("apiVersion", "kind", "name", "uid"):
                    if not isinstance(ref.get(key), str) or not ref.get(key):
                        causes.append(
                            Cause(
                                f"metadata.ownerReferences[{i}].{key}",
                                "Required value",
                                "FieldValueRequired",
                            )
                        )
            controllers = [r for r in refs if isinstance(r, dict) and r.get("controller")]
            if len(controllers) > 1:
                causes.append(
                    Cause(
                        "metadata.ownerReferences",
                        "Invalid value: Only one reference can have Controller set to true",
                    )
                )
    return causes
