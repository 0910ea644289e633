"""The JSONPath subset printer columns use: ``.a.b``, ``.a[0]``, ``.a[*].b`` and
``.a[?(@.type=="Ready")].status``."""

from __future__ import annotations

import re
from typing import Any

_STEP = re.compile(
    r"\.([^.\[\]]+)|\[(\*|-?\d+)\]"
    r"""|\[\?\(@\.([\w.-]+)\s*(==|!=)\s*["']?([^"')]*)["']?\)\]"""
)


def evaluate(path: str, obj: Any) -> list[Any]:
    """All values ``path`` selects in ``obj`` (empty when nothing matches or unsupported)."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    if path.startswith("$"):
        path = path[1:]
    if path and not path.startswith((".", "[")):
        path = "." + path
    current = [obj]
    pos = 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m:
            return []
        pos = m.end()
        field, index, filter_key, op, filter_value = m.groups()
        nxt: list[Any] = []
        for value in current:
            if field is not None:
                if isinstance(value, dict) and field in value:
                    nxt.append(value[field])
            elif index is not None:
                if isinstance(value, list):
                    if index == "*":
                        nxt.extend(value)
                    else:
                        i = int(index)
                        if -len(value) <= i < len(value):
                            nxt.append(value[i])
            elif isinstance(value, list):
                for item in value:
                    got = _dig(item, filter_key)
                    if (str(got) == filter_value) == (op == "=="):
                        nxt.append(item)
        current = nxt
    return current


def _dig(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
