"""The ``cloudtty`` command line: crd, validate, plugins; errors are one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cloudtty_core.cli import COMMANDS, main
from cloudtty_core.crd import crd_manifest, crd_markdown

EXAMPLES = sorted((Path(__file__).parent / "data" / "examples").glob("*.yaml"))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_crd_prints_the_manifest_as_yaml(capsys):
    status, out, _ = run(capsys, "crd")
    assert status == 0
    assert yaml.safe_load(out) == crd_manifest()


def test_crd_json_and_markdown(capsys):
    assert json.loads(run(capsys, "crd", "--json")[1]) == crd_manifest()
    assert run(capsys, "crd", "--markdown")[1] == crd_markdown()


def test_validate_accepts_the_examples(capsys):
    status, out, err = run(capsys, "validate", *map(str, EXAMPLES))
    assert status == 0
    assert out == ""
    assert "3 CloudShells valid" in err


def test_validate_reports_every_problem_with_file_line_and_path(tmp_path, capsys):
    manifest = tmp_path / "shells.yaml"
    manifest.write_text(
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata: {name: my-kubeconfig}\n"
        "---\n"
        "apiVersion: cloudshell.cloudtty.io/v1alpha1\n"
        "kind: CloudShell\n"
        "metadata:\n"
        "  name: demo\n"
        "spec:\n"
        "  ttl: -5\n"
        "  ingressConfig:\n"
        "    host: Bad_Host\n"
        "    colour: red\n"
        "  env:\n"
        "  - value: x\n"
        "---\n" + EXAMPLES[0].read_text()
    )
    status, out, err = run(capsys, "validate", str(manifest))
    assert status == 1
    assert out.splitlines() == [
        f"{manifest}:10: spec.ttl: must be at least 0",
        f"{manifest}:15: spec.env[0].name: required",
        f"{manifest}:13: spec.ingressConfig.colour: unknown field",
        f"{manifest}:12: spec.ingressConfig.host: must be a DNS-1123 host name, "
        "optionally starting with '*.'",
    ]
    assert "skipped ConfigMap/my-kubeconfig" in err
    assert "1 of 2 CloudShells invalid" in err


def test_validate_reads_standard_input(monkeypatch, capsys):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("kind: CloudShell\nmetadata: {name: x}\n"))
    status, out, _ = run(capsys, "validate", "-")
    assert status == 1
    assert "<stdin>:1: apiVersion: required" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("spec: [\n", "invalid YAML"),
        ("a: b\n  c: d\n", "invalid YAML"),
    ],
)
def test_broken_yaml_is_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "broken.yaml"
    path.write_text(content)
    status, _out, err = run(capsys, "validate", str(path))
    assert status == 2
    assert err.count("\n") == 1
    assert err.startswith(f"cloudtty: error: {path}:")
    assert message in err


def test_missing_file_is_one_line(tmp_path, capsys):
    status, _, err = run(capsys, "validate", str(tmp_path / "nope.yaml"))
    assert status == 2
    assert err == f"cloudtty: error: {tmp_path / 'nope.yaml'}: no such file\n"


def test_unexpected_errors_are_one_line(monkeypatch, capsys):
    import cloudtty_core.cli.crd as crd_command

    def boom() -> dict:
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr(crd_command, "crd_manifest", boom)
    monkeypatch.delenv("CLOUDTTY_DEBUG", raising=False)
    status, _, err = run(capsys, "crd")
    assert status == 2
    assert err.count("\n") == 1
    assert "RuntimeError: something broke" in err


def test_plugins_lists_nothing_without_plugins(monkeypatch, capsys):
    status, out, _ = run(capsys, "plugins", "--no-autoload", "--json")
    assert status == 0
    report = json.loads(out)
    assert report == {"plugins": [], "backends": [], "failures": [], "blocked": []}


def test_plugins_text_report(capsys):
    status, out, _ = run(capsys, "plugins", "--no-autoload")
    assert status == 0
    assert out.startswith("Plugins:\n")
    assert "Backends:" in out


def test_every_command_has_help(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as caught:
            main([name, "--help"])
        assert caught.value.code == 0
        assert "usage: cloudtty" in capsys.readouterr().out


def test_console_script_runs(tmp_path):
    script = Path(sys.executable).parent / "cloudtty"
    done = subprocess.run(
        [str(script), "validate", str(EXAMPLES[0])], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "1 CloudShells valid" in done.stderr
