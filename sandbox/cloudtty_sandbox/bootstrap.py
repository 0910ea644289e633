"""The objects every sandbox starts with: system namespaces, the node, the ``kubernetes``
Service and a default IngressClass."""

from __future__ import annotations

from typing import Any

from . import meta
from .cluster import Cluster
from .discovery import KUBERNETES_VERSION
from .services import KUBERNETES_SERVICE_IP

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
INGRESS_CLASS = "sandbox"
INGRESS_CONTROLLER = "cloudtty.io/sandbox-ingress"


def node_object(name: str) -> dict[str, Any]:
    now = meta.rfc3339()
    conditions = [
        {
            "type": t,
            "status": "False",
            "reason": f"Kubelet{r}",
            "message": m,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        for t, r, m in (
            ("MemoryPressure", "HasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "HasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "HasSufficientPID", "kubelet has sufficient PID available"),
        )
    ]
    conditions.append(
        {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "kubelet is posting ready status",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
    )
    capacity = {"cpu": "2", "memory": "24Gi", "pods": "110", "ephemeral-storage": "50Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": "",
            },
        },
        "spec": {"podCIDR": "127.0.0.0/8"},
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "ExternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "kubeletVersion": KUBERNETES_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "containerRuntimeVersion": "sandbox://1.0",
                "osImage": "cloudtty sandbox",
                "kernelVersion": "",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        },
    }


RBAC_GROUP = "rbac.authorization.k8s.io"
READ = ["get", "list", "watch"]
WRITE = ["create", "update", "patch", "delete", "deletecollection"]
_DEFAULT_ROLES: dict[str, list[dict[str, Any]]] = {
    "cluster-admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    "admin": [{"apiGroups": ["*"], "resources": ["*"], "verbs": [*READ, *WRITE]}],
    "edit": [
        {
            "apiGroups": ["", "batch", "coordination.k8s.io", "networking.k8s.io"],
            "resources": [
                "pods",
                "pods/log",
                "services",
                "endpoints",
                "configmaps",
                "secrets",
                "serviceaccounts",
                "serviceaccounts/token",
                "events",
                "jobs",
                "leases",
                "ingresses",
            ],
            "verbs": [*READ, *WRITE],
        }
    ],
    "view": [
        {
            "apiGroups": ["", "batch", "coordination.k8s.io", "networking.k8s.io"],
            "resources": [
                "pods",
                "pods/log",
                "services",
                "endpoints",
                "configmaps",
                "serviceaccounts",
                "events",
                "jobs",
                "leases",
                "ingresses",
                "namespaces",
            ],
            "verbs": READ,
        }
    ],
    "system:basic-user": [
        {
            "apiGroups": ["authorization.k8s.io"],
            "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            "verbs": ["create"],
        }
    ],
}
_DEFAULT_BINDINGS = {
    "cluster-admin": ("Group", "system:masters"),
    "system:basic-user": ("Group", "system:authenticated"),
}


def default_rbac(cluster: Cluster) -> None:
    """The API server's default ClusterRoles (simplified) and their system bindings."""
    role_type = cluster.registry.lookup(RBAC_GROUP, "v1", "clusterroles")
    binding_type = cluster.registry.lookup(RBAC_GROUP, "v1", "clusterrolebindings")
    assert role_type is not None
    assert binding_type is not None
    for name, rules in _DEFAULT_ROLES.items():
        cluster.create(
            role_type,
            None,
            {
                "metadata": {
                    "name": name,
                    "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                },
                "rules": rules,
            },
        )
    for name, (kind, subject) in _DEFAULT_BINDINGS.items():
        cluster.create(
            binding_type,
            None,
            {
                "metadata": {
                    "name": name,
                    "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                },
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
                "subjects": [{"kind": kind, "name": subject, "apiGroup": RBAC_GROUP}],
            },
        )


def bootstrap(cluster: Cluster, node_name: str, api_port: int) -> None:
    reg = cluster.registry
    ns_type = reg.lookup("", "v1", "namespaces")
    node_type = reg.lookup("", "v1", "nodes")
    svc_type = reg.lookup("", "v1", "services")
    ep_type = reg.lookup("", "v1", "endpoints")
    class_type = reg.lookup("networking.k8s.io", "v1", "ingressclasses")
    if None in (ns_type, node_type, svc_type, ep_type, class_type):
        raise RuntimeError("built-in kinds are not registered")
    assert ns_type is not None
    assert node_type is not None
    assert svc_type is not None
    assert ep_type is not None
    assert class_type is not None
    for name in SYSTEM_NAMESPACES:
        cluster.create(ns_type, None, {"metadata": {"name": name}})
    cluster.protected_namespaces.update(("default", "kube-system", "kube-public"))
    node = node_object(node_name)
    status = node.pop("status")
    cluster.create(node_type, None, node)
    cluster.mutate(
        "nodes", "", node_name, lambda n: n.__setitem__("status", status), subresource="status"
    )
    cluster.create(
        svc_type,
        "default",
        {
            "metadata": {
                "name": "kubernetes",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "clusterIP": KUBERNETES_SERVICE_IP,
                "type": "ClusterIP",
                "ports": [
                    {"name": "https", "port": 443, "protocol": "TCP", "targetPort": api_port}
                ],
            },
        },
    )
    cluster.create(
        ep_type,
        "default",
        {
            "metadata": {
                "name": "kubernetes",
                "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
            },
            "subsets": [
                {
                    "addresses": [{"ip": "127.0.0.1"}],
                    "ports": [{"name": "https", "port": api_port, "protocol": "TCP"}],
                }
            ],
        },
    )
    cluster.create(
        class_type,
        None,
        {
            "metadata": {
                "name": INGRESS_CLASS,
                "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
            },
            "spec": {"controller": INGRESS_CONTROLLER},
        },
    )
