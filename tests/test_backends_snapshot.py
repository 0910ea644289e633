"""The pieces backends work with: Snapshot, names, helpers."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from cloudtty_core import (
    ClusterView,
    ExposureBackend,
    ImageBackend,
    ObjectMeta,
    ObjectRef,
    OperatorSettings,
    Snapshot,
    WorkerRef,
    decode_secret_value,
    dns_label,
    label_value,
    shell_command,
    shell_from_dict,
    worker_service,
)
from cloudtty_core.testing import FakeExposureBackend, FakeImageBackend, cloudshell

LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


def pod(name: str, ns: str = "default", **labels: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
    }


def test_snapshot_is_a_cluster_view_with_selectors_and_namespaces() -> None:
    snap = Snapshot.of(pod("b", app="x"), pod("a", app="x"), pod("c", "other", app="y"))
    assert isinstance(snap, ClusterView)
    assert [p["metadata"]["name"] for p in snap.list("v1", "Pod")] == ["a", "b", "c"]
    assert [p["metadata"]["name"] for p in snap.list("v1", "Pod", "default")] == ["a", "b"]
    assert [p["metadata"]["name"] for p in snap.list("v1", "Pod", None, {"app": "y"})] == ["c"]
    assert snap.get("v1", "Pod", "default", "zzz") is None
    assert snap.has_api("networking.k8s.io/v1", "Ingress")
    assert not snap.has_api("networking.istio.io/v1", "VirtualService")
    assert snap.with_apis(("networking.istio.io/v1", "VirtualService")).has_api(
        "networking.istio.io/v1", "VirtualService"
    )


def test_snapshot_cannot_be_changed_through_what_it_returns() -> None:
    snap = Snapshot.of(pod("a", app="x"))
    got = snap.get("v1", "Pod", "default", "a")
    assert got is not None
    got["metadata"]["labels"]["app"] = "changed"
    snap.list("v1", "Pod")[0]["metadata"]["name"] = "changed"
    assert snap.get("v1", "Pod", "default", "a") == pod("a", app="x")


def test_put_and_remove_make_new_snapshots() -> None:
    snap = Snapshot.of(pod("a"))
    bigger = snap.put(pod("b"))
    assert len(snap) == 1
    assert len(bigger) == 2
    assert len(bigger.remove(ObjectRef("v1", "Pod", "default", "a"))) == 1


def test_default_node_is_ready_with_an_external_ip() -> None:
    node = Snapshot.with_default_node(address="10.1.2.3").list("v1", "Node")[0]
    assert {"type": "ExternalIP", "address": "10.1.2.3"} in node["status"]["addresses"]


@given(st.text(min_size=1, max_size=300))
def test_dns_label_is_always_a_valid_label(text: str) -> None:
    assert LABEL.fullmatch(dns_label(text))


@given(st.text(alphabet="abc-", min_size=64, max_size=300))
def test_long_label_values_keep_distinct_names_distinct(text: str) -> None:
    assert len(label_value(text)) <= 63
    assert label_value(text) != label_value(text + "x")


def test_shell_command_splits_simple_commands_and_wraps_shell_syntax() -> None:
    def command(action: str) -> tuple[str, ...]:
        return shell_command(shell_from_dict(cloudshell("s", commandAction=action)))

    assert command("bash") == ("bash",)
    assert command("kubectl logs -f 'my pod'") == ("kubectl", "logs", "-f", "my pod")
    assert command("kubectl get pods | grep web") == ("bash", "-c", "kubectl get pods | grep web")


def test_worker_service_selects_the_worker() -> None:
    worker = WorkerRef("w-1", "ns", 7681, "cloudshell-s", {"cloudtty.io/shell": "s"})
    service = worker_service(worker, "NodePort")
    assert service["spec"]["selector"] == {"cloudtty.io/shell": "s"}
    assert service["spec"]["ports"][0]["targetPort"] == 7681
    assert service["spec"]["type"] == "NodePort"


def test_decode_secret_value_reads_data_and_string_data() -> None:
    assert decode_secret_value({"data": {"k": "aGk="}}, "k") == "hi"
    assert decode_secret_value({"stringData": {"k": "hi"}}, "k") == "hi"
    assert decode_secret_value({"data": {"k": "!!"}}, "k") is None
    assert decode_secret_value({"data": {}}, "k") is None


def test_fakes_satisfy_the_protocols_and_settings_pick_images() -> None:
    assert isinstance(FakeExposureBackend(), ExposureBackend)
    image = FakeImageBackend()
    assert isinstance(image, ImageBackend)
    settings = OperatorSettings(
        images={"fake": "registry.local/term:2"}, min_idle_per_namespace={"x": 3}
    )
    assert settings.image_for(image) == "registry.local/term:2"
    assert OperatorSettings().image_for(image) == image.default_image
    assert settings.min_idle_for("x") == 3
    assert settings.min_idle_for("y") == 1


def test_object_ref_of_a_manifest() -> None:
    ref = ObjectRef.of(pod("a", "ns"))
    assert ref == ObjectRef("v1", "Pod", "ns", "a")
    assert str(ref) == "Pod ns/a"
    assert ObjectMeta(name="x").namespace == "default"
