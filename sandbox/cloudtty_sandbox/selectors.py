"""Label selectors (=, ==, !=, in, notin, exists, !exists, gt, lt) and field selectors."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ApiError, bad_request

Matcher = Callable[[Mapping[str, str]], bool]

_TOKEN = re.compile(r"\s*(\(|\)|,|!=|==|=|!|>|<|[^\s(),!=<>]+)")
_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise bad_request(f"unable to parse requirement: invalid label selector {text!r}")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _values(tokens: list[str], i: int, text: str) -> tuple[set[str], int]:
    if i >= len(tokens) or tokens[i] != "(":
        raise bad_request(f"unable to parse requirement: found '(' expected in selector {text!r}")
    i += 1
    values: set[str] = set()
    expect_value = True
    while i < len(tokens) and tokens[i] != ")":
        tok = tokens[i]
        if tok == ",":
            if expect_value:
                values.add("")
            expect_value = True
        else:
            values.add(tok)
            expect_value = False
        i += 1
    if i >= len(tokens):
        raise bad_request(f"unable to parse requirement: found ')' expected in selector {text!r}")
    return values, i + 1


class LabelSelector:
    """A compiled label selector: callable on a label map, and ``equalities`` -- the
    ``key=value`` requirements every match carries -- so stores can look matches up in a label
    index instead of testing every object."""

    __slots__ = ("checks", "equalities")

    def __init__(self, checks: list[Matcher], equalities: dict[str, str]) -> None:
        self.checks = checks
        self.equalities = equalities

    def __call__(self, labels: Mapping[str, str]) -> bool:
        return all(check(labels) for check in self.checks)


def parse_label_selector(text: str | None) -> LabelSelector | None:
    """Compile a label selector string; ``None`` when it selects everything."""
    if not text or not text.strip():
        return None
    tokens = _tokens(text)
    checks: list[Matcher] = []
    equalities: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        negate = False
        if tokens[i] == "!":
            negate = True
            i += 1
        if i >= len(tokens):
            raise bad_request(f"unable to parse requirement: missing key in selector {text!r}")
        key = tokens[i]
        if not _KEY.match(key):
            raise bad_request(f"unable to parse requirement: invalid label key {key!r} in {text!r}")
        i += 1
        op = tokens[i] if i < len(tokens) else ","
        if negate:
            if op != ",":
                raise bad_request(f"unable to parse requirement: unexpected {op!r} in {text!r}")
            checks.append(lambda labels, k=key: k not in labels)
        elif op == ",":
            checks.append(lambda labels, k=key: k in labels)
        elif op in ("=", "==", "!="):
            value = tokens[i + 1] if i + 1 < len(tokens) and tokens[i + 1] != "," else ""
            if value:
                i += 1
            if op == "!=":
                checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
                # With two values for one key nothing matches; the checks still say so.
                equalities[key] = value
            i += 1
        elif op in ("in", "notin"):
            values, i = _values(tokens, i + 1, text)
            if op == "in":
                checks.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                checks.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        elif op in (">", "<"):
            try:
                bound = int(tokens[i + 1])
            except (IndexError, ValueError):
                raise bad_request(
                    f"unable to parse requirement: integer expected in {text!r}"
                ) from None
            i += 2
            checks.append(_numeric(key, bound, op == ">"))
        else:
            raise bad_request(
                f"unable to parse requirement: unexpected {op!r} in selector {text!r}"
            )
        if i < len(tokens):
            if tokens[i] != ",":
                raise bad_request(f"unable to parse requirement: expected ',' in selector {text!r}")
            i += 1
    return LabelSelector(checks, equalities)


def _numeric(key: str, bound: int, greater: bool) -> Matcher:
    def check(labels: Mapping[str, str]) -> bool:
        try:
            value = int(labels[key])
        except (KeyError, ValueError):
            return False
        return value > bound if greater else value < bound

    return check


def selector_from_match_labels(match: Mapping[str, str] | None) -> Matcher | None:
    """A matcher for a ``{key: value}`` selector (Services); ``None`` when empty."""
    if not match:
        return None
    items = tuple(match.items())
    return lambda labels: all(labels.get(k) == v for k, v in items)


def label_selector_from_object(selector: Mapping[str, Any] | None) -> Matcher | None:
    """A matcher for a ``LabelSelector`` object (matchLabels + matchExpressions)."""
    if not selector:
        return None
    checks: list[Matcher] = []
    match = selector.get("matchLabels")
    if match:
        m = selector_from_match_labels(match)
        if m:
            checks.append(m)
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key"), expr.get("operator"), set(expr.get("values") or ())
        if op == "In":
            checks.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
        elif op == "NotIn":
            checks.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        elif op == "Exists":
            checks.append(lambda labels, k=key: k in labels)
        elif op == "DoesNotExist":
            checks.append(lambda labels, k=key: k not in labels)
    return lambda labels: all(c(labels) for c in checks)


FieldMatcher = Callable[[Mapping[str, Any]], bool]


class FieldSelector:
    """A parsed field selector: a conjunction of ``path=value`` / ``path!=value`` terms."""

    __slots__ = ("terms",)

    def __init__(self, terms: list[tuple[str, bool, str]]) -> None:
        self.terms = terms

    def exact_name(self) -> str | None:
        """The name when the selector pins ``metadata.name`` (lets watches skip other objects)."""
        for path, equal, value in self.terms:
            if path == "metadata.name" and equal:
                return value
        return None

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((field_value(obj, path) == value) == equal for path, equal, value in self.terms)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form of a field selector path (missing fields read as "")."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(
    text: str | None, allowed: frozenset[str], kind: str
) -> FieldSelector | None:
    """Compile a field selector; unsupported field labels are a 400 like the API server's."""
    if not text or not text.strip():
        return None
    terms: list[tuple[str, bool, str]] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        if "!=" in part:
            path, value = part.split("!=", 1)
            equal = False
        elif "==" in part:
            path, value = part.split("==", 1)
            equal = True
        elif "=" in part:
            path, value = part.split("=", 1)
            equal = True
        else:
            raise bad_request(f"invalid selector: {text!r}; can't understand {part!r}")
        path = path.strip()
        if path not in allowed:
            raise ApiError(400, f'field label not supported: "{path}" for {kind}')
        terms.append((path, equal, value.strip()))
    return FieldSelector(terms) if terms else None
