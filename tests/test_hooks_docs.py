"""Every hook is a documented contract and is exercised by a test (the datasette pattern)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from cloudtty_core import hookspecs

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "plugins.md"


def hook_names() -> list[str]:
    return sorted(
        name
        for name, value in vars(hookspecs).items()
        if name.startswith("cloudtty_") and hasattr(value, "cloudtty_spec")
    )


def test_there_are_hooks() -> None:
    assert hook_names() == [
        "cloudtty_adjust_objects",
        "cloudtty_phase_changed",
        "cloudtty_register_backends",
    ]


@pytest.mark.parametrize("name", hook_names())
def test_hook_is_in_the_reference(name: str) -> None:
    text = DOC.read_text()
    params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    assert f"### `{name}({params})`" in text, f"docs/plugins.md lacks a section for {name}"


@pytest.mark.parametrize("name", hook_names())
def test_hook_docstring_is_a_contract(name: str) -> None:
    func = getattr(hookspecs, name)
    doc = inspect.getdoc(func) or ""
    for param in inspect.signature(func).parameters:
        assert f":param {param}:" in doc, f"{name} does not document {param}"
    assert "**When called:**" in doc
    assert "**Return" in doc
    assert re.search(r"\.\. versionadded:: \d+\.\d+", doc)
    hints = inspect.get_annotations(func)
    assert set(hints) == {*inspect.signature(func).parameters, "return"}


@pytest.mark.parametrize("name", hook_names())
def test_hook_is_exercised_by_a_test(name: str) -> None:
    implementations = [
        path.name
        for path in (ROOT / "tests").glob("test_*.py")
        if path.name != Path(__file__).name and f"def {name}(" in path.read_text()
    ]
    assert implementations, f"no test implements {name}"
