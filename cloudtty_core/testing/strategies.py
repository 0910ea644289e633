"""Hypothesis strategies for valid CloudShells, as the JSON users write."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from cloudtty_core.model import API_VERSION, KIND

__all__ = ["cloudshell_dicts", "cloudshell_specs", "dns_labels", "kubeconfig_sources"]

_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


@st.composite
def dns_labels(draw: st.DrawFn, max_size: int = 20) -> str:
    """A DNS-1123 label: lower-case letters, digits and inner dashes."""
    first = draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz"))
    middle = draw(st.text(_ALNUM + "-", max_size=max(0, max_size - 2)))
    last = draw(st.sampled_from(_ALNUM)) if middle else ""
    return f"{first}{middle}{last}"


def kubeconfig_sources() -> st.SearchStrategy[dict[str, Any]]:
    """The spec fields choosing a kubeconfig: a Secret, a ConfigMap, or none (generated)."""
    return st.one_of(
        st.just({}),
        st.builds(lambda n: {"secretRef": {"name": n}}, dns_labels()),
        st.builds(lambda n, k: {"secretRef": {"name": n, "key": k}}, dns_labels(), dns_labels()),
        st.builds(lambda n: {"configmapName": n}, dns_labels()),
    )


_COMMANDS = ("bash", "kubectl get pods -A", "kubectl -n kube-system logs -f etcd-0", "sh -c 'top'")


@st.composite
def cloudshell_specs(
    draw: st.DrawFn,
    exposure_modes: Sequence[str] = ("NodePort",),
    image_backends: Sequence[str] = ("webterm",),
    auth_modes: Sequence[str] = ("none",),
) -> dict[str, Any]:
    """A valid ``spec`` using only the given backend names."""
    spec: dict[str, Any] = {
        "exposureMode": draw(st.sampled_from(list(exposure_modes))),
        "imageBackend": draw(st.sampled_from(list(image_backends))),
        "commandAction": draw(st.sampled_from(_COMMANDS)),
    }
    spec.update(draw(kubeconfig_sources()))
    mode = draw(st.sampled_from(list(auth_modes)))
    if mode != "none" or draw(st.booleans()):
        spec["auth"] = {"mode": mode}
    ttl_field = draw(st.sampled_from((None, "ttl", "ttlSecondsAfterStarted")))
    if ttl_field is not None:
        spec[ttl_field] = draw(st.integers(min_value=1, max_value=7 * 24 * 3600))
    for flag in ("once", "cleanup"):
        if draw(st.booleans()):
            spec[flag] = True
    if draw(st.booleans()):
        spec["runAsUser"] = draw(st.sampled_from(("root", "1000", 1000)))
    if draw(st.booleans()):
        spec["pathPrefix"] = "/" + draw(dns_labels(max_size=10))
    if draw(st.booleans()):
        spec["env"] = [{"name": "LANG", "value": "C.UTF-8"}]
    if draw(st.booleans()):
        spec["ttydClientOptions"] = {"fontSize": str(draw(st.integers(8, 30)))}
    return spec


@st.composite
def cloudshell_dicts(
    draw: st.DrawFn,
    exposure_modes: Sequence[str] = ("NodePort",),
    image_backends: Sequence[str] = ("webterm",),
    auth_modes: Sequence[str] = ("none",),
    namespaces: Sequence[str] = ("default",),
) -> dict[str, Any]:
    """A valid CloudShell manifest (no status, no server-set metadata)."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": draw(dns_labels()),
            "namespace": draw(st.sampled_from(list(namespaces))),
        },
        "spec": draw(cloudshell_specs(exposure_modes, image_backends, auth_modes)),
    }
