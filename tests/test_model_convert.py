"""The model reads CloudTTY manifests unchanged and writes camelCase Kubernetes JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest
import yaml

import cloudtty_core
from cloudtty_core import (
    API_VERSION,
    CloudShell,
    CloudShellSpec,
    CloudShellStatus,
    Condition,
    EnvVar,
    Event,
    IllegalTransition,
    InvalidShell,
    ObjectMeta,
    Phase,
    Problem,
    shell_from_dict,
    shell_to_dict,
    status_to_dict,
)
from cloudtty_core.model import converter, format_time, parse_time

DATA = Path(__file__).parent / "data" / "examples"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "examples"


def load(name: str) -> dict:
    return yaml.safe_load((DATA / name).read_text())


def test_kept_examples_are_byte_identical_to_the_shared_ones():
    if not SHARED.is_dir():
        pytest.skip("the shared examples folder is not next to the repository")
    shared = sorted(p.name for p in SHARED.glob("*.yaml"))
    assert shared == sorted(p.name for p in DATA.glob("*.yaml"))
    for name in shared:
        assert (DATA / name).read_bytes() == (SHARED / name).read_bytes(), name


def test_nodeport_example_reads_as_written():
    shell = shell_from_dict(load("cloudshell-nodeport.yaml"))
    assert shell.name == "cloudshell-sample"
    assert shell.namespace == "default"
    spec = shell.spec
    assert spec.configmap_name == "my-kubeconfig"
    assert spec.command_action == "bash"
    assert spec.ttl == 100
    assert spec.effective_ttl_seconds() == 100
    assert (spec.once, spec.cleanup) == (False, True)
    assert spec.exposure_mode == "NodePort"
    assert spec.auth.mode == "none"
    assert spec.image_backend == "webterm"


def test_ingress_example_reads_as_written():
    shell = shell_from_dict(load("cloudshell-ingress.yaml"))
    assert shell.namespace == "cloudtty-system"
    assert shell.spec.run_as_user == "root"
    assert shell.spec.run_as_uid() == 0
    assert shell.spec.path_prefix == "/apis/cloudtty.io/"
    ingress = shell.spec.ingress_config
    assert ingress is not None
    assert ingress.ingress_name == "cloudshell-ingress-demo"
    assert ingress.namespace == "cloudtty-system"
    assert ingress.ingress_class_name == "nginx"


def test_virtualservice_example_keeps_export_to_in_snake_case():
    raw = load("cloudshell-virtualservice.yaml")
    shell = shell_from_dict(raw)
    vs = shell.spec.virtual_service_config
    assert vs is not None
    assert vs.gateway == "istio-system/istio-gateway"
    assert vs.export_to == "istio-system"
    written = shell_to_dict(shell)["spec"]["virtualServiceConfig"]
    assert written == raw["spec"]["virtualServiceConfig"]
    assert "exportTo" not in written


@pytest.mark.parametrize(
    "name",
    ["cloudshell-nodeport.yaml", "cloudshell-ingress.yaml", "cloudshell-virtualservice.yaml"],
)
def test_writing_an_example_keeps_every_field_the_user_wrote(name):
    raw = load(name)
    written = shell_to_dict(shell_from_dict(raw))
    assert written["apiVersion"] == API_VERSION
    assert written["kind"] == "CloudShell"
    for key, value in raw["spec"].items():
        assert written["spec"][key] == value, key
    assert {k: v for k, v in written["metadata"].items() if k in raw["metadata"]} == raw["metadata"]


def test_writing_fills_in_defaults_like_the_crd_does():
    written = shell_to_dict(shell_from_dict(load("cloudshell-nodeport.yaml")))["spec"]
    assert written["auth"] == {"mode": "none"}
    assert written["imageBackend"] == "webterm"
    assert written["urlArg"] is False
    assert "env" not in written  # empty lists stay absent
    assert "runAsUser" not in written  # absent optional values stay absent


def test_model_is_frozen():
    shell = shell_from_dict(load("cloudshell-nodeport.yaml"))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        shell.spec.ttl = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "uid"), [("root", 0), ("0", 0), ("1000", 1000), (1000, 1000), (None, None)]
)
def test_run_as_user_accepts_text_and_numbers(value, uid):
    spec = CloudShellSpec(run_as_user=value)
    assert spec.run_as_uid() == uid


@pytest.mark.parametrize(
    ("ttl", "after_started", "expected"),
    [(None, None, None), (100, None, 100), (0, None, None), (100, 30, 30), (None, 0, 0)],
)
def test_effective_ttl(ttl, after_started, expected):
    spec = CloudShellSpec(ttl=ttl, ttl_seconds_after_started=after_started)
    assert spec.effective_ttl_seconds() == expected


@pytest.mark.parametrize("upstream", ["Complete", "Completed"])
def test_upstream_complete_phase_reads_as_completed(upstream):
    raw = load("cloudshell-nodeport.yaml") | {"status": {"phase": upstream, "accessUrl": "x"}}
    shell = shell_from_dict(raw)
    assert shell.status.phase is Phase.COMPLETED
    assert shell_to_dict(shell)["status"]["phase"] == "Completed"


@pytest.mark.parametrize("upstream", ["CreatedJob", "CreatedRouteRule"])
def test_upstream_intermediate_phases_read_as_provisioning(upstream):
    assert Phase(upstream) is Phase.PROVISIONING


def test_status_to_dict_is_camel_case_and_leaves_out_absent_values():
    when = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    status = CloudShellStatus(
        phase=Phase.READY,
        access_url="http://10.0.0.1:30001/",
        last_schedule_time=when,
        observed_generation=3,
        conditions=(Condition("Ready", "True", "RouteReady", "ok", when, 3),),
        worker="cloudshell-worker-abc",
    )
    assert status_to_dict(status) == {
        "phase": "Ready",
        "accessUrl": "http://10.0.0.1:30001/",
        "lastScheduleTime": "2024-05-01T10:00:00Z",
        "observedGeneration": 3,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "RouteReady",
                "message": "ok",
                "lastTransitionTime": "2024-05-01T10:00:00Z",
                "observedGeneration": 3,
            }
        ],
        "worker": "cloudshell-worker-abc",
    }


def test_written_json_holds_only_plain_json_types():
    raw = load("cloudshell-nodeport.yaml") | {"status": {"phase": "Complete"}}
    written = shell_to_dict(shell_from_dict(raw))
    assert type(written["status"]["phase"]) is str
    assert yaml.safe_load(yaml.safe_dump(written)) == written  # safe_dump refuses enum objects


def test_server_metadata_is_read_and_written_only_when_set():
    raw = load("cloudshell-nodeport.yaml")
    raw["metadata"] |= {
        "uid": "1234",
        "resourceVersion": "42",
        "generation": 2,
        "creationTimestamp": "2024-05-01T10:00:00Z",
        "deletionTimestamp": "2024-05-01T11:00:00Z",
        "finalizers": ["cloudshell.cloudtty.io/finalizer"],
        "managedFields": [{"manager": "kubectl"}],
        "ownerReferences": [
            {"apiVersion": "v1", "kind": "Namespace", "name": "default", "uid": "9"}
        ],
    }
    shell = shell_from_dict(raw)
    assert shell.metadata.generation == 2
    assert shell.metadata.deletion_timestamp == datetime(2024, 5, 1, 11, tzinfo=UTC)
    assert shell.metadata.owner_references[0].kind == "Namespace"
    written = shell_to_dict(shell)["metadata"]
    assert written["resourceVersion"] == "42"
    assert written["finalizers"] == ["cloudshell.cloudtty.io/finalizer"]
    assert "managedFields" not in written  # server bookkeeping the operator never writes back
    fresh = shell_to_dict(CloudShell(ObjectMeta("x")))["metadata"]
    assert fresh == {"name": "x", "namespace": "default"}


def test_times_are_written_as_kubernetes_does():
    assert format_time(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2024-01-02T03:04:05Z"
    cest = timezone(timedelta(hours=2))
    assert format_time(datetime(2024, 1, 2, 5, 4, 5, tzinfo=cest)) == "2024-01-02T03:04:05Z"
    assert format_time(datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)).endswith("05.120000Z")
    assert parse_time("2024-01-02T03:04:05+02:00") == datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone"):
        parse_time("2024-01-02T03:04:05")


def test_invalid_shell_carries_every_problem():
    raw = load("cloudshell-ingress.yaml")
    raw["spec"]["ttl"] = -1
    raw["spec"]["ingressConfig"]["host"] = "Not A Host"
    with pytest.raises(InvalidShell) as caught:
        shell_from_dict(raw)
    assert caught.value.problems == (
        Problem("spec.ttl", "must be at least 0"),
        Problem(
            "spec.ingressConfig.host",
            "must be a DNS-1123 host name, optionally starting with '*.'",
        ),
    )
    assert "spec.ttl: must be at least 0" in str(caught.value)


def test_converter_structures_nested_lists():
    spec = converter.structure({"env": [{"name": "A", "value": "1"}]}, CloudShellSpec)
    assert spec.env == (EnvVar("A", "1"),)


def test_status_after_event_keeps_the_url_only_while_ready():
    status = CloudShellStatus().after(Event.SPEC_ACCEPTED).after(Event.WORKER_BOUND)
    assert status.phase is Phase.PROVISIONING
    with pytest.raises(IllegalTransition, match="access URL"):
        status.after(Event.ROUTE_READY)
    ready = status.after(Event.ROUTE_READY, access_url="http://h/")
    assert (ready.phase, ready.access_url) == (Phase.READY, "http://h/")
    assert ready.after(Event.WORKER_BOUND).access_url == "http://h/"
    lost = ready.after(Event.WORKER_LOST)
    assert (lost.phase, lost.access_url) == (Phase.PROVISIONING, None)
    done = ready.after(Event.IDLE_TIMEOUT)
    assert (done.phase, done.access_url) == (Phase.COMPLETED, None)
    assert done.after(Event.ROUTE_READY, access_url="http://h/") == done


def test_with_condition_keeps_transition_time_while_status_is_unchanged():
    t1 = datetime(2024, 1, 1, tzinfo=UTC)
    t2 = t1 + timedelta(minutes=5)
    status = CloudShellStatus().with_condition(Condition("Ready", "False", "Waiting", "", t1))
    same = status.with_condition(Condition("Ready", "False", "StillWaiting", "", t2))
    assert same.conditions == (Condition("Ready", "False", "StillWaiting", "", t1),)
    changed = same.with_condition(Condition("Ready", "True", "RouteReady", "", t2))
    assert changed.conditions[0].last_transition_time == t2
    both = changed.with_condition(Condition("WorkerBound", "True", "Bound", "", t2))
    assert [c.type for c in both.conditions] == ["Ready", "WorkerBound"]
    assert both.condition("WorkerBound") is not None
    assert both.condition("Nope") is None


def test_facade_exports_the_model():
    for name in ("CloudShell", "shell_from_dict", "validate_shell", "transition", "Phase"):
        assert name in cloudtty_core.__all__
        assert hasattr(cloudtty_core, name)
