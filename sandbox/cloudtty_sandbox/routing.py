"""HTTP routing rules of Ingress objects (and Istio VirtualServices): host match, then the
longest matching path; Exact beats Prefix at equal length. Pure functions over objects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs


@attrs.frozen
class Backend:
    namespace: str
    service: str
    port: int | str  # a Service port number or name


@attrs.frozen
class Rule:
    host: str  # "" matches any host; "*.example.com" matches one label
    path: str
    exact: bool
    backend: Backend
    source: str = ""


def host_matches(pattern: str, host: str) -> bool:
    host = host.lower()
    if not pattern or pattern == "*":
        return True
    pattern = pattern.lower()
    if pattern.startswith("*."):
        suffix = pattern[1:]
        head = host[: -len(suffix)] if host.endswith(suffix) else ""
        return bool(head) and "." not in head
    return pattern == host


def path_matches(rule: Rule, path: str) -> bool:
    if rule.exact:
        return path == rule.path
    prefix = rule.path.rstrip("/")
    if not prefix:
        return True
    return path == prefix or path.startswith(prefix + "/")


def choose(rules: Iterable[Rule], host: str, path: str) -> Rule | None:
    """The rule serving ``host`` + ``path``: exact hosts before wildcards before any-host rules,
    then the longest path, Exact before Prefix."""
    best: tuple[int, int, int] | None = None
    chosen = None
    for rule in rules:
        if not host_matches(rule.host, host) or not path_matches(rule, path):
            continue
        host_rank = 0 if not rule.host else (1 if rule.host.startswith("*.") else 2)
        rank = (
            host_rank,
            len(rule.path.rstrip("/")) if not rule.exact else len(rule.path),
            1 if rule.exact else 0,
        )
        if best is None or rank > best:
            best, chosen = rank, rule
    return chosen


def ingress_rules(ingress: dict[str, Any]) -> list[Rule]:
    namespace = ingress["metadata"].get("namespace", "")
    name = ingress["metadata"]["name"]
    spec = ingress.get("spec") or {}
    rules: list[Rule] = []
    for rule in spec.get("rules") or ():
        host = rule.get("host") or ""
        for path in (rule.get("http") or {}).get("paths") or ():
            backend = _ingress_backend(namespace, path.get("backend") or {})
            if backend is None:
                continue
            rules.append(
                Rule(
                    host,
                    path.get("path") or "/",
                    path.get("pathType") == "Exact",
                    backend,
                    f"ingress/{namespace}/{name}",
                )
            )
    default = _ingress_backend(namespace, spec.get("defaultBackend") or {})
    if default is not None:
        rules.append(Rule("", "", False, default, f"ingress/{namespace}/{name}"))
    return rules


def _ingress_backend(namespace: str, backend: dict[str, Any]) -> Backend | None:
    service = backend.get("service") or {}
    port = service.get("port") or {}
    number = port.get("number") if port.get("number") is not None else port.get("name")
    if not service.get("name") or number is None:
        return None
    return Backend(namespace, service["name"], number)


def virtual_service_rules(vs: dict[str, Any]) -> list[Rule]:
    """Routes of an Istio VirtualService: uri prefix/exact matches to destination Services."""
    namespace = vs["metadata"].get("namespace", "")
    name = vs["metadata"]["name"]
    spec = vs.get("spec") or {}
    hosts = spec.get("hosts") or ["*"]
    rules: list[Rule] = []
    for http in spec.get("http") or ():
        routes = http.get("route") or []
        if not routes:
            continue
        destination = routes[0].get("destination") or {}
        target = str(destination.get("host", ""))
        parts = target.split(".")
        service = parts[0]
        target_ns = parts[1] if len(parts) > 1 and parts[1] != "svc" else namespace
        port = (destination.get("port") or {}).get("number")
        if not service or port is None:
            continue
        backend = Backend(target_ns, service, int(port))
        matches = http.get("match") or [{}]
        for match in matches:
            uri = match.get("uri") or {}
            if "exact" in uri:
                path, exact = str(uri["exact"]), True
            else:
                path, exact = str(uri.get("prefix", "/")), False
            for host in hosts:
                rules.append(
                    Rule(
                        "" if host == "*" else host,
                        path,
                        exact,
                        backend,
                        f"virtualservice/{namespace}/{name}",
                    )
                )
    return rules
