"""The Pod Security Standards check (``cloudtty_core.testing.pss``) on good and bad pods, and
the pods every image backend makes through the planner -- warm workers of the pool, workers a
shell makes itself, cold pods -- under the restricted profile."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from cloudtty_core import OperatorSettings, PlanContext, PoolKey, Snapshot, load_plugins
from cloudtty_core.cli.manifests import DeployValues, build_manifests
from cloudtty_core.testing import (
    FakeAuthBackend,
    FakeExposureBackend,
    assert_restricted,
    baseline_violations,
    cloudshell,
    converge,
    create,
    fill_pool,
    kubeconfig_secret,
    restricted_violations,
    shell_ref,
)

GOOD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "good", "namespace": "default"},
    "spec": {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
            "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
        },
        "initContainers": [
            {
                "name": "init",
                "image": "x",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
        "containers": [
            {
                "name": "main",
                "image": "x",
                "ports": [{"containerPort": 80}],
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                    "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"},
                    "seLinuxOptions": {"type": "container_t", "level": "s0:c1"},
                    "appArmorProfile": {"type": "RuntimeDefault"},
                    "procMount": "Default",
                },
            }
        ],
        "volumes": [
            {"name": "a", "emptyDir": {}},
            {"name": "b", "secret": {"secretName": "s"}},
            {"name": "c", "projected": {"sources": []}},
            {"name": "d", "configMap": {"name": "c"}},
            {"name": "e", "downwardAPI": {"items": []}},
            {"name": "f", "persistentVolumeClaim": {"claimName": "p"}},
            {"name": "g", "csi": {"driver": "d"}},
            {"name": "h", "ephemeral": {}},
        ],
    },
}

Mutation = Callable[[dict[str, Any]], None]


def _main(pod: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod["spec"]["containers"][0]
    return container


def _sc(pod: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = _main(pod)["securityContext"]
    return context


def _set(path: str, value: Any) -> Mutation:
    def mutate(pod: dict[str, Any]) -> None:
        target = pod
        keys = path.split(".")
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = value

    return mutate


def _container(field: str, value: Any) -> Mutation:
    return lambda pod: _sc(pod).__setitem__(field, value)


def _drop(field: str) -> Mutation:
    return lambda pod: _sc(pod).pop(field)


def _add_volume(source: dict[str, Any]) -> Mutation:
    return lambda pod: pod["spec"]["volumes"].append({"name": "z", **source})


#: (control, mutation, baseline also fails)
BAD: list[tuple[str, Mutation, bool]] = [
    ("Host Namespaces", _set("spec.hostNetwork", True), True),
    ("Host Namespaces", _set("spec.hostPID", True), True),
    ("Host Namespaces", _set("spec.hostIPC", True), True),
    ("Privileged Containers", _container("privileged", True), True),
    ("Capabilities", _container("capabilities", {"drop": ["ALL"], "add": ["SYS_ADMIN"]}), True),
    ("Capabilities", _container("capabilities", {"drop": ["ALL"], "add": ["CHOWN"]}), False),
    ("Capabilities", _container("capabilities", {"drop": ["NET_RAW"]}), False),
    ("HostPath Volumes", _add_volume({"hostPath": {"path": "/"}}), True),
    ("Host Ports", lambda p: _main(p)["ports"][0].__setitem__("hostPort", 80), True),
    ("AppArmor", _container("appArmorProfile", {"type": "Unconfined"}), True),
    (
        "AppArmor",
        _set("metadata.annotations", {"container.apparmor.security.beta.kubernetes.io/main": "x"}),
        True,
    ),
    ("SELinux", _container("seLinuxOptions", {"type": "spc_t"}), True),
    ("SELinux", _container("seLinuxOptions", {"user": "system_u"}), True),
    ("/proc Mount Type", _container("procMount", "Unmasked"), True),
    ("Seccomp", _container("seccompProfile", {"type": "Unconfined"}), True),
    (
        "Sysctls",
        _set("spec.securityContext.sysctls", [{"name": "kernel.msgmax", "value": "1"}]),
        True,
    ),
    ("HostProcess", _container("windowsOptions", {"hostProcess": True}), True),
    ("Volume Types", _add_volume({"nfs": {"server": "x", "path": "/"}}), False),
    ("Volume Types", _add_volume({"gitRepo": {"repository": "x"}}), False),
    ("Privilege Escalation", _drop("allowPrivilegeEscalation"), False),
    ("Privilege Escalation", _container("allowPrivilegeEscalation", True), False),
    ("Running as Non-root", _set("spec.securityContext.runAsNonRoot", False), False),
    ("Running as Non-root", lambda p: p["spec"]["securityContext"].pop("runAsNonRoot"), False),
    ("Running as Non-root user", _set("spec.securityContext.runAsUser", 0), False),
    ("Running as Non-root user", _container("runAsUser", 0), False),
    ("Seccomp", lambda p: p["spec"]["securityContext"].pop("seccompProfile"), False),
    ("Seccomp", _set("spec.securityContext.seccompProfile", {"type": "Unconfined"}), True),
    (
        "Privilege Escalation",
        lambda p: p["spec"]["initContainers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
        False,
    ),
]


def test_a_pod_meeting_every_control_passes() -> None:
    assert restricted_violations(GOOD) == []
    assert_restricted(GOOD)
    # A bare PodSpec and a workload's pod template are read the same way.
    assert restricted_violations(GOOD["spec"]) == []
    assert restricted_violations({"kind": "Deployment", "spec": {"template": GOOD}}) == []


@pytest.mark.parametrize(("control", "mutate", "baseline"), BAD)
def test_each_control_catches_what_it_restricts(
    control: str, mutate: Mutation, baseline: bool
) -> None:
    pod = copy.deepcopy(GOOD)
    mutate(pod)
    found = restricted_violations(pod)
    assert control in {v.control for v in found}, found
    assert all(v.path.startswith(("spec.", "metadata.")) for v in found)
    assert bool(baseline_violations(pod)) is baseline
    with pytest.raises(AssertionError, match=control):
        assert_restricted(pod)


def test_a_default_pod_fails_restricted_but_passes_baseline() -> None:
    pod = {"spec": {"containers": [{"name": "c", "image": "x"}]}}
    assert baseline_violations(pod) == []
    controls = {v.control for v in restricted_violations(pod)}
    assert controls == {"Privilege Escalation", "Running as Non-root", "Seccomp", "Capabilities"}


def test_the_operator_deployment_is_restricted() -> None:
    (deployment,) = [o for o in build_manifests(DeployValues()) if o["kind"] == "Deployment"]
    assert_restricted(deployment, "the operator Deployment")


# ------------------------------------------------------------------------------ through the planner


def _context(name: str) -> PlanContext:
    loaded = load_plugins(autoload=True)
    registry = loaded.registry
    with registry.provided_by("cloudtty-core-testing"):
        registry.add_exposure(FakeExposureBackend())
        if "none" not in registry.names("auth"):
            registry.add_auth(FakeAuthBackend("none"))
    registry.image(name)  # installed
    return PlanContext(registry, OperatorSettings(min_idle=1), token_source=lambda: "t" * 40)


def _shell_pods(backend: str, spec: dict[str, Any], min_idle: int) -> list[dict[str, Any]]:
    context = attrs.evolve(_context(backend), settings=OperatorSettings(min_idle=min_idle))
    image = context.registry.image(backend)
    snap = create(Snapshot.with_default_node(), kubeconfig_secret())
    key = PoolKey("default", backend, context.settings.image_for(image))
    snap = fill_pool(snap, key, context.settings, context.registry)
    shell = cloudshell("pss", imageBackend=backend, exposureMode="Fake", **spec)
    snap = create(snap, shell)
    done = converge(snap, [shell_ref("default", "pss")], context, pools=[key])
    pods = list(done.snapshot.list("v1", "Pod"))
    assert pods
    return pods


def test_webterm_pods_are_restricted_from_the_pool_and_made_on_demand() -> None:
    pytest.importorskip("cloudtty_webterm")
    spec = {"secretRef": {"name": "kubeconfig"}}
    for min_idle in (1, 0):  # claimed from the pool; made by the shell itself
        for pod in _shell_pods("webterm", spec, min_idle):
            assert_restricted(pod, f"webterm pod {pod['metadata']['name']}")


@pytest.mark.parametrize("run_as", [None, "1000", "root"])
def test_ttyd_cold_pods_are_restricted(run_as: str | None) -> None:
    pytest.importorskip("cloudtty_ttyd")
    spec: dict[str, Any] = {"secretRef": {"name": "kubeconfig"}}
    if run_as is not None:
        spec["runAsUser"] = run_as
    for pod in _shell_pods("ttyd", spec, 0):
        assert_restricted(pod, f"ttyd pod {pod['metadata']['name']}")
