"""The chart's RBAC is exactly what the operator and the workers do.

An operator runs against the sandbox cluster through every exposure mode, every kubeconfig
source, a cold and a warm terminal, TTL expiry with and without cleanup, a shared Ingress and
leader election. The sandbox counts every request by verb and resource. Every request must be
allowed by the chart's ClusterRole and leader-election Role, and every rule of theirs must have
been used (or be needed by something that is not a request of its own, listed below with the
reason). The same holds for a warm worker and the Role the operator gives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudtty_deploy_helmrender as helm  # loaded by tests/conftest.py
import pytest

pytest.importorskip("kubernetes")
sandbox_module = pytest.importorskip("cloudtty_sandbox")

from cloudtty_core import OperatorSettings  # noqa: E402
from cloudtty_core.plan.identity import session_role  # noqa: E402
from cloudtty_core.runtime.config import RuntimeConfig  # noqa: E402
from cloudtty_core.runtime.operator import OperatorThread  # noqa: E402
from cloudtty_core.runtime.testing import (  # noqa: E402
    COLD_IMAGE,
    OperatorHarness,
    TestImages,
    shell_manifest,
    wait_for,
)
from cloudtty_core.testing import TEST_KUBECONFIG, load_crds  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RELEASE_NAMESPACE = "cloudtty-system"
CLUSTER_ROLE = "cloudtty-shell"
SHELLS = "cloudshells.cloudshell.cloudtty.io"

#: Rules no request of the run exercises, and why they are needed all the same.
IMPLIED: dict[tuple[str, str, str], str] = {
    ("", "secrets", "get"): (
        "a generated kubeconfig's Secret that already exists without a kubeconfig is read "
        "and taken over (runtime/credentials.py)"
    ),
    ("events.k8s.io", "events", "patch"): (
        "the same event for the same shell within ten minutes raises the count of the "
        "existing Event (runtime/events.py)"
    ),
    ("rbac.authorization.k8s.io", "clusterroles", "bind"): (
        "creating a RoleBinding to a ClusterRole needs `bind` on it unless the operator holds "
        "every permission of that role itself"
    ),
    ("cloudshell.cloudtty.io", "cloudshells/finalizers", "update"): (
        "objects naming their shell as owner with blockOwnerDeletion need it where the "
        "OwnerReferencesPermissionEnforcement admission plugin is on"
    ),
}


@pytest.fixture
def sandbox_config() -> Any:
    # Simulated pods only: no local process talks to the API, so every request counted once
    # the operator starts is the operator's.
    return sandbox_module.SandboxConfig(
        pod_start_delay=0.05, bookmark_interval=0.5, local_images={}
    )


# ------------------------------------------------------------------------------ rules


Triple = tuple[str, str, str]  # (apiGroup, resource[/subresource], verb)


def chart_rules(kinds: tuple[str, ...], **render: Any) -> list[dict[str, Any]]:
    objects = helm.render(**render)
    return [r for o in objects if o["kind"] in kinds for r in o["rules"]]


def rule_triples(rules: list[dict[str, Any]]) -> set[Triple]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def requested(counters: dict[str, Any]) -> dict[Triple, int]:
    """The sandbox's counters as (group, resource, verb) -> requests."""
    out: dict[Triple, int] = {}
    for storage, verbs in counters["byResource"].items():
        resource_and_group, _, sub = storage.partition("/")
        plural, _, group = resource_and_group.partition(".")
        resource = f"{plural}/{sub}" if sub else plural
        for verb, count in verbs.items():
            out[(group, resource, verb)] = out.get((group, resource, verb), 0) + count
    return out


def assert_exactly_what_is_used(
    rules: list[dict[str, Any]], used: dict[Triple, int], implied: dict[Triple, str]
) -> None:
    granted = rule_triples(rules)
    forbidden = sorted(t for t in used if t not in granted)
    assert not forbidden, f"requests the chart's RBAC does not allow: {forbidden}"
    unused = sorted(t for t in granted if t not in used and t not in implied)
    assert not unused, f"rules no request used (remove them, or say why they are needed): {unused}"


# ------------------------------------------------------------------------------ the operator


@pytest.fixture
def cluster(sandbox: Any) -> Iterator[OperatorHarness]:
    settings = OperatorSettings(cluster_server=sandbox.url, cluster_role=CLUSTER_ROLE)
    harness = OperatorHarness(sandbox.url, sandbox.admin_token, settings=settings)
    try:
        yield harness
    finally:
        harness.stop()
        harness.client.close()


def prepare(harness: OperatorHarness) -> None:
    """Everything the shells need, made before the operator starts (so it is not counted)."""
    from cloudtty_istio import GATEWAY_CRD, ISTIO_API, VIRTUAL_SERVICE_CRD

    create = harness.client.create
    harness.install_crd()
    create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": RELEASE_NAMESPACE}})
    for crd in load_crds(VIRTUAL_SERVICE_CRD, GATEWAY_CRD):
        create(crd)
    gateway_servers = [
        {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["vs.example.com"]}
    ]
    create(
        {
            "apiVersion": ISTIO_API,
            "kind": "Gateway",
            "metadata": {"name": "public", "namespace": "default"},
            "spec": {"servers": gateway_servers},
        }
    )
    create(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {
                "name": "nginx",
                "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
            },
            "spec": {"controller": "k8s.io/ingress-nginx"},
        }
    )
    create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "my-kubeconfig", "namespace": "default"},
            "stringData": {"config": TEST_KUBECONFIG},
        }
    )
    create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "my-kubeconfig", "namespace": "default"},
            "data": {"config": TEST_KUBECONFIG},
        }
    )
    shells = [
        shell_manifest("generated", auth={"mode": "token"}),
        shell_manifest(
            "from-secret", exposureMode="ClusterIP", secretRef={"name": "my-kubeconfig"}
        ),
        shell_manifest("from-configmap", configmapName="my-kubeconfig"),
        shell_manifest(
            "routed",
            exposureMode="VirtualService",
            virtualServiceConfig={"gateway": "default/public"},
        ),
        shell_manifest("cold", imageBackend=COLD_IMAGE, exposureMode="ClusterIP"),
        shell_manifest(
            "shared-a",
            exposureMode="Ingress",
            ingressConfig={"ingressName": "shells", "host": "shells.example.com"},
        ),
        shell_manifest(
            "shared-b",
            exposureMode="Ingress",
            ingressConfig={"ingressName": "shells", "host": "shells.example.com"},
            ttlSecondsAfterStarted=2,
            cleanup=True,
        ),
        shell_manifest("expiring", exposureMode="Ingress", ttlSecondsAfterStarted=2),
        shell_manifest("own-route", exposureMode="Ingress"),
        shell_manifest(
            "routed-shared",
            exposureMode="VirtualService",
            virtualServiceConfig={"gateway": "default/public", "virtualServiceName": "shells"},
            ttlSecondsAfterStarted=2,
            cleanup=True,
        ),
        shell_manifest(
            "routed-expiring",
            exposureMode="VirtualService",
            virtualServiceConfig={"gateway": "default/public"},
            ttlSecondsAfterStarted=2,
        ),
    ]
    for shell in shells:
        create(shell)


#: Objects the operator made that someone edits: the operator puts them back (an update).
TAMPERED = (
    ("", "v1", "services", "Service", "cloudshell-generated"),
    ("", "v1", "serviceaccounts", "ServiceAccount", "cloudshell-generated"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", "cloudshell-generated"),
    ("", "v1", "secrets", "Secret", "cloudshell-generated-access"),
    ("networking.k8s.io", "v1", "ingresses", "Ingress", "cloudshell-own-route"),
    ("networking.istio.io", "v1beta1", "virtualservices", "VirtualService", "cloudshell-routed"),
)
LABEL = "cloudtty.io/shell"


def repair_tampered_objects(sandbox: Any) -> dict[Triple, int]:
    """Change a label of each TAMPERED object and wait until the operator restored it;
    returns the test's own requests, to take off the counters."""
    mine: dict[Triple, int] = {}
    for group, version, plural, _, name in TAMPERED:
        storage = f"{plural}.{group}" if group else plural
        original = sandbox.get_object(storage, "default", name)
        assert original is not None, f"{plural} {name} was not made"
        wanted = original["metadata"]["labels"][LABEL]
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        request = urllib.request.Request(
            f"{sandbox.url}{base}/namespaces/default/{plural}/{name}",
            data=json.dumps({"metadata": {"labels": {LABEL: "tampered"}}}).encode(),
            method="PATCH",
            headers={
                "Content-Type": "application/merge-patch+json",
                "Authorization": f"Bearer {sandbox.admin_token}",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        mine[(group, plural, "patch")] = mine.get((group, plural, "patch"), 0) + 1
        wait_for(
            lambda storage=storage, name=name, wanted=wanted: (
                (sandbox.get_object(storage, "default", name) or {})
                .get("metadata", {})
                .get("labels", {})
                .get(LABEL)
                == wanted
            ),
            timeout=20,
            what=f"{plural} {name} repaired",
        )
    return mine


def chart_operator_config(url: str) -> RuntimeConfig:
    """The operator's configuration as the chart's Deployment arguments give it, pointed at
    the sandbox (out of the cluster, no metrics port)."""
    import attrs

    from cloudtty_core.cli import build_parser
    from cloudtty_core.runtime.config import config_from_args

    objects = helm.render(
        namespace=RELEASE_NAMESPACE, sets=[f"operator.clusterRole={CLUSTER_ROLE}"]
    )
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    config = config_from_args(build_parser().parse_args(args))
    assert config.leader_election
    assert config.effective_lease_namespace() == RELEASE_NAMESPACE
    return attrs.evolve(
        config,
        in_cluster=False,
        metrics_port=None,
        identity=None,
        settings=attrs.evolve(config.settings, cluster_server=url),
    )


def stored(sandbox: Any, storage: str, namespace: str) -> list[dict[str, Any]]:
    """Objects as the sandbox stores them, read in-process (so not counted)."""
    items = sandbox.call(lambda: sandbox._sb.cluster.store.items(storage, namespace))
    return json.loads(json.dumps(items))


def claim_a_warm_worker(sandbox: Any, harness: OperatorHarness) -> dict[Triple, int]:
    """A shell created once an idle worker is Ready claims it (the earlier shells came before
    the pool); its worker's Role is then tampered with and repaired. Returns the test's own
    requests."""

    def ready_idle() -> list[str]:
        idle = {  # a worker's state is on its session Secret
            s["metadata"]["labels"].get("cloudtty.io/worker")
            for s in stored(sandbox, "secrets", "default")
            if s["metadata"].get("labels", {}).get("cloudtty.io/state") == "idle"
        }
        return [
            p["metadata"]["name"]
            for p in stored(sandbox, "pods", "default")
            if p["metadata"]["name"] in idle
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p.get("status", {}).get("conditions", ())
            )
        ]

    idle = wait_for(ready_idle, timeout=20, what="a Ready idle worker")
    harness.create_shell("late", exposureMode="ClusterIP", secretRef={"name": "my-kubeconfig"})
    wait_for(lambda: phase(sandbox, "late") == "Ready", timeout=20, what="late Ready")
    shell = sandbox.get_object(SHELLS, "default", "late")
    worker = shell["status"]["worker"]
    assert worker in idle  # claimed from the pool
    mine: dict[Triple, int] = {("cloudshell.cloudtty.io", "cloudshells", "create"): 1}
    role = sandbox.get_object("roles.rbac.authorization.k8s.io", "default", worker)
    assert role is not None
    request = urllib.request.Request(
        f"{sandbox.url}/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles/{worker}",
        data=json.dumps(
            {"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}
        ).encode(),
        method="PATCH",
        headers={
            "Content-Type": "application/merge-patch+json",
            "Authorization": f"Bearer {sandbox.admin_token}",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    mine[("rbac.authorization.k8s.io", "roles", "patch")] = 1
    wait_for(
        lambda: (
            (sandbox.get_object("roles.rbac.authorization.k8s.io", "default", worker) or {}).get(
                "rules"
            )
            == role["rules"]
        ),
        timeout=20,
        what="the worker's Role repaired",
    )
    return mine


def phase(sandbox: Any, name: str) -> str | None:
    # Read in-process: the test's own reads must not show up in the request counters.
    shell = sandbox.get_object(SHELLS, "default", name)
    if shell is None:
        return "Gone"
    return (shell.get("status") or {}).get("phase")


def test_operator_requests_are_exactly_the_chart_rules(sandbox: Any, cluster: OperatorHarness):
    prepare(cluster)
    config = chart_operator_config(sandbox.url)
    sandbox.reset_counters()
    from cloudtty_core.runtime.client import KubeClient

    running = OperatorThread(
        config,
        client=KubeClient.for_url(sandbox.url, sandbox.admin_token),
        extra_plugins=(("test-images", TestImages()),),
    )
    running.start()
    try:
        expected = {
            "generated": "Ready",
            "from-secret": "Ready",
            "from-configmap": "Ready",
            "routed": "Ready",
            "cold": "Ready",
            "shared-a": "Ready",
            "shared-b": "Gone",
            "expiring": "Completed",
            "own-route": "Ready",
            "routed-shared": "Gone",
            "routed-expiring": "Completed",
        }
        seen: dict[str, str | None] = {}

        def settled() -> bool:
            seen.update({n: phase(sandbox, n) for n in expected})
            return seen == expected

        try:
            wait_for(settled, timeout=60, what=f"shells in {expected}")
        except AssertionError as error:
            conditions = {
                n: (sandbox.get_object(SHELLS, "default", n) or {}).get("status", {})
                for n, p in seen.items()
                if p != expected[n]
            }
            raise AssertionError(f"phases {seen}; not settled: {conditions}") from error
        shared = sandbox.get_object("ingresses.networking.k8s.io", "default", "shells")
        assert shared is not None
        paths = str(shared["spec"])
        assert "shared-a" in paths
        assert "shared-b" not in paths
        mine = repair_tampered_objects(sandbox)
        for triple, count in claim_a_warm_worker(sandbox, cluster).items():
            mine[triple] = mine.get(triple, 0) + count
    finally:
        running.stop()
    used = requested(sandbox.counters())
    for triple, count in mine.items():
        used[triple] -= count
    used = {t: n for t, n in used.items() if n > 0}

    rules = chart_rules(
        ("ClusterRole", "Role"),
        namespace=RELEASE_NAMESPACE,
        sets=[f"operator.clusterRole={CLUSTER_ROLE}"],
    )
    worker_role = chart_rules(("Role",), namespace=RELEASE_NAMESPACE)
    operator_rules = [r for r in rules if r not in worker_role or r["resources"] == ["leases"]]
    assert_exactly_what_is_used(operator_rules, used, IMPLIED)

    # What makes the implied rules necessary did happen.
    binding = sandbox.get_object(
        "rolebindings.rbac.authorization.k8s.io", "default", "cloudshell-generated"
    )
    assert binding is not None
    assert binding["roleRef"]["name"] == CLUSTER_ROLE
    pods = [
        p
        for p in stored(sandbox, "pods", "default")
        if p["metadata"].get("labels", {}).get("cloudtty.io/shell") == "cold"
    ]
    assert pods
    assert any(
        ref.get("blockOwnerDeletion") and ref.get("kind") == "CloudShell"
        for pod in pods
        if pod
        for ref in pod["metadata"].get("ownerReferences", ())
    )


# ------------------------------------------------------------------------------ a warm worker


def test_worker_requests_are_exactly_its_own_role(sandbox: Any, tmp_path: Path):
    import aiohttp
    from cloudtty_webterm.config import ConfigError
    from cloudtty_webterm.kubeapi import InClusterConfig, KubeAPI
    from cloudtty_webterm.worker import session_secret_name, wait_for_session

    token = tmp_path / "token"
    token.write_text(sandbox.admin_token)
    config = InClusterConfig(sandbox.url, token, None)
    name = session_secret_name("cloudtty-webterm-abcde")
    client = sandbox.api_client()

    async def worker_then_session() -> None:
        async with aiohttp.ClientSession() as http:
            waiting = asyncio.create_task(wait_for_session(KubeAPI(config, http), "default", name))
            await asyncio.sleep(0.5)  # the worker has looked and is watching now
            # The operator's side (one counted request); the worker sees it through its watch.
            await asyncio.to_thread(
                __import__("kubernetes").client.CoreV1Api(client).create_namespaced_secret,
                "default",
                {"metadata": {"name": name}, "stringData": {"session.json": "{}"}},
            )
            with contextlib.suppress(ConfigError):  # a session it cannot use ends the wait too
                await asyncio.wait_for(waiting, timeout=20)

    sandbox.reset_counters()
    try:
        asyncio.run(worker_then_session())
    finally:
        client.close()
    used = requested(sandbox.counters())
    used[("", "secrets", "create")] -= 1  # the test's own request
    used = {t: n for t, n in used.items() if n > 0}
    # The Role the operator gives this worker (and no other): its own session Secret only.
    worker_rules = session_role("cloudtty-webterm-abcde", "default", {})["rules"]
    assert [r["resourceNames"] for r in worker_rules] == [[name]]
    assert_exactly_what_is_used(worker_rules, used, {})
