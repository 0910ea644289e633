"""``cloudtty shell``, ``ls`` and ``rm``: the CloudShell they create, the URL they print, the
table they show, and the one-line errors when the CRD or the operator is missing."""

from __future__ import annotations

import re
import shlex
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudtty_core.cli import main
from cloudtty_core.cli.ls import format_table, rows
from cloudtty_core.cli.sandboxdemo import Demo, DemoOptions
from cloudtty_core.cli.shell import build_manifest, register
from cloudtty_core.cli.shells import (
    access_login_url,
    exec_command,
    format_age,
    logs_command,
    parse_duration,
    summarize_status,
)
from cloudtty_core.crd import crd_manifest

# Pure parts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("2d", 172800)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1x", "1.5h", "-5m", "0", "m5"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(ValueError, match="--ttl"):
        parse_duration(text, "--ttl")


NAMES = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30)


@given(pod=NAMES, namespace=NAMES, container=st.none() | NAMES)
def test_exec_and_logs_commands_quote_what_they_are_given(
    pod: str, namespace: str, container: str | None
) -> None:
    argv = shlex.split(exec_command(pod, namespace, container))
    expected = ["kubectl", "exec", "-it", "-n", namespace, pod]
    expected += ["-c", container] if container else []
    assert argv[: len(expected) + 1] == [*expected, "--"]
    assert argv[len(expected) + 1 : len(expected) + 3] == ["sh", "-c"]
    logs = ["kubectl", "logs", "-f", "-n", namespace, pod]
    assert shlex.split(logs_command(pod, namespace, container)) == logs + (
        ["-c", container] if container else []
    )


def parse(*argv: str) -> Any:
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    register(sub)
    return parser.parse_args(["shell", *argv])


def test_the_manifest_the_options_describe() -> None:
    args = parse("--exec", "web-0", "-c", "app", "--ttl", "1h", "--expose", "Ingress")
    shell = build_manifest(args, "team-a")
    assert shell["metadata"] == {"namespace": "team-a", "generateName": "shell-"}
    spec = shell["spec"]
    assert shlex.split(spec["commandAction"])[:9] == [
        "kubectl", "exec", "-it", "-n", "team-a", "web-0", "-c", "app", "--",
    ]  # fmt: skip
    assert spec["ttlSecondsAfterStarted"] == 3600
    assert spec["exposureMode"] == "Ingress"
    assert spec["auth"] == {"mode": "token"}
    plain = build_manifest(parse("--name", "mine", "--auth", "none", "--once"), "default")
    assert plain["metadata"] == {"namespace": "default", "name": "mine"}
    assert plain["spec"] == {"commandAction": "bash", "auth": {"mode": "none"}, "once": True}
    with pytest.raises(ValueError, match="-c/--container goes with --exec or --logs"):
        build_manifest(parse("-c", "app"), "default")
    with pytest.raises(ValueError, match="--auth basic needs --auth-secret"):
        build_manifest(parse("--auth", "basic"), "default")


def test_exec_and_logs_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["shell", "--exec", "a", "--logs", "b"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_ages_and_status_lines() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    stamp = (now - timedelta(seconds=42)).isoformat().replace("+00:00", "Z")
    assert format_age(stamp, now) == "42s"
    assert format_age((now - timedelta(minutes=5)).isoformat(), now) == "5m"
    assert format_age((now - timedelta(hours=3)).isoformat(), now) == "3h"
    assert format_age((now - timedelta(days=4)).isoformat(), now) == "4d"
    assert format_age(None, now) == "<unknown>"
    shell = {
        "status": {
            "phase": "Provisioning",
            "conditions": [
                {"type": "Accepted", "status": "True"},
                {"type": "WorkerReady", "status": "False", "message": "pod pending"},
            ],
        }
    }
    assert summarize_status(shell) == "phase Provisioning: WorkerReady=False (pod pending)"
    assert summarize_status({}) == "phase no status yet"


def test_the_login_url_comes_from_the_access_secret_when_there_is_one() -> None:
    shell = {"status": {"accessUrl": "http://h/", "accessSecret": "s"}}
    secret = {"data": {"url": "aHR0cDovL2gvP3Rva2VuPXNlY3JldA=="}}  # http://h/?token=secret
    assert access_login_url(shell, secret) == "http://h/?token=secret"
    assert access_login_url(shell, None) is None
    assert access_login_url({"status": {"accessUrl": "http://h/"}}, None) == "http://h/"


def test_the_table_has_kubectls_columns() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    shell = {
        "metadata": {"name": "a", "namespace": "ns", "creationTimestamp": "2026-01-01T23:59:00Z"},
        "spec": {"commandAction": "bash", "exposureMode": "NodePort", "runAsUser": "root"},
        "status": {"phase": "Complete", "accessUrl": ""},
    }
    table = rows([shell], all_namespaces=True, now=now)
    assert table == [
        ["NAMESPACE", "NAME", "USER", "COMMAND", "TYPE", "URL", "PHASE", "AGE"],
        ["ns", "a", "root", "bash", "NodePort", "", "Completed", "60s"],
    ]
    text = format_table(rows([shell], all_namespaces=False, now=now))
    assert text.splitlines()[0].split() == [
        "NAME",
        "USER",
        "COMMAND",
        "TYPE",
        "URL",
        "PHASE",
        "AGE",
    ]


# Against a cluster ---------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_without_the_crd_every_command_says_so_in_one_line(
    sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = str(sandbox.kubeconfig_path)
    for argv in (["shell"], ["ls"], ["rm", "x"]):
        status, out, err = run(capsys, *argv, "--kubeconfig", kubeconfig)
        assert status == 1
        assert err == (
            "cloudtty: error: the CloudShell CRD is not installed in this cluster: run "
            "`cloudtty manifests | kubectl apply -f -` (operator and CRD) or "
            "`cloudtty crd | kubectl apply -f -` (CRD only)\n"
        )
        assert out == ""


def test_without_an_operator_the_timeout_names_the_phase_and_the_operator(
    sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.kubectl("create", "-f", "-", input=__import__("json").dumps(crd_manifest()))
    kubeconfig = str(sandbox.kubeconfig_path)
    status, out, err = run(
        capsys, "shell", "--name", "lonely", "--timeout", "1s", "--kubeconfig", kubeconfig
    )
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(
        "cloudtty: error: CloudShell default/lonely is not Ready after 1s (phase no status yet); "
        "is the operator running?"
    )


def test_an_unreachable_cluster_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    status, _, err = run(capsys, "ls", "--kubeconfig", str(missing))
    assert status == 2
    assert err.startswith("cloudtty: error: cannot load the cluster configuration")
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def running_demo() -> Iterator[Demo]:
    with Demo(DemoOptions(sample_shell=False, min_idle=1)) as demo:
        yield demo


def http_get(url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(url, timeout=10) as response:
        return int(response.status), response.read().decode()


@pytest.mark.slow
def test_shell_ls_rm_against_a_running_operator(
    running_demo: Demo, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = str(running_demo.kubeconfig_path)
    status, out, err = run(
        capsys, "shell", "--name", "mine", "--ttl", "1h", "--kubeconfig", kubeconfig
    )
    assert status == 0, err
    url = out.strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]{22,}", url)
    assert "CloudShell default/mine is Ready. Login URL:" in err
    code, page = http_get(url)
    assert code == 200
    assert "<html" in page.lower()
    assert running_demo.cluster is not None
    shell = running_demo.cluster.get("default", "mine")
    assert shell is not None
    assert shell["spec"]["ttlSecondsAfterStarted"] == 3600
    assert shell["spec"]["auth"] == {"mode": "token"}

    status, out, _ = run(capsys, "ls", "--kubeconfig", kubeconfig)
    assert status == 0
    header, line = out.splitlines()
    assert header.split() == ["NAME", "USER", "COMMAND", "TYPE", "URL", "PHASE", "AGE"]
    assert line.split()[:5] == ["mine", "bash", "NodePort", url.split("?")[0], "Ready"]
    status, out, _ = run(capsys, "ls", "-A", "--kubeconfig", kubeconfig)
    assert out.splitlines()[1].split()[:2] == ["default", "mine"]
    # kubectl shows the same columns.
    kubectl = running_demo.sandbox.kubectl("get", "cloudshells").stdout
    assert kubectl.splitlines()[1].split()[:5] == line.split()[:5]

    status, out, err = run(capsys, "rm", "mine", "gone", "--wait", "--kubeconfig", kubeconfig)
    assert status == 1
    assert out == 'cloudshell.cloudshell.cloudtty.io "mine" deleted\n'
    assert err == 'cloudtty: error: cloudshell "gone" not found in namespace default\n'
    assert running_demo.cluster.get("default", "mine") is None
    status, out, err = run(capsys, "ls", "--kubeconfig", kubeconfig)
    assert (status, out, err) == (0, "", "No resources found in default namespace.\n")


@pytest.mark.slow
def test_a_shell_that_fails_is_reported_with_its_condition(
    running_demo: Demo, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = str(running_demo.kubeconfig_path)
    status, out, err = run(
        capsys,
        "shell",
        "--name",
        "broken",
        "--expose",
        "NoSuchExposure",
        "--kubeconfig",
        kubeconfig,
    )
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("cloudtty: error: CloudShell default/broken ended: phase Failed")
    assert "NoSuchExposure" in err
    run(capsys, "rm", "broken", "--kubeconfig", kubeconfig)
