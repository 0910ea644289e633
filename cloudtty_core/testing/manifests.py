"""Manifests tests keep writing: a CloudShell, a kubeconfig Secret."""

from __future__ import annotations

from typing import Any

from cloudtty_core.model import API_VERSION, KIND, Manifest

__all__ = ["TEST_KUBECONFIG", "cloudshell", "kubeconfig_secret"]

TEST_KUBECONFIG = (
    "apiVersion: v1\nkind: Config\n"
    "clusters: [{name: test, cluster: {server: 'https://kubernetes.test'}}]\n"
    "users: [{name: test, user: {token: not-a-real-token}}]\n"
)


def cloudshell(name: str, namespace: str = "default", **spec: Any) -> Manifest:
    """A CloudShell manifest; ``spec`` takes the JSON field names (``exposureMode=...``)."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def kubeconfig_secret(
    name: str = "kubeconfig", namespace: str = "default", key: str = "config"
) -> Manifest:
    """A Secret holding a kubeconfig under ``key``."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {key: TEST_KUBECONFIG},
    }
