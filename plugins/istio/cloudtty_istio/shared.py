"""Editing a VirtualService several shells share: add or remove one shell's route only.

A shell's route is the ``http`` entry named ``cloudshell.<namespace>.<name>``; every other
route (other shells', an administrator's) is kept as it is and in its order. The functions
return edited deep copies that keep ``metadata.resourceVersion``, so a concurrent change makes
the runtime's PUT fail with 409 and the shell is planned again from the fresh object.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from cloudtty_core import Manifest

from .routing import PLACEHOLDER_ROUTE, placeholder_route

__all__ = ["has_routes", "route_holder", "shell_routes", "with_route", "without_route"]


def _http(vs: Mapping[str, Any] | None) -> list[Any]:
    return list(((vs or {}).get("spec") or {}).get("http") or [])


def shell_routes(vs: Mapping[str, Any] | None, name: str) -> list[Manifest]:
    """The ``http`` routes called ``name``."""
    return [dict(r) for r in _http(vs) if r.get("name") == name]


def _uris(route: Mapping[str, Any]) -> set[str]:
    found = set()
    for match in route.get("match") or ():
        uri = match.get("uri") or {}
        for kind in ("prefix", "exact"):
            if uri.get(kind):
                found.add(str(uri[kind]).rstrip("/"))
    return found


def route_holder(vs: Mapping[str, Any] | None, route: Mapping[str, Any]) -> str | None:
    """The name of another route that already matches the same path (a clash), or None."""
    wanted = _uris(route)
    for other in _http(vs):
        if other.get("name") != route.get("name") and wanted & _uris(other):
            return str(other.get("name") or "an unnamed route")
    return None


def has_routes(vs: Mapping[str, Any]) -> bool:
    """Whether the VirtualService has any route (Istio rejects one without)."""
    spec = vs.get("spec") or {}
    return bool(spec.get("http") or spec.get("tcp") or spec.get("tls"))


def with_route(vs: Manifest, route: Manifest, gateway: str | None = None) -> Manifest:
    """A copy of ``vs`` with ``route`` (replacing the shell's old one, dropping the placeholder)
    and ``gateway`` among its gateways."""
    out = copy.deepcopy(vs)
    spec = out.setdefault("spec", {})
    http = [r for r in spec.get("http") or [] if r.get("name") != PLACEHOLDER_ROUTE]
    mine = [r for r in http if r.get("name") == route["name"]]
    if mine != [route]:
        http = [r for r in http if r.get("name") != route["name"]] + [copy.deepcopy(route)]
    spec["http"] = http
    if gateway and gateway not in (spec.get("gateways") or []):
        spec["gateways"] = [*(spec.get("gateways") or []), gateway]
    return out


def without_route(vs: Manifest, name: str) -> Manifest:
    """A copy of ``vs`` without the route ``name``; when nothing would be left, the placeholder
    route keeps the VirtualService valid."""
    out = copy.deepcopy(vs)
    spec = out.setdefault("spec", {})
    if "http" not in spec:
        return out
    spec["http"] = [r for r in spec["http"] if r.get("name") != name]
    if not has_routes(out):
        spec["http"] = [placeholder_route()]
    return out
