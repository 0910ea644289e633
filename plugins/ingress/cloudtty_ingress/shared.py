"""Editing an Ingress that several shells share: add or remove one shell's path, nothing else.

A shell's entries are the ``rules[].http.paths[]`` whose backend is the shell's Service; every
other entry (other shells', or routes an administrator wrote) is left exactly as it is. The
functions are pure: they take the observed Ingress and return an edited deep copy that keeps its
``metadata.resourceVersion``, so the runtime's PUT fails with 409 Conflict when someone else
changed the Ingress in between, and the shell is planned again from the fresh object.

An Ingress must keep at least one rule (or a default backend), and a rule that has ``http``
needs at least one path. When the last shell leaves, the Ingress keeps one host-only rule,
which routes nothing (a valid Ingress the API server accepts, so a shell's deletion never gets
stuck on a rejected update); the next shell fills it again.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from cloudtty_core import Manifest

__all__ = [
    "has_routes",
    "path_entry",
    "path_holder",
    "shell_paths",
    "with_entry",
    "without_entries",
]


def path_entry(path: str, service: str, port: int) -> Manifest:
    """One ``HTTPIngressPath``: a prefix match on ``path`` to ``service:port``."""
    return {
        "path": path,
        "pathType": "Prefix",
        "backend": {"service": {"name": service, "port": {"number": port}}},
    }


def _service_of(entry: Mapping[str, Any]) -> str | None:
    service = ((entry.get("backend") or {}).get("service")) or {}
    name = service.get("name")
    return str(name) if name else None


def _paths(rule: Mapping[str, Any]) -> list[Any]:
    return list(((rule.get("http") or {}).get("paths")) or [])


def _rules(ingress: Mapping[str, Any]) -> list[Any]:
    return list(((ingress.get("spec") or {}).get("rules")) or [])


def _entries(ingress: Mapping[str, Any]) -> Iterator[tuple[str | None, Mapping[str, Any]]]:
    for rule in _rules(ingress):
        for entry in _paths(rule):
            yield rule.get("host") or None, entry


def shell_paths(
    ingress: Mapping[str, Any] | None, service: str
) -> list[tuple[str | None, Manifest]]:
    """``(host, entry)`` of every path whose backend is ``service``."""
    if ingress is None:
        return []
    return [
        (host, dict(entry)) for host, entry in _entries(ingress) if _service_of(entry) == service
    ]


def path_holder(
    ingress: Mapping[str, Any] | None, host: str | None, path: str, service: str
) -> str | None:
    """The backend of another entry that already routes ``host`` + ``path`` (a clash), or None."""
    if ingress is None:
        return None
    for entry_host, entry in _entries(ingress):
        same_path = str(entry.get("path") or "/").rstrip("/") == path.rstrip("/")
        other = _service_of(entry) != service
        if entry_host == host and same_path and other:
            return _service_of(entry) or "a non-Service backend"
    return None


def has_routes(ingress: Mapping[str, Any]) -> bool:
    """Whether the Ingress still routes anything (a path or a default backend)."""
    spec = ingress.get("spec") or {}
    return bool(spec.get("defaultBackend")) or any(True for _ in _entries(ingress))


def _contains(observed: Any, wanted: Any) -> bool:
    if isinstance(wanted, Mapping):
        return isinstance(observed, Mapping) and all(
            k in observed and _contains(observed[k], v) for k, v in wanted.items()
        )
    return bool(observed == wanted)


def with_entry(
    ingress: Manifest,
    host: str | None,
    entry: Manifest,
    *,
    tls_secret: str | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Manifest:
    """A copy of ``ingress`` routing ``host`` + ``entry`` to the entry's Service.

    The shell's other entries (an old host or path) are removed; the entry is appended to the
    rule for ``host`` (a new rule when there is none). ``tls_secret`` adds a TLS entry for the
    host when none uses that Secret; ``annotations`` are added where the Ingress lacks the key
    (never overwritten: shells sharing an Ingress must not fight over a value).
    """
    service = _service_of(entry)
    assert service is not None, "a shell's entry has a Service backend"
    current = shell_paths(ingress, service)
    placed = len(current) == 1 and current[0][0] == host and _contains(current[0][1], entry)
    out = copy.deepcopy(ingress) if placed else without_entries(ingress, service)
    spec = out.setdefault("spec", {})
    if not placed:
        rules = spec.setdefault("rules", [])
        rule = next((r for r in rules if (r.get("host") or None) == host), None)
        if rule is None:
            rule = {"host": host} if host else {}
            rules.append(rule)
        rule.setdefault("http", {}).setdefault("paths", []).append(copy.deepcopy(entry))
    if tls_secret:
        tls = spec.setdefault("tls", [])
        covered = any(
            t.get("secretName") == tls_secret and (host in (t.get("hosts") or []) if host else True)
            for t in tls
        )
        if not covered:
            tls.append(
                {"hosts": [host], "secretName": tls_secret} if host else {"secretName": tls_secret}
            )
    meta = out.setdefault("metadata", {})
    if annotations:
        missing = {k: v for k, v in annotations.items() if k not in (meta.get("annotations") or {})}
        if missing:
            meta["annotations"] = {**(meta.get("annotations") or {}), **missing}
    return out


def without_entries(
    ingress: Manifest,
    service: str,
    *,
    host: str | None = None,
    tls_secret: str | None = None,
) -> Manifest:
    """A copy of ``ingress`` without the paths to ``service``.

    Rules left without paths are removed, except that the Ingress keeps one host-only rule when
    nothing else would remain (an Ingress needs a rule or a default backend). The TLS entry the
    shell added (``tls_secret`` for ``host``) goes when no remaining path uses ``host``.
    """
    out = copy.deepcopy(ingress)
    spec = out.setdefault("spec", {})
    rules: list[Any] = spec.get("rules") or []
    kept: list[Any] = []
    emptied: list[Any] = []
    for rule in rules:
        paths = _paths(rule)
        remaining = [p for p in paths if _service_of(p) != service]
        if len(remaining) == len(paths):
            kept.append(rule)
        elif remaining:
            rule["http"]["paths"] = remaining
            kept.append(rule)
        else:
            rule.pop("http", None)
            emptied.append(rule)
    if emptied and not kept and not spec.get("defaultBackend"):
        kept.append(emptied[-1])
    if "rules" in spec:
        spec["rules"] = kept
    if tls_secret and "tls" in spec:
        routed_hosts = {h for h, _ in _entries(out)}
        if host not in routed_hosts:
            ours = (
                {"hosts": [host], "secretName": tls_secret} if host else {"secretName": tls_secret}
            )
            spec["tls"] = [t for t in spec["tls"] if t != ours]
            if not spec["tls"]:
                del spec["tls"]
    return out
