"""The operator drives CloudShells through their life cycle on the sandbox cluster (official
client, real HTTP): Pending -> Provisioning -> Ready -> Completed, Failed for bad specs and
missing backends, a missing kubeconfig Secret, ttl and cleanup, once, and deletion."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from cloudtty_core import OperatorSettings
from cloudtty_core.runtime.client import Resource
from cloudtty_core.runtime.testing import COLD_IMAGE, OperatorHarness, wait_for
from cloudtty_core.testing import TEST_KUBECONFIG

pytest.importorskip("kubernetes")
sandbox_module = pytest.importorskip("cloudtty_sandbox")

EVENTS = Resource("events.k8s.io/v1", "Event", "events")
SECRETS = Resource("v1", "Secret", "secrets")
PODS = Resource("v1", "Pod", "pods")
SERVICES = Resource("v1", "Service", "services")
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings")


@pytest.fixture
def sandbox_config() -> Any:
    # Pods are simulated (no local process): a shell is Ready as soon as its pod is.
    return sandbox_module.SandboxConfig(
        pod_start_delay=0.05, bookmark_interval=0.5, local_images={}
    )


@pytest.fixture
def harness(sandbox: Any) -> Iterator[OperatorHarness]:
    settings = OperatorSettings(cluster_server=sandbox.url, cluster_role="cloudtty-shell")
    with OperatorHarness(sandbox.url, sandbox.admin_token, settings=settings) as running:
        yield running


def events_of(harness: OperatorHarness, name: str) -> list[dict[str, Any]]:
    return [
        e
        for e in harness.items(EVENTS, "default")
        if (e.get("regarding") or {}).get("name") == name
    ]


def reasons_of(harness: OperatorHarness, name: str) -> set[str]:
    return {str(e["reason"]) for e in events_of(harness, name)}


def kubeconfig_secret(name: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"config": base64.b64encode(TEST_KUBECONFIG.encode()).decode()},
    }


def test_a_shell_goes_from_pending_through_provisioning_to_ready_and_completed(
    sandbox: Any,
) -> None:
    harness = OperatorHarness(sandbox.url, sandbox.admin_token)
    harness.install_crd()
    # Before any operator runs, a new shell has no status: it reads as Pending.
    harness.create_shell("walk", secretRef={"name": "walk-kubeconfig"}, ttl=2)
    assert not (harness.shell("walk") or {}).get("status")
    with harness:
        # Its kubeconfig Secret is missing: accepted, provisioning, waiting with a reason.
        shell = harness.wait_phase("walk", "Provisioning")
        waiting = harness.condition(shell, "KubeconfigReady")
        assert waiting is not None
        assert waiting["status"] == "False"
        ready = harness.condition(shell, "Ready")
        assert ready is not None
        assert ready["status"] == "False"
        assert not shell["status"].get("accessUrl")

        harness.client.create(kubeconfig_secret("walk-kubeconfig"))
        shell = harness.wait_phase("walk", "Ready")
        status = shell["status"]
        assert status["accessUrl"].startswith("http://127.0.0.1:")
        assert status["observedGeneration"] == shell["metadata"]["generation"]
        assert {c["type"]: c["status"] for c in status["conditions"]} == {
            "Accepted": "True",
            "KubeconfigReady": "True",
            "AuthReady": "True",
            "WorkerReady": "True",
            "RouteReady": "True",
            "Ready": "True",
        }

        # The ttl (counted from lastScheduleTime) ends it.
        shell = harness.wait_phase("walk", "Completed")
        assert shell["status"].get("accessUrl") is None
        events = wait_for(
            lambda: {"SpecAccepted", "RouteReady", "TTLExpired"} <= reasons_of(harness, "walk"),
            what="an Event for every phase change",
        )
        assert events


def test_missing_kubeconfig_secret_is_named_and_the_shell_becomes_ready_once_it_appears(
    harness: OperatorHarness,
) -> None:
    harness.create_shell("waits", secretRef={"name": "team-kubeconfig"})

    def waiting() -> dict[str, Any] | None:
        shell = harness.shell("waits")
        condition = harness.condition(shell or {}, "KubeconfigReady")
        return condition if condition and condition["status"] == "False" else None

    condition = wait_for(waiting, what="KubeconfigReady=False")
    assert condition["reason"] == "KubeconfigNotFound"
    assert "Secret default/team-kubeconfig" in condition["message"]
    shell = harness.shell("waits")
    assert shell is not None
    assert shell["status"]["phase"] != "Ready"
    wait_for(lambda: "KubeconfigNotFound" in reasons_of(harness, "waits"), what="a Warning event")

    harness.client.create(kubeconfig_secret("team-kubeconfig"))
    shell = harness.wait_phase("waits", "Ready")
    assert harness.condition(shell, "KubeconfigReady")["status"] == "True"  # type: ignore[index]


def test_an_invalid_spec_fails_with_a_condition_naming_every_problem(
    harness: OperatorHarness,
) -> None:
    # Both pass the CRD schema; only the operator's validation catches them.
    harness.create_shell(
        "bad",
        secretRef={"name": "a"},
        configmapName="b",
        env=[{"name": "A", "value": "1"}, {"name": "A", "value": "2"}],
    )
    shell = harness.wait_phase("bad", "Failed")
    accepted = harness.condition(shell, "Accepted")
    assert accepted is not None
    assert accepted["status"] == "False"
    assert accepted["reason"] == "SpecInvalid"
    assert "spec.env[1].name: duplicate name 'A'" in accepted["message"]
    assert "spec: set either configmapName or secretRef, not both" in accepted["message"]
    assert harness.items(PODS, "default", {"cloudtty.io/shell": "bad"}) == []
    warning = wait_for(
        lambda: [e for e in events_of(harness, "bad") if e["type"] == "Warning"],
        what="a Warning event",
    )
    assert any("duplicate name" in e["note"] for e in warning)


def test_the_shells_per_phase_metric_follows_the_shells(harness: OperatorHarness) -> None:
    assert harness.running is not None

    def by_phase() -> dict[str, int]:
        assert harness.running is not None
        return dict(harness.running.call(harness.running.operator.controller.shells_by_phase))

    harness.client.create(kubeconfig_secret("team-kubeconfig"))
    harness.create_shell("fine", exposureMode="ClusterIP", secretRef={"name": "team-kubeconfig"})
    harness.create_shell("broken", imageBackend="ttyd")
    harness.wait_phase("fine", "Ready")
    harness.wait_phase("broken", "Failed")
    assert by_phase() == {"Ready": 1, "Failed": 1}
    harness.delete_shell("fine")
    harness.wait_gone("fine")
    wait_for(lambda: by_phase() == {"Failed": 1}, what="the deleted shell no longer counted")


def test_a_backend_that_is_not_installed_fails_naming_the_distribution(
    harness: OperatorHarness,
) -> None:
    # The harness blocks the real image plugins: ttyd is not installed as far as it knows.
    assert "cloudtty-ttyd" in harness.runtime_config().blocked_plugins
    harness.create_shell("no-ttyd", imageBackend="ttyd")
    shell = harness.wait_phase("no-ttyd", "Failed")
    accepted = harness.condition(shell, "Accepted")
    assert accepted is not None
    assert accepted["reason"] == "BackendNotInstalled"
    assert "pip install cloudtty-ttyd" in accepted["message"]
    assert harness.items(PODS, "default", {"cloudtty.io/shell": "no-ttyd"}) == []


def test_ttl_completes_the_shell_and_removes_its_worker_and_route(
    harness: OperatorHarness,
) -> None:
    harness.create_shell("brief", ttlSecondsAfterStarted=1)
    ready = harness.wait_phase("brief", "Ready")
    worker = ready["status"]["worker"]
    uid = ready["metadata"]["uid"]
    shell = harness.wait_phase("brief", "Completed")
    status = shell["status"]
    assert status.get("worker") is None
    assert status.get("accessUrl") is None
    started, expires = status["lastScheduleTime"], status["expiresAt"]
    assert started < expires
    wait_for(lambda: harness.made_for(uid) == [], what="worker, Service and Secrets removed")
    names = [p["metadata"]["name"] for p in harness.items(PODS, "default")]
    assert worker not in names or all(
        p["metadata"].get("deletionTimestamp")
        for p in harness.items(PODS, "default")
        if p["metadata"]["name"] == worker
    )
    assert harness.shell("brief") is not None  # no cleanup asked: the record stays


def test_ttl_with_cleanup_deletes_the_cloudshell(harness: OperatorHarness) -> None:
    harness.create_shell("tidy", ttlSecondsAfterStarted=1, cleanup=True)
    uid = harness.wait_phase("tidy", "Ready")["metadata"]["uid"]
    harness.wait_gone("tidy")
    wait_for(lambda: harness.made_for(uid) == [], what="nothing left of the shell")


def test_a_once_shell_completes_when_its_session_ends(
    harness: OperatorHarness, sandbox: Any
) -> None:
    harness.create_shell("single", once=True)
    shell = harness.wait_phase("single", "Ready")
    worker = shell["status"]["worker"]
    # The terminal server exits 0 writing "once" when its one client leaves.
    assert sandbox.exit_container("default", worker, 0, "once")
    shell = harness.wait_phase("single", "Completed")
    # The ending is recorded first; the next pass releases the worker.
    wait_for(
        lambda: not ((harness.shell("single") or {}).get("status") or {}).get("worker"),
        what="the worker released from the status",
    )
    wait_for(lambda: "SessionEnded" in reasons_of(harness, "single"), what="SessionEnded event")
    wait_for(
        lambda: harness.made_for(shell["metadata"]["uid"]) == [],
        what="the ended worker deleted, never reused",
    )


def test_deleting_a_shell_leaves_nothing(harness: OperatorHarness, sandbox: Any) -> None:
    harness.create_shell("gone", auth={"mode": "token"})
    shell = harness.wait_phase("gone", "Ready")
    uid = shell["metadata"]["uid"]
    made = harness.made_for(uid)
    kinds = {kind for kind, _ in made}
    assert {"Pod", "Service", "Secret", "ServiceAccount", "RoleBinding"} <= kinds
    # Everything it made is owned by it: garbage collection removes it, no finalizer needed.
    assert not shell["metadata"].get("finalizers")

    harness.delete_shell("gone")
    harness.wait_gone("gone")
    wait_for(lambda: harness.made_for(uid) == [], what="everything labelled for the shell gone")
    wait_for(lambda: harness.owned_by(uid) == [], what="everything owned by the shell gone")
    assert sandbox.orphans() == []


def test_the_generated_kubeconfig_is_the_shells_own_service_account_never_the_operators(
    harness: OperatorHarness, sandbox: Any
) -> None:
    harness.create_shell("mine")
    shell = harness.wait_phase("mine", "Ready")
    secret_name = shell["status"]["kubeconfigSecret"]
    secret = harness.client.get(SECRETS, "default", secret_name)
    assert secret["metadata"]["ownerReferences"][0]["uid"] == shell["metadata"]["uid"]
    config = yaml.safe_load(base64.b64decode(secret["data"]["config"]))
    assert config["clusters"][0]["cluster"]["server"] == sandbox.url
    token = config["users"][0]["user"]["token"]
    assert token != sandbox.admin_token
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    account = "cloudshell-mine"
    assert claims["sub"] == f"system:serviceaccount:default:{account}"
    binding = harness.client.get(ROLE_BINDINGS, "default", account)
    assert binding["roleRef"]["name"] == "cloudtty-shell"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": "default"}
    ]

    # The credential appears nowhere but in that Secret.
    exposed = json.dumps({"shell": harness.shell("mine"), "events": events_of(harness, "mine")})
    assert token not in exposed
    assert sandbox.admin_token not in exposed
    for pod in harness.items(PODS, "default"):
        assert token not in json.dumps(pod["spec"])


def test_the_status_is_written_only_when_something_changed(
    harness: OperatorHarness, sandbox: Any
) -> None:
    harness.create_shell("calm")
    shell = harness.wait_phase("calm", "Ready")
    # The pool replaces the worker the shell took, in passes of its own: let it finish.
    wait_for(
        lambda: any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for p in harness.idle_workers()
            for c in (p.get("status") or {}).get("conditions") or ()
        ),
        what="the pool refilled",
    )
    wait_for(lambda: harness.stats()["queueDepth"] == 0, what="the queue drained")
    before = harness.stats()["writes"]
    version = shell["metadata"]["resourceVersion"]
    # Bookmarks and idle watches go by; nothing about the shell changes.
    sandbox.close_watches()
    wait_for(
        lambda: all(i["watches"] >= 2 for i in harness.stats()["informers"].values()),
        what="every watch resumed",
    )
    assert harness.stats()["writes"] == before
    current = harness.shell("calm")
    assert current is not None
    assert current["metadata"]["resourceVersion"] == version


def test_a_cold_image_backend_gets_one_pod_per_shell_with_the_kubeconfig_mounted(
    harness: OperatorHarness,
) -> None:
    harness.client.create(kubeconfig_secret("cold-kubeconfig"))
    harness.create_shell("cold", imageBackend=COLD_IMAGE, secretRef={"name": "cold-kubeconfig"})
    shell = harness.wait_phase("cold", "Ready")
    pod = harness.client.get(PODS, "default", shell["status"]["worker"])
    volumes = pod["spec"]["volumes"]
    assert {"name": "kubeconfig", "secret": {"secretName": "cold-kubeconfig"}} in volumes
    mounts = pod["spec"]["containers"][0]["volumeMounts"]
    assert all(m.get("readOnly") for m in mounts if m["name"] == "kubeconfig")
    assert pod["metadata"]["ownerReferences"][0]["uid"] == shell["metadata"]["uid"]
    assert "session.json" not in json.dumps(harness.items(SECRETS, "default"))
    # A backend that cannot start warm has no pool.
    idle = harness.idle_workers("default")
    assert all(p["spec"]["containers"][0]["image"] != "example.org/cold-terminal:1" for p in idle)
