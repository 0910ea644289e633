"""docs/crd-reference.md is generated from the model and must not drift from it."""

from __future__ import annotations

from pathlib import Path

import attrs

from cloudtty_core import CloudShellSpec
from cloudtty_core.crd import crd_markdown
from cloudtty_core.model import json_name

DOC = Path(__file__).resolve().parents[1] / "docs" / "crd-reference.md"


def test_committed_reference_matches_the_model():
    assert DOC.read_text(encoding="utf-8") == crd_markdown(), (
        "docs/crd-reference.md is stale: run `cloudtty crd --markdown > docs/crd-reference.md`"
    )


def test_reference_documents_every_spec_field():
    text = crd_markdown()
    for field in attrs.fields(CloudShellSpec):
        assert f"| `{json_name(field)}`" in text
    assert "## `spec.virtualServiceConfig`" in text
    assert "`export_to`" in text
    assert "## `status.conditions[]`" in text
