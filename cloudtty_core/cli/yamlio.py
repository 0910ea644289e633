"""Reading manifests: YAML files with several documents, and where each field sits in them."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from cloudtty_core.cli.errors import CliError

try:
    import yaml
except ImportError as error:  # pragma: no cover - the cli extra is not installed
    raise CliError("the command line needs PyYAML: pip install 'cloudtty-core[cli]'") from error

_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@attrs.frozen
class Document:
    """One YAML document of a file, with the node tree to locate fields in it."""

    source: str
    index: int
    data: Any
    node: yaml.Node

    @property
    def line(self) -> int:
        """1-based line where the document starts."""
        return int(self.node.start_mark.line) + 1

    def line_of(self, path: str) -> int:
        """The 1-based line of the field at ``path`` (e.g. ``spec.env[0].name``).

        Falls back to the deepest existing parent (a missing required field is reported on the
        line of the object that lacks it).
        """
        node = self.node
        for key, index in _PATH_PART.findall(path):
            child = _child(node, key, int(index) if index else None)
            if child is None:
                break
            node = child
        return int(node.start_mark.line) + 1

    def describe(self) -> str:
        """``Kind/name`` of the document, for messages."""
        if isinstance(self.data, dict):
            metadata = self.data.get("metadata")
            name = metadata.get("name") if isinstance(metadata, dict) else None
            return f"{self.data.get('kind', '?')}/{name or '?'}"
        return f"document {self.index + 1}"


def _child(node: yaml.Node, key: str, index: int | None) -> yaml.Node | None:
    if index is not None and isinstance(node, yaml.SequenceNode):
        return node.value[index] if index < len(node.value) else None
    if index is None and isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if getattr(key_node, "value", None) == key:
                return value_node  # type: ignore[no-any-return]
    return None


def read_text(name: str) -> str:
    """The text of file ``name`` (``-`` is standard input)."""
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{name}: is a directory") from None
    except UnicodeDecodeError:
        raise CliError(f"{name}: not UTF-8 text") from None
    except OSError as error:
        raise CliError(f"{name}: {error.strerror or error}") from None


def documents(name: str) -> Iterator[Document]:
    """Every non-empty YAML document of file ``name``; a syntax error is a :class:`CliError`."""
    text = read_text(name)
    source = "<stdin>" if name == "-" else name
    loader = yaml.SafeLoader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node() said there is one
                break
            data = loader.construct_document(node)
            if data is not None:
                yield Document(source, index, data, node)
            index += 1
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise CliError(f"{where}: invalid YAML: {error.problem}") from None
    except yaml.YAMLError as error:
        raise CliError(f"{source}: invalid YAML: {error}") from None
    finally:
        loader.dispose()


def dump_yaml(data: Any) -> str:
    """YAML the way people write manifests: keys in model order, block style."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def dump_yaml_all(items: list[Any]) -> str:
    """Several documents separated by ``---``."""
    return yaml.safe_dump_all(items, sort_keys=False, default_flow_style=False, allow_unicode=True)
