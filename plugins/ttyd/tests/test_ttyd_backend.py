"""The ``ttyd`` image backend: its cold pod, its flags, its registration, and a shell it serves
through the real planner."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import cloudtty_ttyd.plugin
import pytest
from cloudtty_ttyd import DEFAULT_IMAGE, TtydBackend, ttyd_args

from cloudtty_core import (
    AuthSetup,
    ColdPodRequest,
    KubeconfigSource,
    OperatorSettings,
    PlanContext,
    PoolKey,
    Snapshot,
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
    kubeconfig_secret,
    shell_ref,
)

BACKEND = TtydBackend()


def request(auth: str = "none", kind: str = "Secret", **spec: Any) -> ColdPodRequest:
    shell = shell_from_dict(cloudshell("alice", "team-a", **spec))
    return ColdPodRequest(
        shell=shell,
        image=DEFAULT_IMAGE,
        port=BACKEND.port,
        kubeconfig=KubeconfigSource(kind, "team-a", "alice-kubeconfig", "config"),
        auth=AuthSetup(mode=auth),
        base_path="/team-a/alice/",
        command=("bash",),
        settings=OperatorSettings(),
    )


def named(manifest: dict[str, Any]) -> dict[str, Any]:
    return {**manifest, "metadata": {**manifest["metadata"], "name": "cloudtty-alice-1"}}


def test_registered_through_the_cloudtty_entry_point_group() -> None:
    assert "cloudtty_ttyd.plugin" in {ep.value for ep in entry_points(group="cloudtty")}
    loaded = load_plugins(autoload=False, extra=[("ttyd", cloudtty_ttyd.plugin)])
    assert not loaded.failures
    image = loaded.registry.image("ttyd")
    assert image.supports_warm_pool is False
    assert image.default_image.startswith("ghcr.io/cloudtty/cloudshell:")


def test_cold_pod_mounts_the_kubeconfig_read_only_and_passes_no_secret() -> None:
    pod = named(BACKEND.cold_pod(request()))
    check_manifest(pod)
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False
    [volume] = spec["volumes"]
    assert volume["secret"]["secretName"] == "alice-kubeconfig"
    assert volume["secret"]["items"] == [{"key": "config", "path": "config"}]
    [container] = spec["containers"]
    [mount] = container["volumeMounts"]
    assert mount["readOnly"] is True
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["KUBECONFIG"] == mount["mountPath"] + "/config"
    assert container["command"] == ["ttyd"]
    assert container["args"][-2:] == ["--", "bash"]
    assert "-c" not in container["args"]  # no credential on the command line
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_configmap_kubeconfig_of_cloudtty_v01() -> None:
    pod = named(BACKEND.cold_pod(request(kind="ConfigMap")))
    check_manifest(pod)
    assert pod["spec"]["volumes"][0]["configMap"]["name"] == "alice-kubeconfig"


def test_ttyd_flags_from_the_spec() -> None:
    shell = shell_from_dict(
        cloudshell(
            "a",
            once=True,
            urlArg=True,
            readOnly=True,
            ttydClientOptions={"fontSize": "16", "rendererType": "canvas"},
        )
    )
    args = ttyd_args(shell, "/ns/a/", ("kubectl", "logs", "-f", "web-0"))
    assert args == [
        "--port", "7681", "--ping-interval", "20",
        "--base-path", "/ns/a",
        "--once", "--url-arg",
        "-t", "fontSize=16", "-t", "rendererType=canvas",
        "--", "kubectl", "logs", "-f", "web-0",
    ]  # fmt: skip
    plain = ttyd_args(shell_from_dict(cloudshell("b")), "/", ("bash",))
    assert plain == ["--port", "7681", "--ping-interval", "20", "--writable", "--", "bash"]


def test_spec_pass_through_fields() -> None:
    pod = named(
        BACKEND.cold_pod(
            request(
                ttlSecondsAfterStarted=600,
                runAsUser="1000",
                env=[{"name": "EDITOR", "value": "vim"}],
                nodeSelector={"pool": "shells"},
                tolerations=[{"key": "shells", "operator": "Exists"}],
                resources={"limits": {"memory": "256Mi"}},
            )
        )
    )
    check_manifest(pod)
    spec = pod["spec"]
    assert spec["activeDeadlineSeconds"] == 600
    assert spec["securityContext"]["runAsUser"] == 1000
    assert spec["nodeSelector"] == {"pool": "shells"}
    assert spec["tolerations"] == [{"key": "shells", "operator": "Exists"}]
    [container] = spec["containers"]
    assert {"name": "EDITOR", "value": "vim"} in container["env"]
    assert container["resources"] == {"limits": {"memory": "256Mi"}}
    # CloudTTY's `runAsUser: root` never makes a root terminal: pods stay restricted.
    for asked in ("root", "0", None):
        fields = {"runAsUser": asked} if asked is not None else {}
        pod = named(BACKEND.cold_pod(request(**fields)))
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert pod["spec"]["securityContext"]["runAsUser"] == 1000


def test_auth_it_cannot_enforce_is_refused() -> None:
    assert BACKEND.supported_auth == {"none"}
    with pytest.raises(ValueError, match="cannot enforce auth 'basic'"):
        BACKEND.cold_pod(request(auth="basic"))
    with pytest.raises(NotImplementedError):
        BACKEND.worker_pod(WorkerRequest(PoolKey("a", "ttyd", DEFAULT_IMAGE), OperatorSettings()))


def test_a_shell_served_by_ttyd_through_the_planner() -> None:
    loaded = load_plugins(autoload=False, extra=[("ttyd", cloudtty_ttyd.plugin)])
    registry = loaded.registry
    with registry.provided_by("cloudtty-core-testing"):
        registry.add_exposure(FakeExposureBackend())
        registry.add_auth(FakeAuthBackend("none"))
        registry.add_auth(FakeAuthBackend("token"))
    context = PlanContext(registry, OperatorSettings(min_idle=1), token_source=lambda: "t" * 40)
    spec = {"exposureMode": "Fake", "imageBackend": "ttyd", "secretRef": {"name": "kubeconfig"}}
    snap = create(Snapshot.with_default_node(), kubeconfig_secret(), cloudshell("sh", **spec))
    done = converge(snap, [shell_ref("default", "sh")], context)
    shell = done.shell(shell_ref("default", "sh"))
    assert shell is not None
    assert shell["status"]["phase"] == "Ready"
    pod = done.snapshot.get("v1", "Pod", "default", shell["status"]["worker"])
    assert pod is not None
    check_manifest(pod)
    assert pod["spec"]["containers"][0]["image"] == DEFAULT_IMAGE
    # An auth mode ttyd cannot enforce makes the shell Failed with a message.
    bad = {**spec, "auth": {"mode": "token"}}
    snap = create(Snapshot.with_default_node(), kubeconfig_secret(), cloudshell("tk", **bad))
    failed = converge(snap, [shell_ref("default", "tk")], context).shell(shell_ref("default", "tk"))
    assert failed is not None
    assert failed["status"]["phase"] == "Failed"
    assert "ttyd" in str(failed["status"]["conditions"])
