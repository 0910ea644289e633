"""Hypothesis strategies for bad CloudShells: a valid shell with one to three fields broken.

The fields come from the CRD's own schema (:func:`~cloudtty_core.crd.crd_manifest`), so a field
added to the model is broken here too. Each example is a :class:`BadShell`: the manifest, the
family of breakage, and the paths it touched -- a refusal must name one of them.

Families: ``wrong-type`` (any JSON type but the right one), ``huge-string`` (up to 100,000
characters), ``unicode`` (any code point but surrogates, control characters included),
``number`` (negative, zero, huge and beyond 64 bits), ``command`` (shell metacharacters in
``commandAction``), ``path`` (traversal, query, fragment, backslashes in ``pathPrefix`` /
``pathSuffix``), ``host`` (invalid host names), ``unknown-field``, ``missing-field``, ``name``
(bad backend, env and object names) and ``mixed`` (several of them at once).
"""

from __future__ import annotations

import copy
import functools
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs
from hypothesis import strategies as st

from cloudtty_core.crd import crd_manifest
from cloudtty_core.model import API_VERSION, KIND, Manifest

__all__ = [
    "FAMILIES",
    "BadShell",
    "FieldInfo",
    "bad_cloudshells",
    "path_related",
    "schema_fields",
]

FAMILIES = (
    "wrong-type",
    "huge-string",
    "unicode",
    "number",
    "command",
    "path",
    "host",
    "unknown-field",
    "missing-field",
    "name",
    "mixed",
)


@attrs.frozen
class FieldInfo:
    """A field of the CloudShell schema: its path (``("spec", "env", 0, "name")``) and node."""

    path: tuple[str | int, ...]
    schema: Mapping[str, Any]

    @property
    def dotted(self) -> str:
        """``spec.env[0].name``."""
        return dotted(self.path)

    @property
    def type(self) -> str:
        """The JSON type (``int-or-string`` for runAsUser)."""
        if self.schema.get("x-kubernetes-int-or-string"):
            return "int-or-string"
        return str(self.schema.get("type", "any"))


@attrs.frozen
class BadShell:
    """A generated bad shell."""

    manifest: Manifest
    family: str
    touched: tuple[str, ...]
    """Dotted paths the breakage touched."""


def dotted(path: Sequence[str | int]) -> str:
    """``("spec", "env", 0, "name")`` as ``spec.env[0].name``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def path_related(named: str, touched: str) -> bool:
    """Whether a refusal naming ``named`` is about the breakage at ``touched``: the same field,
    one inside it, or one containing it (a wrong type turns a whole object invalid)."""

    def parts(path: str) -> list[str]:
        return [p for p in re.split(r"[.\[\]]", path) if p]

    a, b = parts(named), parts(touched)
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def _walk(node: Mapping[str, Any], path: tuple[str | int, ...]) -> Iterator[FieldInfo]:
    yield FieldInfo(path, node)
    for key, sub in (node.get("properties") or {}).items():
        yield from _walk(sub, (*path, key))
    items = node.get("items")
    if isinstance(items, Mapping):
        yield from _walk(items, (*path, 0))
    extra = node.get("additionalProperties")
    if isinstance(extra, Mapping):
        yield from _walk(extra, (*path, "key"))


def schema_fields() -> tuple[FieldInfo, ...]:
    """Every field under ``spec`` of the CloudShell CRD (the spec itself included)."""
    version = crd_manifest()["spec"]["versions"][0]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return tuple(_walk(spec, ("spec",)))


_FIELDS = schema_fields()
_STRING_FIELDS = tuple(f for f in _FIELDS if f.type == "string")
_INT_FIELDS = tuple(f for f in _FIELDS if f.type in ("integer", "int-or-string"))
_OBJECT_FIELDS = tuple(f for f in _FIELDS if f.type == "object" and f.schema.get("properties"))


def _minimal(schema: Mapping[str, Any], path: tuple[str | int, ...]) -> Any:
    """A small valid value for a schema node (objects get their required fields)."""
    kind = schema.get("type")
    if kind == "object":
        out: dict[str, Any] = {}
        for key in schema.get("required") or ():
            out[key] = _minimal((schema.get("properties") or {})[key], (*path, key))
        return out
    if kind == "array":
        return []
    if kind == "integer" or schema.get("x-kubernetes-int-or-string"):
        return 1
    if kind == "boolean":
        return True
    pattern = str(schema.get("pattern") or "")
    return "/a" if pattern.startswith("^/") else "a"


def _node_at(path: tuple[str | int, ...]) -> Mapping[str, Any]:
    for info in _FIELDS:
        if info.path == path:
            return info.schema
    return {}


def set_at(manifest: Manifest, path: tuple[str | int, ...], value: Any) -> None:
    """Set ``path`` in ``manifest`` to ``value``, making valid containers on the way."""
    node: Any = manifest
    for depth, part in enumerate(path[:-1]):
        prefix = path[: depth + 1]
        nxt = path[depth + 1]
        if isinstance(part, int):
            if not isinstance(node, list):
                return
            while len(node) <= part:
                node.append(_minimal(_node_at(prefix), prefix))
            if not isinstance(node[part], dict | list):
                node[part] = _minimal(_node_at(prefix), prefix)
            node = node[part]
            continue
        if not isinstance(node, dict):
            return
        current = node.get(part)
        wants_list = isinstance(nxt, int)
        if wants_list and not isinstance(current, list):
            node[part] = []
        elif not wants_list and not isinstance(current, dict):
            schema = _node_at(prefix)
            node[part] = _minimal(schema, prefix) if schema.get("type") == "object" else {}
        node = node[part]
    last = path[-1]
    if isinstance(last, int):
        if isinstance(node, list):
            while len(node) <= last:
                node.append(None)
            node[last] = value
    elif isinstance(node, dict):
        node[last] = value


def remove_at(manifest: Manifest, path: tuple[str | int, ...]) -> bool:
    """Remove ``path`` from ``manifest``; whether it was there."""
    node: Any = manifest
    for part in path[:-1]:
        if isinstance(part, int):
            if not isinstance(node, list) or len(node) <= part:
                return False
        elif not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    last = path[-1]
    if isinstance(node, dict) and isinstance(last, str) and last in node:
        del node[last]
        return True
    return False


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------

_ANY_JSON: st.SearchStrategy[Any] = st.sampled_from(
    [1, -1, 0, 1.5, -0.0, 1e308, "x", "", True, False, None, [], {}, [1, "a"], {"k": 1}, [{}]]
)
_TYPE_OF = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}

METACHARACTERS = (
    "; rm -rf /",
    "$(curl http://127.0.0.1:1/x)",
    "`id`",
    "bash && cat /etc/shadow",
    "bash | nc 127.0.0.1 1",
    "bash\nrm -rf /",
    "bash\x00 -c id",
    "'; DROP TABLE shells; --",
    '" ; echo pwned',
    "bash > /dev/tcp/127.0.0.1/1",
    "${IFS}cat${IFS}/etc/passwd",
    "bash -c '$(printf \\x72\\x6d)'",
    "   ",
    "",
    "\t\n",
    "kubectl exec -it $(kubectl get pod -o name | head -1) -- sh",
    "bash #",
    "!!",
    "*",
    "~root/.ssh/id_rsa",
)

TRAVERSALS = (
    "/../etc/passwd",
    "/a/../../b",
    "..",
    "/..",
    "/a/..",
    "/%2e%2e/x",
    "//",
    "/a\\..\\b",
    "/a?x=1",
    "/a#frag",
    " /x",
    "/x y",
    "/\x00",
    "/\t",
    "relative/path",
    "/a/./b",
    "/" + "a/" * 600,
    "/..;/x",
    "/\u202e/x",
    "\\\\server\\share",
)

BAD_HOSTS = (
    "UPPER.example.com",
    "-bad.example.com",
    "bad-.example.com",
    "a..b",
    "*.*.example.com",
    "1.2.3.4",
    "::1",
    "[::1]",
    "host:80",
    "héllo.example.com",
    "",
    ".",
    "*",
    "a_b.example.com",
    "x" * 64 + ".example.com",
    ("a" * 60 + ".") * 5 + "com",
    "example.com/",
    "http://example.com",
    "ex ample.com",
    "example.com\n",
)

BAD_NAMES = (
    "Node Port",
    "../x",
    "",
    "-x",
    "x-",
    "a" * 64,
    "a" * 300,
    "ünïcödé",
    "a/b",
    "a:b",
    "$(id)",
    "A" * 254,
    ".",
    "_",
    "0" * 70,
)

NUMBERS = (
    -1,
    -(2**31),
    -(2**63),
    2**31,
    2**31 - 1,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    10**30,
    0,
    31622401,
    366 * 24 * 3600 + 1,
)


def _other_type(schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    kind = schema.get("type")
    int_or_string = bool(schema.get("x-kubernetes-int-or-string"))

    def wrong(value: Any) -> bool:
        actual = _TYPE_OF.get(type(value), "?")
        if int_or_string:
            return actual not in ("integer", "string")
        if kind == "number":
            return actual not in ("integer", "number")
        return actual != kind

    return _ANY_JSON.filter(wrong)


_CHARS = st.characters(exclude_categories=["Cs"])


def _huge_string() -> st.SearchStrategy[str]:
    return st.builds(
        lambda c, n, tail: c * n + tail,
        st.sampled_from(["a", "é", "/", "-", "\u4e2d", "\U0001f600", " "]),
        st.sampled_from([254, 1025, 4097, 10_000, 100_000]),
        st.text(_CHARS, max_size=5),
    )


# --------------------------------------------------------------------------------------------
# Breakages
# --------------------------------------------------------------------------------------------


_FIELD_CHOICE = st.sampled_from(_FIELDS)
_STRING_FIELD_CHOICE = st.sampled_from(_STRING_FIELDS)
_INT_FIELD_CHOICE = st.sampled_from(_INT_FIELDS)
_OBJECT_FIELD_CHOICE = st.sampled_from(_OBJECT_FIELDS)
_OTHER_TYPE = {info.path: _other_type(info.schema) for info in _FIELDS}
_HUGE = _huge_string()
_UNICODE = st.text(_CHARS, min_size=1, max_size=40)
_NUMBER = st.one_of(st.sampled_from(NUMBERS), st.integers(), st.integers(-10, 10))
_METACHARACTERS = st.sampled_from(METACHARACTERS)
_SHORT_TEXT = st.text(_CHARS, max_size=8)
_PATH_FIELD = st.sampled_from(["pathPrefix", "pathSuffix"])
_PATH_VALUE = st.one_of(
    st.sampled_from(TRAVERSALS),
    st.builds(
        lambda parts: "/" + "/".join(parts),
        st.lists(st.sampled_from(["a", "..", ".", "", "%2e", "b"]), max_size=6),
    ),
)
_HOST_VALUE = st.one_of(st.sampled_from(BAD_HOSTS), st.text(_CHARS, min_size=1, max_size=30))
_UNKNOWN_KEY = st.sampled_from(["foo", "Ttl", "exposure_mode", "$x", "spec", "a.b", "ñ"])
_TOP_LEVEL_KEY = st.sampled_from(["extra", "Spec", "specs"])
_NAME_VALUE = st.one_of(st.sampled_from(BAD_NAMES), st.text(_CHARS, max_size=12))
_BOOL = st.booleans()


def _wrong_type(draw: st.DrawFn, shell: Manifest) -> tuple[str, ...]:
    info = draw(_FIELD_CHOICE)
    set_at(shell, info.path, draw(_OTHER_TYPE[info.path]))
    return (info.dotted,)


def _huge(draw: st.DrawFn, shell: Manifest) -> tuple[str, ...]:
    info = draw(_STRING_FIELD_CHOICE)
    set_at(shell, info.path, draw(_HUGE))
    return (info.dotted,)


def _unicode(draw: st.DrawFn, shell: Manifest) -> tuple[str, ...]:
    info = draw(_STRING_FIELD_CHOICE)
    set_at(shell, info.path, draw(_UNICODE))
    return (info.dotted,)


def _number(draw: st.DrawFn, shell: Manifest) -> tuple[str, ...]:
    info = draw(_INT_FIELD_CHOICE)
    value: int | str = draw(_NUMBER)
    if info.type == "int-or-string" and draw(_BOOL):
        value = str(value)
    set_at(shell, info.path, value)
    return (info.dotted,)


def _command(draw: st.DrawFn, shell: Manifest) -> tuple[str, ...]:
    base = draw(_METACHARACTERS)
    suffix = draw(_SHORT_TEXT) if draw(_BOOL) else ""
    set_at(shell, ("spec", "commandAction"), base + suffix)
    return ("spec.commandAction",)


def _path(draw: st.DrawFn, shell: Manifest) -> tuple[str, ...]:
    field = draw(_PATH_FIELD)
    value = draw(_PATH_VALUE)
    set_at(shell, ("spec", field), value)
    return (f"spec.{field}",)


def _host(draw: st.DrawFn, shell: Manifest) -> tuple[str, ...]:
    host = draw(_HOST_VALUE)
    set_at(shell, ("spec", "exposureMode"), "Ingress")
    set_at(shell, ("spec", "ingressConfig"), {"host": host})
    return ("spec.ingressConfig.host",)


def _unknown_field(draw: st.DrawFn, shell: Manifest) -> tuple[str, ...]:
    holder = draw(_OBJECT_FIELD_CHOICE)
    key = draw(_UNKNOWN_KEY)
    path = (*holder.path, key)
    set_at(shell, path, draw(_ANY_JSON))
    if draw(_BOOL):
        shell[draw(_TOP_LEVEL_KEY)] = {"x": 1}
    return (dotted(path), "extra", "Spec", "specs")


_REQUIRED: tuple[tuple[str | int, ...], ...] = (
    ("spec",),
    ("metadata", "name"),
    ("metadata",),
    ("apiVersion",),
    ("kind",),
)


_OPTIONAL_CHOICE = st.sampled_from([f for f in _FIELDS if len(f.path) > 1])
_REQUIRED_IN_OBJECTS = st.sampled_from(
    [
        (*f.path, key)
        for f in _FIELDS
        if f.type == "object"
        for key in f.schema.get("required") or ()
    ]
)
_MISSING_KIND = st.sampled_from(["top", "required", "any"])
_TOP_REQUIRED = st.sampled_from(_REQUIRED)


def _missing(draw: st.DrawFn, shell: Manifest) -> tuple[str, ...]:
    choice = draw(_MISSING_KIND)
    if choice == "top":
        path = draw(_TOP_REQUIRED)
        remove_at(shell, path)
        return (dotted(path),)
    if choice == "required":
        path = draw(_REQUIRED_IN_OBJECTS)
        holder = path[:-1]
        set_at(shell, holder, _minimal(_node_at(holder), holder))
        remove_at(shell, path)
        return (dotted(path),)
    info = draw(_OPTIONAL_CHOICE)
    remove_at(shell, info.path)
    return (info.dotted,)


_NAME_TARGET = st.sampled_from(
    [
        ("spec", "exposureMode"),
        ("spec", "imageBackend"),
        ("spec", "auth", "mode"),
        ("spec", "env", 0, "name"),
        ("spec", "secretRef", "name"),
        ("spec", "configmapName"),
        ("spec", "runAsUser"),
        ("spec", "image"),
        ("metadata", "name"),
    ]
)


def _name(draw: st.DrawFn, shell: Manifest) -> tuple[str, ...]:
    target = draw(_NAME_TARGET)
    value = draw(_NAME_VALUE)
    set_at(shell, target, value)
    return (dotted(target),)


_BREAKERS = {
    "wrong-type": _wrong_type,
    "huge-string": _huge,
    "unicode": _unicode,
    "number": _number,
    "command": _command,
    "path": _path,
    "host": _host,
    "unknown-field": _unknown_field,
    "missing-field": _missing,
    "name": _name,
}


@st.composite
def bad_cloudshells(
    draw: st.DrawFn,
    families: Sequence[str] = FAMILIES,
    exposure_modes: Sequence[str] = ("NodePort", "ClusterIP", "Ingress"),
    image_backends: Sequence[str] = ("webterm",),
    auth_modes: Sequence[str] = ("none",),
) -> BadShell:
    """A CloudShell manifest with one breakage of a family drawn from ``families`` (``mixed``:
    two or three breakages of any family)."""
    bases = _bases(tuple(exposure_modes), tuple(image_backends), tuple(auth_modes))
    shell = copy.deepcopy(bases[draw(st.integers(0, len(bases) - 1))])
    family = draw(_family_choice(tuple(families)))
    touched: list[str] = []
    if family == "mixed":
        for name in draw(_SEVERAL):
            touched += _BREAKERS[name](draw, shell)
    else:
        touched += _BREAKERS[family](draw, shell)
    return BadShell(shell, family, tuple(touched))


_SEVERAL = st.lists(st.sampled_from(sorted(_BREAKERS)), min_size=2, max_size=3)


@functools.cache
def _family_choice(families: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(families)


@functools.cache
def _bases(
    exposure_modes: tuple[str, ...], image_backends: tuple[str, ...], auth_modes: tuple[str, ...]
) -> tuple[Manifest, ...]:
    """Valid shells to break, made once from a seeded generator (drawing them through
    hypothesis each time costs more than the rest of an example)."""
    rng = random.Random(20240501)
    found: list[Manifest] = []
    for i in range(BASES):
        spec: dict[str, Any] = {
            "exposureMode": rng.choice(exposure_modes),
            "imageBackend": rng.choice(image_backends),
            "commandAction": rng.choice(_COMMANDS),
        }
        source = rng.randrange(4)
        if source == 1:
            spec["secretRef"] = {"name": f"kube-{i}"}
        elif source == 2:
            spec["secretRef"] = {"name": f"kube-{i}", "key": "config"}
        elif source == 3:
            spec["configmapName"] = f"kube-{i}"
        mode = rng.choice(auth_modes)
        if mode != "none" or rng.random() < 0.5:
            spec["auth"] = {"mode": mode}
        ttl_field = rng.choice((None, "ttl", "ttlSecondsAfterStarted"))
        if ttl_field is not None:
            spec[ttl_field] = rng.randint(1, 7 * 24 * 3600)
        for flag in ("once", "cleanup", "urlArg", "readOnly"):
            if rng.random() < 0.3:
                spec[flag] = True
        if rng.random() < 0.5:
            spec["runAsUser"] = rng.choice(("root", "1000", 1000))
        if rng.random() < 0.5:
            spec["pathPrefix"] = f"/shell-{i}"
        if rng.random() < 0.3:
            spec["pathSuffix"] = "term"
        if rng.random() < 0.5:
            spec["env"] = [{"name": "LANG", "value": "C.UTF-8"}]
        if rng.random() < 0.3:
            spec["ttydClientOptions"] = {"fontSize": str(rng.randint(8, 30))}
        if rng.random() < 0.3:
            spec["idleTimeoutSeconds"] = rng.randint(1, 3600)
        if spec["exposureMode"] == "Ingress" and rng.random() < 0.7:
            spec["ingressConfig"] = {"host": "shells.example.com"}
        found.append(
            {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "metadata": {"name": f"shell-{i}", "namespace": "default"},
                "spec": spec,
            }
        )
    return tuple(found)


_COMMANDS = ("bash", "kubectl get pods -A", "kubectl -n kube-system logs -f etcd-0", "sh -c 'top'")
BASES = 200
"""How many valid shells the breakages start from."""
