"""The cattrs converter between the model and Kubernetes JSON (camelCase, RFC 3339 times).

Writing follows the API server's habits: absent optional values (None) and empty lists/maps are
left out, fields with a non-None default are always written (like CRD defaulting), and
server-filled metadata (uid, resourceVersion, generation) only when set.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from cloudtty_core.model.fields import field_spec, json_name
from cloudtty_core.model.shell import API_VERSION, KIND, CloudShell
from cloudtty_core.model.spec import RunAsUser
from cloudtty_core.model.status import CloudShellStatus
from cloudtty_core.phases import Phase

#: A Kubernetes object as a plain JSON-like dict (what the API returns and accepts).
Manifest = dict[str, Any]


def parse_time(value: str | datetime) -> datetime:
    """Read an RFC 3339 time (``2024-05-01T10:00:00Z``); the result is always timezone-aware."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"time without a timezone: {value!r}")
        return value
    return _parse_text(value)


@functools.lru_cache(maxsize=4096)
def _parse_text(value: str) -> datetime:
    # A shell's times are read at every pass, by validation and again by the converter, and
    # its conditions often share one: datetimes are immutable, so a parsed one is reused.
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"time without a timezone: {value!r}")
    return parsed


def format_time(value: datetime) -> str:
    """Write a time as Kubernetes does: UTC, ``Z``, fractional seconds only when present."""
    # isoformat writes the fraction exactly when there is one, at a fraction of strftime's cost.
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    return utc.isoformat().removesuffix("+00:00") + "Z"


_PLAIN = frozenset({str, int, float, bool})
_CONTAINERS = frozenset({tuple, list, dict})


def _is_empty(value: object) -> bool:
    if type(value) in _CONTAINERS:  # the usual containers without an ABC check
        return not value
    return value is None or (isinstance(value, tuple | list | Mapping) and not value)


def _unstructure_factory(cls: type) -> Callable[[Any], dict[str, Any]]:
    plan = []
    for f in attrs.fields(cls):
        omit_value = f.default if field_spec(f).omit_default else attrs.NOTHING
        plan.append((f.name, json_name(f), omit_value))

    def unstructure(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, key, omit_value in plan:
            value = getattr(obj, name)
            if value is None or (omit_value is not attrs.NOTHING and value == omit_value):
                continue
            if type(value) in _PLAIN:  # written as it is, without a converter dispatch
                out[key] = value
            elif not _is_empty(value):
                out[key] = converter.unstructure(value)
        return out

    return unstructure


def _structure_factory(cls: type) -> Callable[[Any, Any], Any]:
    renames = {f.name: override(rename=json_name(f)) for f in attrs.fields(cls)}
    make: Any = make_dict_structure_fn  # its stubs do not type per-attribute overrides
    return make(cls, converter, **renames)  # type: ignore[no-any-return]


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter()
    conv.register_structure_hook(datetime, lambda v, _: parse_time(v))
    conv.register_unstructure_hook(datetime, format_time)
    # A str enum would pass through as itself; JSON and YAML writers want the plain string.
    conv.register_unstructure_hook(Phase, lambda phase: str(phase.value))
    # runAsUser keeps the form the user wrote ("0", 0 or "root"); validation checks it.
    conv.register_structure_hook_func(lambda t: t in (RunAsUser, RunAsUser | None), lambda v, _: v)
    conv.register_unstructure_hook_factory(attrs.has, _unstructure_factory)
    conv.register_structure_hook_factory(attrs.has, _structure_factory)
    return conv


#: The one converter of the model. ``converter.structure(data, Cls)`` trusts ``data``:
#: validate it first.
converter = _make_converter()


def structure_shell(raw: Mapping[str, Any]) -> CloudShell:
    """Build a CloudShell from JSON that already passed validation (see ``shell_from_dict``)."""
    metadata = dict(raw.get("metadata") or {})
    metadata.setdefault("name", "")  # generateName-only manifests: the server picks the name
    data = {"metadata": metadata, "spec": raw.get("spec") or {}, "status": raw.get("status") or {}}
    return converter.structure(data, CloudShell)


def shell_to_dict(shell: CloudShell) -> Manifest:
    """The CloudShell as Kubernetes JSON: apiVersion, kind, metadata, spec, non-empty status."""
    out: Manifest = {"apiVersion": API_VERSION, "kind": KIND}
    out.update(converter.unstructure(shell))
    metadata = out.get("metadata")
    if isinstance(metadata, dict) and metadata.get("name") == "" and metadata.get("generateName"):
        del metadata["name"]  # still to be picked by the server, as it came in
    if not out.get("status"):
        out.pop("status", None)
    return out


def status_to_dict(status: CloudShellStatus) -> Manifest:
    """The status as JSON for the status subresource (absent fields left out)."""
    result: Manifest = converter.unstructure(status)
    return result
