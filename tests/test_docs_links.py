"""The documentation hangs together: every page is reachable from docs/index.md, and every
relative link in the docs (and the README and changelog) points at a file that exists, and at
a heading that exists when it names one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
LINKED_FROM_ROOT = [ROOT / "README.md", ROOT / "CHANGELOG.md"]

# [text](target) outside code; images too. Code spans and fenced blocks are removed first.
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`\n]*`")


def links(page: Path) -> list[str]:
    text = _CODE.sub("", _FENCE.sub("", page.read_text(encoding="utf-8")))
    return _LINK.findall(text)


def anchors(page: Path) -> set[str]:
    """GitHub-style anchors of the page's headings."""
    found = set()
    for line in _FENCE.sub("", page.read_text(encoding="utf-8")).splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
            found.add(slug)
    return found


def is_external(target: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", target))


def test_there_are_pages():
    assert DOCS / "index.md" in PAGES
    assert len(PAGES) >= 10


def test_every_page_is_linked_from_the_index():
    linked = {
        (DOCS / target.split("#")[0]).resolve()
        for target in links(DOCS / "index.md")
        if not is_external(target)
    }
    missing = [p.name for p in PAGES if p.name != "index.md" and p.resolve() not in linked]
    assert not missing, f"docs/index.md does not link {missing}"


@pytest.mark.parametrize("page", [*PAGES, *LINKED_FROM_ROOT], ids=lambda p: p.name)
def test_relative_links_resolve(page: Path):
    if not page.exists():
        pytest.fail(f"{page.relative_to(ROOT)} is missing")
    broken = []
    for target in links(page):
        if is_external(target) or target.startswith("mailto:"):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page.resolve()
        missing_anchor = (
            resolved.exists()
            and bool(anchor)
            and resolved.suffix == ".md"
            and anchor not in anchors(resolved)
        )
        if not resolved.exists() or missing_anchor:
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"


def test_the_link_check_catches_a_broken_link(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\nSee [a](missing.md), [b](#title), `[c](ignored.md)`.\n")
    assert links(page) == ["missing.md", "#title"]
    assert "title" in anchors(page)
    assert not (tmp_path / "missing.md").exists()
