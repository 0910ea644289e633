"""The ``webterm`` image backend: its objects, its registration, and its session inside the
real planner, read back by the terminal server's own worker code."""

from __future__ import annotations

import datetime as dt
import json
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import cloudtty_webterm.plugin
import pytest
from cloudtty_webterm.backend import WebtermBackend, client_options
from cloudtty_webterm.config import ServerConfig, apply_session
from cloudtty_webterm.worker import session_config, session_from_secret

from cloudtty_core import (
    OperatorSettings,
    PlanContext,
    PoolKey,
    SessionRequest,
    Snapshot,
    WorkerRef,
    WorkerRequest,
    load_plugins,
    shell_from_dict,
)
from cloudtty_core.testing import (
    FakeAuthBackend,
    FakeExposureBackend,
    check_manifest,
    cloudshell,
    converge,
    create,
    fill_pool,
    kubeconfig_secret,
    shell_ref,
)

BACKEND = WebtermBackend()
SETTINGS = OperatorSettings()


def named(manifest: dict[str, Any], name: str = "cloudtty-webterm-x1") -> dict[str, Any]:
    """The object as the planner creates it (the planner sets the name)."""
    return {**manifest, "metadata": {**manifest["metadata"], "name": name}}


def test_registered_through_the_cloudtty_entry_point_group() -> None:
    assert "cloudtty_webterm.plugin" in {ep.value for ep in entry_points(group="cloudtty")}
    loaded = load_plugins(autoload=False, extra=[("webterm", cloudtty_webterm.plugin)])
    assert not loaded.failures
    image = loaded.registry.image("webterm")
    assert image.supports_warm_pool
    assert image.supported_auth == {"none", "basic", "token", "header"}
    assert image.default_image.startswith("ghcr.io/cloudtty-py/webterm:")


def test_worker_pod_is_restricted_and_follows_the_worker_contract() -> None:
    pod = named(BACKEND.worker_pod(WorkerRequest(PoolKey("team-a", "webterm", "img:1"), SETTINGS)))
    check_manifest(pod)
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert "serviceAccountName" not in spec  # each worker's own account comes from the planner
    assert spec["securityContext"]["runAsNonRoot"] is True
    [container] = spec["containers"]
    assert container["image"] == "img:1"
    assert container["args"] == ["worker"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    env = {e["name"]: e for e in container["env"]}
    assert env["CLOUDTTY_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["CLOUDTTY_POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.namespace"
    )
    assert env["CLOUDTTY_BIND_ADDRESS"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {env["HOME"]["value"], "/tmp"} <= mounts  # writable places on a read-only root
    assert {v["name"] for v in spec["volumes"] if "emptyDir" in v} == {"home", "tmp"}
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["ports"][0]["containerPort"] == BACKEND.port
    # Nothing secret ever reaches the pod spec.
    assert "session" not in json.dumps(pod).lower()


def session_request(**spec: Any) -> SessionRequest:
    shell = shell_from_dict(cloudshell("alice", "team-a", **spec))
    worker = WorkerRef("w-1", "team-a", 7681, "cloudtty-alice", {"cloudtty.io/shell": "alice"})
    return SessionRequest(
        shell=shell,
        worker=worker,
        secret_name="w-1-session",
        kubeconfig="apiVersion: v1\nkind: Config\n",
        command=("kubectl", "exec", "-it", "web-0", "--", "sh"),
        auth={"mode": "token", "tokenSha256": "a" * 64},
        base_path="/team-a/alice/",
        expires_at=dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        settings=SETTINGS,
    )


def test_session_secret_is_what_the_worker_reads() -> None:
    request = session_request(
        once=True,
        readOnly=True,
        idleTimeoutSeconds=900,
        ttydClientOptions={"fontSize": "16", "rendererType": "canvas", "cursorBlink": "maybe"},
    )
    secret = BACKEND.session(request)
    check_manifest(secret)
    assert secret["metadata"] == {"name": "w-1-session", "namespace": "team-a"}
    spec = session_from_secret(secret)
    assert spec is not None
    config = apply_session(ServerConfig(), spec)
    config.validate("session")
    assert config.command == ("kubectl", "exec", "-it", "web-0", "--", "sh")
    assert config.base_path == "/team-a/alice/"
    assert config.once is True
    assert config.read_only is True
    assert config.idle_timeout == 900
    assert config.expires_at == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert config.auth.mode == "token"
    assert config.client_options == {"fontSize": 16}  # ttyd-only and malformed ones dropped
    assert config.title == "team-a/alice"
    assert spec.kubeconfig == "apiVersion: v1\nkind: Config\n"


def test_spec_env_reaches_the_warm_workers_shell(tmp_path: Path) -> None:
    request = session_request(
        env=[
            {"name": "EDITOR", "value": "vim"},
            {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ]
    )
    spec = session_from_secret(BACKEND.session(request))
    assert spec is not None
    config = session_config(ServerConfig(), spec, tmp_path)
    assert config.child_env["EDITOR"] == "vim"
    assert "FROM_SECRET" not in config.child_env
    # The session's own HOME and kubeconfig win over anything the spec sets.
    assert config.child_env["HOME"].startswith(str(tmp_path))
    assert config.child_env["KUBECONFIG"].startswith(config.child_env["HOME"])


def test_client_options_are_typed_and_filtered() -> None:
    assert client_options(
        {"fontSize": "13.5", "cursorBlink": "true", "theme": '{"background": "#111"}'}
    ) == {"fontSize": 13.5, "cursorBlink": True, "theme": {"background": "#111"}}
    assert client_options({"enableZmodem": "true", "theme": "not json"}) == {}


def test_webterm_has_no_cold_pods() -> None:
    with pytest.raises(NotImplementedError, match="warm pool"):
        BACKEND.cold_pod(None)  # type: ignore[arg-type]


def test_a_shell_served_by_webterm_through_the_planner() -> None:
    loaded = load_plugins(autoload=False, extra=[("webterm", cloudtty_webterm.plugin)])
    registry = loaded.registry
    with registry.provided_by("cloudtty-core-testing"):
        registry.add_exposure(FakeExposureBackend())
        registry.add_auth(FakeAuthBackend("none"))
    context = PlanContext(registry, OperatorSettings(min_idle=1), token_source=lambda: "t" * 40)
    key = PoolKey("default", "webterm", BACKEND.default_image)
    snap = create(Snapshot.with_default_node(), kubeconfig_secret())
    snap = fill_pool(snap, key, context.settings, context.registry)
    [worker] = snap.list("v1", "Pod", "default")
    check_manifest(worker)
    spec = {"exposureMode": "Fake", "secretRef": {"name": "kubeconfig"}, "once": True}
    snap = create(snap, cloudshell("sh", **spec))
    done = converge(snap, [shell_ref("default", "sh")], context)
    shell = done.shell(shell_ref("default", "sh"))
    assert shell is not None
    assert shell["status"]["phase"] == "Ready"
    name = shell["status"]["worker"]
    assert name == worker["metadata"]["name"]  # the warm worker was claimed
    secret = done.snapshot.get("v1", "Secret", "default", f"{name}-session")
    assert secret is not None
    check_manifest(secret)
    session = session_from_secret(secret)
    assert session is not None
    assert session.once is True
    assert session.command == ("bash",)
    assert session.kubeconfig
