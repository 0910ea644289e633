"""apps/v1 Deployments and ReplicaSets: stored with status and scale subresources, and
reconciled into ReplicaSets and pods by the sandbox's controllers (kubectl and the client)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException


def deployment(name: str = "web", replicas: int = 2, image: str = "nginx:1.27") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


def _json(sandbox, *args) -> Any:
    return json.loads(sandbox.kubectl("get", *args, "-o", "json").stdout)


def _live_pods(sandbox, selector: str) -> list[dict[str, Any]]:
    pods = _json(sandbox, "pods", "-l", selector)["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def test_apply_rollout_status_and_wait_available(sandbox):
    assert (
        "created" in sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(deployment())).stdout
    )
    rolled = sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert "successfully rolled out" in rolled.stdout
    waited = sandbox.kubectl("wait", "--for=condition=Available", "deploy/web", "--timeout=60s")
    assert "condition met" in waited.stdout

    deploy = _json(sandbox, "deployment", "web")
    assert deploy["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    status = deploy["status"]
    assert status["observedGeneration"] == deploy["metadata"]["generation"]
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"]) == (2, 2, 2)
    assert status["availableReplicas"] == 2
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Available"]["status"] == "True"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert deploy["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": "25%",
        "maxUnavailable": "25%",
    }

    (rs,) = _json(sandbox, "replicasets")["items"]
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    (owner,) = rs["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Deployment", "web", True)
    assert owner["uid"] == deploy["metadata"]["uid"]
    assert rs["status"]["readyReplicas"] == 2

    pods = _live_pods(sandbox, "app=web")
    assert len(pods) == 2
    for pod in pods:
        assert pod["metadata"]["name"].startswith(f"web-{pod_hash}-")
        assert pod["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
        assert pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
        assert pod["status"]["phase"] == "Running"

    table = sandbox.kubectl("get", "deployment", "web", "--no-headers").stdout.split()
    assert table[:4] == ["web", "2/2", "2", "2"]


def test_new_template_rolls_to_a_new_replicaset_and_scale(sandbox, wait):
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(deployment()))
    sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    sandbox.kubectl("set", "image", "deployment/web", "c=nginx:1.28")
    assert (
        "successfully rolled out"
        in sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=60s").stdout
    )
    sets = {
        rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs
        for rs in _json(sandbox, "replicasets")["items"]
    }
    assert set(sets) == {"nginx:1.27", "nginx:1.28"}
    assert sets["nginx:1.27"]["spec"]["replicas"] == 0
    assert sets["nginx:1.28"]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    wait(lambda: len(_live_pods(sandbox, "app=web")) == 2)
    images = {p["spec"]["containers"][0]["image"] for p in _live_pods(sandbox, "app=web")}
    assert images == {"nginx:1.28"}

    assert "scaled" in sandbox.kubectl("scale", "deployment/web", "--replicas=3").stdout
    sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    assert len(_live_pods(sandbox, "app=web")) == 3
    sandbox.kubectl("scale", "deployment/web", "--replicas=1")
    wait(lambda: len(_live_pods(sandbox, "app=web")) == 1)
    wait(lambda: _json(sandbox, "deployment", "web")["status"].get("replicas") == 1)


def test_recreate_strategy_and_rollout_undo(sandbox, wait):
    recreate = deployment("batch", replicas=1)
    recreate["spec"]["strategy"] = {"type": "Recreate"}
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(recreate))
    sandbox.kubectl("rollout", "status", "deployment/batch", "--timeout=60s")
    sandbox.kubectl("set", "image", "deployment/batch", "c=nginx:1.28")
    sandbox.kubectl("rollout", "status", "deployment/batch", "--timeout=60s")
    sandbox.kubectl("rollout", "undo", "deployment/batch")
    sandbox.kubectl("rollout", "status", "deployment/batch", "--timeout=60s")
    deploy = _json(sandbox, "deployment", "batch")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert deploy["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    wait(lambda: len(_live_pods(sandbox, "app=batch")) == 1)
    (pod,) = _live_pods(sandbox, "app=batch")
    assert pod["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_replicaset_replaces_a_deleted_pod_and_deletion_cascades(sandbox, wait):
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(deployment(replicas=1)))
    sandbox.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
    (first,) = _live_pods(sandbox, "app=web")
    sandbox.kubectl("delete", "pod", first["metadata"]["name"], "--wait=false")
    replaced = wait(
        lambda: [
            p
            for p in _live_pods(sandbox, "app=web")
            if p["metadata"]["name"] != first["metadata"]["name"]
        ]
    )
    assert len(replaced) == 1
    sandbox.kubectl("delete", "deployment", "web", "--wait=true", "--timeout=60s")
    wait(lambda: not _json(sandbox, "replicasets")["items"])
    wait(lambda: not _live_pods(sandbox, "app=web"))


def test_pods_wait_for_their_service_account(sandbox, wait):
    spec = deployment("robot", replicas=1)
    spec["spec"]["template"]["spec"]["serviceAccountName"] = "robot"
    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(spec))

    def failure() -> Any:
        sets = _json(sandbox, "replicasets")["items"]
        conditions = (sets[0].get("status") or {}).get("conditions") or [] if sets else []
        return [c for c in conditions if c["type"] == "ReplicaFailure"]

    (condition,) = wait(failure)
    assert condition["reason"] == "FailedCreate"
    assert "robot" in condition["message"]
    sandbox.kubectl("create", "serviceaccount", "robot")
    sandbox.kubectl("rollout", "status", "deployment/robot", "--timeout=60s")
    wait(lambda: not failure())


def test_invalid_deployments_are_rejected_with_the_field(sandbox):
    bad = deployment()
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    result = sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(bad), check=False)
    assert result.returncode != 0
    assert "spec.template.metadata.labels" in result.stderr
    no_selector = deployment()
    del no_selector["spec"]["selector"]
    result = sandbox.kubectl("create", "-f", "-", input=yaml.safe_dump(no_selector), check=False)
    assert "spec.selector" in result.stderr

    sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(deployment()))
    moved = deployment()
    moved["spec"]["selector"]["matchLabels"]["tier"] = "x"
    moved["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    result = sandbox.kubectl("apply", "-f", "-", input=yaml.safe_dump(moved), check=False)
    assert result.returncode != 0
    assert "field is immutable" in result.stderr


def test_scale_subresource_through_the_official_client(sandbox, sandbox_api_client, wait):
    apps = client.AppsV1Api(sandbox_api_client)
    apps.create_namespaced_deployment("default", deployment("api", replicas=1))
    scale = apps.read_namespaced_deployment_scale("api", "default")
    assert scale.spec.replicas == 1
    assert scale.status.selector == "app=api"
    patched = apps.patch_namespaced_deployment_scale("api", "default", {"spec": {"replicas": 2}})
    assert patched.spec.replicas == 2
    wait(
        lambda: (
            (apps.read_namespaced_deployment_status("api", "default").status.ready_replicas or 0)
            == 2
        )
    )
    stale = client.V1Scale(
        metadata=client.V1ObjectMeta(name="api", resource_version="1"),
        spec=client.V1ScaleSpec(replicas=5),
    )
    with pytest.raises(ApiException) as conflict:
        apps.replace_namespaced_deployment_scale("api", "default", stale)
    assert conflict.value.status == 409
    with pytest.raises(ApiException) as negative:
        apps.patch_namespaced_deployment_scale("api", "default", {"spec": {"replicas": -1}})
    assert negative.value.status == 422
    rs_name = apps.list_namespaced_replica_set("default").items[0].metadata.name
    assert apps.read_namespaced_replica_set_scale(rs_name, "default").spec.replicas == 2
