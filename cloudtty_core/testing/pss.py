"""The Kubernetes Pod Security Standards, as a check on pod manifests.

Written from the standard's definition (kubernetes.io, "Pod Security Standards"): the
*baseline* controls, and the *restricted* ones on top of them. Each control names the fields
it restricts and the values it allows; a pod passes a profile when every control does.
``restricted_violations(pod)`` returns what fails, each violation naming the control and the
field; ``assert_restricted(pod)`` fails a test with all of them.

The check reads the manifest as written -- what the API server would store -- and so works on
what a planner or a backend produces before any admission plugin sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

__all__ = [
    "BASELINE_CAPABILITIES",
    "RESTRICTED_VOLUME_TYPES",
    "SAFE_SYSCTLS",
    "PssViolation",
    "assert_restricted",
    "baseline_violations",
    "restricted_violations",
]

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
"""Capabilities the baseline profile lets a container add."""

SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
"""The sysctls the baseline profile allows (the namespaced, "safe" set)."""

RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
"""The only volume sources the restricted profile allows."""

_SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
_APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
_SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
_SECCOMP_MESSAGE = "must be RuntimeDefault or Localhost"
_CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")


@attrs.frozen
class PssViolation:
    """One control a pod fails: which, where, and why."""

    control: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.control}: {self.path}: {self.message}"


def _spec_and_meta(pod: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The PodSpec and metadata of a Pod, a pod template, or a bare PodSpec."""
    if "containers" in pod:
        return pod, {}
    spec = pod.get("spec") or {}
    if "template" in spec:  # a workload (Deployment, Job, ...)
        template = spec.get("template") or {}
        return template.get("spec") or {}, template.get("metadata") or {}
    return spec, pod.get("metadata") or {}


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in _CONTAINER_FIELDS:
        for index, container in enumerate(spec.get(field) or ()):
            if isinstance(container, Mapping):
                yield f"spec.{field}[{index}]", container


def _security(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    value = obj.get("securityContext")
    return value if isinstance(value, Mapping) else {}


def _volume_source(volume: Mapping[str, Any]) -> str:
    sources = [k for k in volume if k != "name"]
    return sources[0] if sources else "emptyDir"  # no source given: the API server's default


def baseline_violations(pod: Mapping[str, Any]) -> list[PssViolation]:
    """Every baseline control ``pod`` fails (Pod, pod template holder, or PodSpec)."""
    spec, meta = _spec_and_meta(pod)
    out: list[PssViolation] = []
    pod_sc = _security(spec)

    def bad(control: str, path: str, message: str) -> None:
        out.append(PssViolation(control, path, message))

    windows = pod_sc.get("windowsOptions") or {}
    if windows.get("hostProcess"):
        bad("HostProcess", "spec.securityContext.windowsOptions.hostProcess", "must be false")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            bad("Host Namespaces", f"spec.{field}", "must be unset or false")
    for index, volume in enumerate(spec.get("volumes") or ()):
        if isinstance(volume, Mapping) and "hostPath" in volume:
            bad("HostPath Volumes", f"spec.volumes[{index}].hostPath", "must not be used")
    _baseline_profiles(pod_sc, "spec.securityContext", bad)
    for index, sysctl in enumerate(pod_sc.get("sysctls") or ()):
        name = (sysctl or {}).get("name")
        if name not in SAFE_SYSCTLS:
            bad("Sysctls", f"spec.securityContext.sysctls[{index}].name", f"{name!r} is not safe")
    for key, value in (meta.get("annotations") or {}).items():
        if str(key).startswith(_APPARMOR_ANNOTATION) and not (
            value == "runtime/default" or str(value).startswith("localhost/")
        ):
            bad("AppArmor", f"metadata.annotations[{key}]", f"{value!r} is not allowed")

    for path, container in _containers(spec):
        sc = _security(container)
        where = f"{path}.securityContext"
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            bad("HostProcess", f"{where}.windowsOptions.hostProcess", "must be false")
        if sc.get("privileged"):
            bad("Privileged Containers", f"{where}.privileged", "must be unset or false")
        for cap in (sc.get("capabilities") or {}).get("add") or ():
            if cap not in BASELINE_CAPABILITIES:
                bad("Capabilities", f"{where}.capabilities.add", f"{cap!r} may not be added")
        for index, port in enumerate(container.get("ports") or ()):
            if (port or {}).get("hostPort"):
                bad("Host Ports", f"{path}.ports[{index}].hostPort", "must be unset or 0")
        if sc.get("procMount") not in (None, "Default"):
            bad("/proc Mount Type", f"{where}.procMount", "must be unset or Default")
        _baseline_profiles(sc, where, bad)
    return out


_Report = Callable[[str, str, str], None]


def _baseline_profiles(sc: Mapping[str, Any], where: str, bad: _Report) -> None:
    """AppArmor, SELinux and seccomp settings of one security context (pod or container)."""
    apparmor = (sc.get("appArmorProfile") or {}).get("type")
    if apparmor is not None and apparmor not in _APPARMOR_TYPES:
        bad("AppArmor", f"{where}.appArmorProfile.type", f"{apparmor!r} is not allowed")
    selinux = sc.get("seLinuxOptions") or {}
    if selinux.get("type") not in (None, *_SELINUX_TYPES):
        bad("SELinux", f"{where}.seLinuxOptions.type", f"{selinux.get('type')!r} is not allowed")
    for field in ("user", "role"):
        if selinux.get(field):
            bad("SELinux", f"{where}.seLinuxOptions.{field}", "must be unset")
    if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
        bad("Seccomp", f"{where}.seccompProfile.type", "must not be Unconfined")


def restricted_violations(pod: Mapping[str, Any]) -> list[PssViolation]:
    """Every restricted control ``pod`` fails: the baseline ones, then the restricted ones."""
    spec, _ = _spec_and_meta(pod)
    out = baseline_violations(pod)

    def bad(control: str, path: str, message: str) -> None:
        out.append(PssViolation(control, path, message))

    for index, volume in enumerate(spec.get("volumes") or ()):
        source = _volume_source(volume) if isinstance(volume, Mapping) else "?"
        if source not in RESTRICTED_VOLUME_TYPES:
            bad("Volume Types", f"spec.volumes[{index}].{source}", "volume type not allowed")
    pod_sc = _security(spec)
    pod_non_root = pod_sc.get("runAsNonRoot") is True
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in _SECCOMP_TYPES:
        bad(
            "Seccomp",
            "spec.securityContext.seccompProfile.type",
            "must be RuntimeDefault or Localhost",
        )
    if pod_sc.get("runAsUser") == 0:
        bad("Running as Non-root user", "spec.securityContext.runAsUser", "must not be 0")
    if pod_sc.get("runAsNonRoot") is False:
        bad("Running as Non-root", "spec.securityContext.runAsNonRoot", "must not be false")
    containers = list(_containers(spec))
    for path, container in containers:
        sc = _security(container)
        where = f"{path}.securityContext"
        if sc.get("allowPrivilegeEscalation") is not False:
            bad("Privilege Escalation", f"{where}.allowPrivilegeEscalation", "must be false")
        non_root = sc.get("runAsNonRoot")
        if non_root is False or (non_root is None and not pod_non_root):
            bad("Running as Non-root", f"{where}.runAsNonRoot", "must be true (or the pod's)")
        if sc.get("runAsUser") == 0:
            bad("Running as Non-root user", f"{where}.runAsUser", "must not be 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type")
        if seccomp is None and pod_seccomp is None:
            bad("Seccomp", f"{where}.seccompProfile.type", "must be set (here or in the pod)")
        elif seccomp not in (None, "Unconfined", *_SECCOMP_TYPES):
            bad("Seccomp", f"{where}.seccompProfile.type", _SECCOMP_MESSAGE)
        if path.startswith("spec.ephemeralContainers"):
            continue  # capabilities are not checked for ephemeral containers
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or ()):
            bad("Capabilities", f"{where}.capabilities.drop", "must include ALL")
        for cap in caps.get("add") or ():
            if cap != "NET_BIND_SERVICE":
                bad("Capabilities", f"{where}.capabilities.add", f"{cap!r} may not be added")
    return out


def assert_restricted(pod: Mapping[str, Any], what: str | None = None) -> None:
    """Fail (AssertionError) listing every restricted control ``pod`` does not meet."""
    violations = restricted_violations(pod)
    if violations:
        name = what or str((pod.get("metadata") or {}).get("name") or "pod")
        lines = "\n  ".join(str(v) for v in violations)
        raise AssertionError(f"{name} fails the restricted Pod Security Standard:\n  {lines}")
