"""``cloudtty render`` and ``cloudtty plugins`` with a plugin that brings fake backends."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

import cloudtty_core.plugins
from cloudtty_core import hookimpl
from cloudtty_core.cli import main
from cloudtty_core.cli.render import TOKEN_PLACEHOLDER
from cloudtty_core.testing import FakeAuthBackend, FakeExposureBackend, FakeImageBackend

EXAMPLES = Path(__file__).parent / "data" / "examples"


class FakeBackends:
    """A plugin registering what the NodePort example needs."""

    @hookimpl
    def cloudtty_register_backends(self, registry):
        registry.add_exposure(FakeExposureBackend("NodePort", node_port=True))
        registry.add_image(FakeImageBackend("webterm"))
        for mode in ("none", "token"):
            registry.add_auth(FakeAuthBackend(mode))


class Broken:
    @hookimpl
    def cloudtty_register_backends(self, registry):
        raise RuntimeError("cannot reach the licence server")


@pytest.fixture
def fake_plugins(monkeypatch):
    original = cloudtty_core.plugins.load_plugins

    def load(**kwargs):
        extra = [("fake-backends", FakeBackends()), ("broken", Broken())]
        return original(**kwargs | {"autoload": False, "extra": extra})

    monkeypatch.setattr(cloudtty_core.plugins, "load_plugins", load)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_render_prints_the_objects_and_the_outcome(fake_plugins, capsys):
    status, out, err = run(capsys, "render", str(EXAMPLES / "cloudshell-nodeport.yaml"))
    assert status == 0, err
    objects = list(yaml.safe_load_all(out))
    kinds = {o["kind"] for o in objects}
    assert {"Service", "Pod"} <= kinds
    for obj in objects:
        assert obj["metadata"]["namespace"] == "default"
    assert "phase: Ready, url: http://127.0.0.1:" in err


def test_render_never_prints_a_real_token(fake_plugins, tmp_path, capsys):
    raw = yaml.safe_load((EXAMPLES / "cloudshell-nodeport.yaml").read_text())
    raw["spec"]["auth"] = {"mode": "token"}
    path = tmp_path / "token.yaml"
    path.write_text(yaml.safe_dump(raw))
    status, out, err = run(capsys, "render", str(path))
    assert status == 0, err
    secrets = [o for o in yaml.safe_load_all(out) if o["kind"] == "Secret"]
    values = [
        base64.b64decode(v).decode() for s in secrets for v in (s.get("data") or {}).values()
    ] + [v for s in secrets for v in (s.get("stringData") or {}).values()]
    assert any(TOKEN_PLACEHOLDER in v for v in values)


def test_render_reports_a_missing_backend(fake_plugins, capsys):
    status, out, err = run(capsys, "render", str(EXAMPLES / "cloudshell-virtualservice.yaml"))
    assert status == 1
    assert "phase: Failed" in err
    assert "'VirtualService' is not installed" in err
    assert out == ""


def test_render_shows_validation_problems(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text((EXAMPLES / "cloudshell-nodeport.yaml").read_text() + "  ttl: -1\n")
    status, out, _ = run(capsys, "render", str(path))
    assert status == 1
    assert "spec.ttl: must be at least 0" in out


def test_render_wants_exactly_one_shell(tmp_path, capsys):
    path = tmp_path / "two.yaml"
    text = (EXAMPLES / "cloudshell-nodeport.yaml").read_text()
    path.write_text(text + "---\n" + text)
    status, _, err = run(capsys, "render", str(path))
    assert status == 2
    assert "expected one CloudShell, found 2" in err


def test_plugins_lists_backends_and_broken_plugins(fake_plugins, capsys):
    status, out, _ = run(capsys, "plugins", "--json")
    assert status == 1  # a plugin failed
    report = json.loads(out)
    names = {(b["kind"], b["name"]) for b in report["backends"]}
    assert {("exposure", "NodePort"), ("image", "webterm"), ("auth", "none")} <= names
    (failure,) = report["failures"]
    assert failure["plugin"] == "broken"
    assert "cannot reach the licence server" in failure["error"]
    status, text, _ = run(capsys, "plugins")
    assert "Broken plugins (skipped):" in text
    assert "NodePort" in text
