"""Services: ClusterIP and NodePort allocation, requested ports honoured or refused, Endpoints."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException


def _svc(name: str, type_: str = "NodePort", ports: list | None = None, **spec) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {
            "type": type_,
            "selector": {"app": name},
            "ports": ports or [{"port": 80}],
            **spec,
        },
    }


def test_node_ports_are_allocated_in_range_without_duplicates(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    ports, ips = [], []
    for i in range(25):
        svc = core.create_namespaced_service(
            "default", _svc(f"s{i}", ports=[{"name": "a", "port": 80}, {"name": "b", "port": 443}])
        )
        ports += [p.node_port for p in svc.spec.ports]
        ips.append(svc.spec.cluster_ip)
    assert all(30000 <= p <= 32767 for p in ports)
    assert len(set(ports)) == len(ports)
    assert len(set(ips)) == len(ips)


def test_requested_node_port_is_honoured_or_refused(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    svc = core.create_namespaced_service(
        "default", _svc("a", ports=[{"port": 80, "nodePort": 31000}])
    )
    assert svc.spec.ports[0].node_port == 31000
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service(
            "default", _svc("b", ports=[{"port": 80, "nodePort": 31000}])
        )
    assert err.value.status == 422
    cause = json.loads(err.value.body)["details"]["causes"][0]
    assert cause["field"] == "spec.ports[0].nodePort"
    assert "already allocated" in cause["message"]
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service("default", _svc("c", ports=[{"port": 80, "nodePort": 80}]))
    assert err.value.status == 422
    assert "valid range" in json.loads(err.value.body)["details"]["causes"][0]["message"]
    # once released the port can be taken again
    core.delete_namespaced_service("a", "default")
    again = core.create_namespaced_service(
        "default", _svc("d", ports=[{"port": 80, "nodePort": 31000}])
    )
    assert again.spec.ports[0].node_port == 31000


def test_updates_keep_allocations_and_type_changes_release_them(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    svc = core.create_namespaced_service("default", _svc("a", "ClusterIP"))
    assert svc.spec.ports[0].node_port is None
    as_node_port = core.patch_namespaced_service("a", "default", {"spec": {"type": "NodePort"}})
    port = as_node_port.spec.ports[0].node_port
    assert 30000 <= port <= 32767
    relabeled = core.patch_namespaced_service("a", "default", {"metadata": {"labels": {"x": "y"}}})
    assert relabeled.spec.ports[0].node_port == port
    assert relabeled.spec.cluster_ip == svc.spec.cluster_ip
    back = core.patch_namespaced_service("a", "default", {"spec": {"type": "ClusterIP"}})
    assert back.spec.ports[0].node_port is None
    other = core.create_namespaced_service(
        "default", _svc("b", ports=[{"port": 80, "nodePort": port}])
    )
    assert other.spec.ports[0].node_port == port
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_service("b", "default", {"spec": {"clusterIP": "10.96.9.9"}})
    assert err.value.status == 422


def test_headless_and_load_balancer(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    headless = core.create_namespaced_service("default", _svc("h", "ClusterIP", clusterIP="None"))
    assert headless.spec.cluster_ip == "None"
    lb = core.create_namespaced_service("default", _svc("lb", "LoadBalancer"))
    assert lb.spec.ports[0].node_port
    assert lb.status.load_balancer.ingress[0].ip == "127.0.0.1"


def test_service_validation_names_fields(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service(
            "default", _svc("bad", ports=[{"port": 80}, {"port": 70000, "protocol": "XTP"}])
        )
    fields = {c["field"] for c in json.loads(err.value.body)["details"]["causes"]}
    assert {"spec.ports[0].name", "spec.ports[1].port", "spec.ports[1].protocol"} <= fields


def test_endpoints_follow_pods(sandbox_api_client, wait):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_service(
        "default", _svc("app", "ClusterIP", ports=[{"port": 80, "targetPort": 8080}])
    )
    for i in range(2):
        core.create_namespaced_pod(
            "default",
            {
                "metadata": {"name": f"p{i}", "labels": {"app": "app"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        )

    def ready_ips() -> list[str]:
        ep = core.read_namespaced_endpoints("app", "default")
        return sorted(a.ip for s in ep.subsets or () for a in s.addresses or ())

    ips = wait(lambda: len(ready_ips()) == 2 and ready_ips())
    pod_ips = sorted(core.read_namespaced_pod(f"p{i}", "default").status.pod_ip for i in range(2))
    assert ips == pod_ips
    assert core.read_namespaced_endpoints("app", "default").subsets[0].ports[0].port == 8080
    core.delete_namespaced_pod("p0", "default")
    wait(lambda: ready_ips() == [pod_ips[1]] or ready_ips() == [pod_ips[0]])
    core.delete_namespaced_service("app", "default")
    wait(
        lambda: (
            not any(
                e.metadata.name == "app" for e in core.list_namespaced_endpoints("default").items
            )
        )
    )


def test_kubernetes_service_points_at_the_api(sandbox, sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    svc = core.read_namespaced_service("kubernetes", "default")
    assert svc.spec.cluster_ip == "10.96.0.1"
    ep = core.read_namespaced_endpoints("kubernetes", "default")
    assert ep.subsets[0].addresses[0].ip == "127.0.0.1"
    assert ep.subsets[0].ports[0].port == sandbox.port
