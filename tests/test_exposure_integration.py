"""Through the real operator on the sandbox cluster, every exposure backend routes a shell to
the terminal pod it is bound to (and to no other pod), and a shared Ingress or VirtualService
that shells join and leave in any order ends up with exactly the live shells' routes.

tests/test_runtime_exposure.py already checks that each mode reaches Ready with its URL; here
the route itself is followed: route -> Service -> selected pods -> Endpoints.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cloudtty_core import load_plugins
from cloudtty_core.runtime.client import Resource
from cloudtty_core.runtime.testing import OperatorHarness, wait_for

pytest.importorskip("kubernetes")
sandbox_module = pytest.importorskip("cloudtty_sandbox")

PODS = Resource("v1", "Pod", "pods")
SERVICES = Resource("v1", "Service", "services")
ENDPOINTS = Resource("v1", "Endpoints", "endpoints")
INGRESSES = Resource("networking.k8s.io/v1", "Ingress", "ingresses")
ISTIO = "networking.istio.io/v1"
VIRTUAL_SERVICES = Resource(ISTIO, "VirtualService", "virtualservices")
GATEWAY = "default/public"
ISTIO_PLACEHOLDER_ROUTE = "cloudtty-no-shells"

INSTALLED = set(load_plugins().registry.names("exposure"))


def needs(mode: str) -> Any:
    return pytest.mark.skipif(mode not in INSTALLED, reason=f"the {mode} plugin is not installed")


@pytest.fixture
def sandbox_config() -> Any:
    return sandbox_module.SandboxConfig(
        pod_start_delay=0.05, bookmark_interval=0.5, local_images={}
    )


@pytest.fixture
def harness(sandbox: Any) -> Iterator[OperatorHarness]:
    with OperatorHarness(sandbox.url, sandbox.admin_token) as running:
        yield running


# Following a route ---------------------------------------------------------------------------


def _selects(selector: dict[str, str], pod: dict[str, Any]) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def shell_service(harness: OperatorHarness, shell: dict[str, Any]) -> dict[str, Any]:
    """The one Service the shell owns."""
    uid = shell["metadata"]["uid"]
    names = [name for kind, name in harness.owned_by(uid) if kind == "Service"]
    assert len(names) == 1, f"shell {shell['metadata']['name']} owns Services {names}"
    return harness.client.get(SERVICES, "default", names[0])


def assert_service_reaches_only_the_worker(
    harness: OperatorHarness, shell: dict[str, Any]
) -> dict[str, Any]:
    """The shell's Service selects exactly its bound worker pod, and its Endpoints list exactly
    that pod's IP; the Service."""
    worker = shell["status"].get("worker")
    assert worker, f"a Ready shell names its worker: {shell['status']}"
    service = shell_service(harness, shell)
    selector = service["spec"].get("selector") or {}

    def others_too() -> list[dict[str, Any]] | None:
        """The live pods, once there are others than the worker (the refilled warm pool):
        they make the check mean something, the selector must pass them over."""
        pods = harness.items(PODS, "default")
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        return live if len(live) > 1 else None

    live_pods = wait_for(others_too, what="other pods than the worker")
    selected = sorted(p["metadata"]["name"] for p in live_pods if _selects(selector, p))
    assert selected == [worker], f"selector {selector} picks {selected}, not [{worker}]"

    worker_ip = harness.client.get(PODS, "default", worker)["status"]["podIP"]
    name = service["metadata"]["name"]

    def endpoint_ips() -> list[str] | None:
        try:
            endpoints = harness.client.get(ENDPOINTS, "default", name)
        except Exception:  # not written by the endpoints controller yet
            return None
        ips = sorted(
            a["ip"] for s in endpoints.get("subsets") or () for a in s.get("addresses") or ()
        )
        return ips or None

    ips = wait_for(endpoint_ips, what=f"Endpoints of {name}")
    assert ips == [worker_ip]
    return service


def service_port(service: dict[str, Any]) -> int:
    ports = service["spec"]["ports"]
    assert len(ports) == 1
    return int(ports[0]["port"])


def install_istio(harness: OperatorHarness) -> None:
    """The VirtualService and Gateway CRDs (written for tests) and a Gateway with a host."""
    crds = resources.files("cloudtty_istio") / "crds"
    for name in ("gateway.yaml", "virtualservice.yaml"):
        harness.client.create(yaml.safe_load((crds / name).read_text()))
    wait_for(
        lambda: (
            harness.client.serves(ISTIO, "VirtualService")
            and harness.client.serves(ISTIO, "Gateway")
        ),
        what="the Istio kinds served",
    )
    namespace, name = GATEWAY.split("/")
    harness.client.create(
        {
            "apiVersion": ISTIO,
            "kind": "Gateway",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "selector": {"istio": "ingressgateway"},
                "servers": [
                    {
                        "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                        "hosts": ["mesh.localhost"],
                    }
                ],
            },
        }
    )


def ingress_paths(ingress: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(path, service, port) of every path of an Ingress."""
    return sorted(
        (
            p["path"],
            p["backend"]["service"]["name"],
            int(p["backend"]["service"]["port"]["number"]),
        )
        for r in ingress["spec"].get("rules") or ()
        for p in (r.get("http") or {}).get("paths") or ()
    )


def vs_routes(vs: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(name, destination host, port) of every HTTP route of a VirtualService (placeholder
    routes, which have no destination, excluded)."""
    return sorted(
        (r.get("name", ""), d["destination"]["host"], int(d["destination"]["port"]["number"]))
        for r in vs["spec"].get("http") or ()
        for d in r.get("route") or ()
    )


def url_path(url: str) -> str:
    return "/" + url.split("://", 1)[-1].split("/", 1)[-1]


# Per backend: the route points at the worker -----------------------------------------------


@needs("NodePort")
def test_nodeport_service_reaches_exactly_the_bound_worker(harness: OperatorHarness) -> None:
    harness.create_shell("np", exposureMode="NodePort")
    harness.create_shell("other", exposureMode="NodePort")
    shell = harness.wait_phase("np", "Ready")
    other = harness.wait_phase("other", "Ready")
    assert shell["status"]["worker"] != other["status"]["worker"]
    service = assert_service_reaches_only_the_worker(harness, shell)
    assert service["spec"]["type"] == "NodePort"
    node_port = service["spec"]["ports"][0]["nodePort"]
    assert shell["status"]["accessUrl"].startswith(f"http://127.0.0.1:{node_port}/")
    assert_service_reaches_only_the_worker(harness, other)


@needs("ClusterIP")
def test_clusterip_service_reaches_exactly_the_bound_worker(harness: OperatorHarness) -> None:
    harness.create_shell("cip", exposureMode="ClusterIP")
    shell = harness.wait_phase("cip", "Ready")
    service = assert_service_reaches_only_the_worker(harness, shell)
    assert service["spec"]["type"] == "ClusterIP"
    name = service["metadata"]["name"]
    assert shell["status"]["accessUrl"].startswith(
        f"http://{name}.default.svc.cluster.local:{service_port(service)}/"
    )


@needs("Ingress")
def test_ingress_backend_is_the_service_of_the_bound_worker(harness: OperatorHarness) -> None:
    harness.create_shell("ing", exposureMode="Ingress", ingressConfig={"host": "shells.localhost"})
    shell = harness.wait_phase("ing", "Ready")
    service = assert_service_reaches_only_the_worker(harness, shell)
    uid = shell["metadata"]["uid"]
    owned = [name for kind, name in harness.owned_by(uid) if kind == "Ingress"]
    assert len(owned) == 1
    paths = ingress_paths(harness.client.get(INGRESSES, "default", owned[0]))
    assert paths, "the Ingress routes something"
    for _path, backend, port in paths:
        assert (backend, port) == (service["metadata"]["name"], service_port(service))
    assert url_path(shell["status"]["accessUrl"]).rstrip("/") in {p.rstrip("/") for p, *_ in paths}


@needs("VirtualService")
def test_virtualservice_destination_is_the_service_of_the_bound_worker(
    harness: OperatorHarness,
) -> None:
    install_istio(harness)
    harness.create_shell(
        "mesh", exposureMode="VirtualService", virtualServiceConfig={"gateway": GATEWAY}
    )
    shell = harness.wait_phase("mesh", "Ready")
    service = assert_service_reaches_only_the_worker(harness, shell)
    routes = [
        vs
        for vs in harness.items(VIRTUAL_SERVICES, "default")
        if any(
            o["uid"] == shell["metadata"]["uid"]
            for o in vs["metadata"].get("ownerReferences") or ()
        )
    ]
    assert len(routes) == 1
    host = f"{service['metadata']['name']}.default.svc.cluster.local"
    assert vs_routes(routes[0]) == [("cloudshell.default.mesh", host, service_port(service))]
    assert GATEWAY in routes[0]["spec"]["gateways"]


# Shared objects: shells join and leave in any order ------------------------------------------

MAX_SHELLS = 4
#: add a new shell, or delete the live shell at an index (modulo how many are live)
OPERATIONS = st.lists(
    st.one_of(st.just(("add", 0)), st.tuples(st.just("delete"), st.integers(0, MAX_SHELLS - 1))),
    min_size=2,
    max_size=6,
).map(lambda operations: [("add", 0), *operations])
SHARED_SETTINGS = settings(
    max_examples=4,
    derandomize=True,
    deadline=None,
    # Shrinking would replay the operations against the same operator many times over.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    # One sandbox and operator serve every example: each example uses new shell names and
    # waits until its deleted shells are gone, so the shared object carries over only what the
    # previous example left -- which the next example's end state must not contain either.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def run_operations(
    harness: OperatorHarness, prefix: str, operations: list[tuple[str, int]], **spec: Any
) -> tuple[list[str], list[str]]:
    """Create and delete shells as ``operations`` say (without waiting in between); the live
    and the deleted shells' names, once the deleted ones are gone."""
    live: list[str] = []
    deleted: list[str] = []
    created = 0
    for action, index in operations:
        if action == "add" and created < MAX_SHELLS:
            name = f"{prefix}-{created}"
            created += 1
            harness.create_shell(name, **spec)
            live.append(name)
        elif action == "delete" and live:
            name = live.pop(index % len(live))
            harness.delete_shell(name)
            deleted.append(name)
    for name in deleted:
        harness.wait_gone(name)
    return live, deleted


def cleanup(harness: OperatorHarness, live: list[str]) -> None:
    for name in live:
        harness.delete_shell(name)
    for name in live:
        harness.wait_gone(name)


@needs("Ingress")
def test_a_shared_ingress_ends_with_exactly_the_live_shells_paths(
    harness: OperatorHarness,
) -> None:
    counter = itertools.count()
    config = {"ingressName": "shared", "host": "shells.localhost"}

    @SHARED_SETTINGS
    @given(operations=OPERATIONS)
    def check(operations: list[tuple[str, int]]) -> None:
        live, deleted = run_operations(
            harness, f"i{next(counter)}", operations, exposureMode="Ingress", ingressConfig=config
        )
        try:
            shells = {n: harness.wait_phase(n, "Ready") for n in live}
            expected = sorted(
                (
                    url_path(s["status"]["accessUrl"]),
                    svc["metadata"]["name"],
                    service_port(svc),
                )
                for s in shells.values()
                for svc in [assert_service_reaches_only_the_worker(harness, s)]
            )
            for shell in shells.values():
                assert shell["status"]["accessUrl"].startswith(
                    ("http://shells.localhost/", "http://shells.localhost:")
                )

            wanted = sorted((p.rstrip("/") + "/", s, n) for p, s, n in expected)
            seen: list[Any] = []

            def paths() -> tuple[list[tuple[str, str, int]]] | None:
                found = ingress_paths(harness.client.get(INGRESSES, "default", "shared"))
                seen[:] = found
                normalised = sorted((p.rstrip("/") + "/", s, n) for p, s, n in found)
                return (found,) if normalised == wanted else None

            try:
                (found,) = wait_for(paths, timeout=10)
            except AssertionError:
                pytest.fail(f"shared Ingress paths {seen}, wanted {wanted} (deleted {deleted})")
            stray = [p for p in found for name in deleted if p[0].rstrip("/").endswith(name)]
            assert not stray
        finally:
            cleanup(harness, live)

    check()


@needs("VirtualService")
def test_a_shared_virtualservice_ends_with_exactly_the_live_shells_routes(
    harness: OperatorHarness,
) -> None:
    install_istio(harness)
    counter = itertools.count()
    config = {"virtualServiceName": "shared", "gateway": GATEWAY}

    @SHARED_SETTINGS
    @given(operations=OPERATIONS)
    def check(operations: list[tuple[str, int]]) -> None:
        live, deleted = run_operations(
            harness,
            f"v{next(counter)}",
            operations,
            exposureMode="VirtualService",
            virtualServiceConfig=config,
        )
        try:
            shells = {n: harness.wait_phase(n, "Ready") for n in live}
            expected = sorted(
                (
                    f"cloudshell.default.{name}",
                    f"{svc['metadata']['name']}.default.svc.cluster.local",
                    service_port(svc),
                )
                for name, s in shells.items()
                for svc in [assert_service_reaches_only_the_worker(harness, s)]
            )
            for shell in shells.values():
                assert shell["status"]["accessUrl"].startswith(
                    ("http://mesh.localhost/", "http://mesh.localhost:")
                )

            seen: list[Any] = []

            def routes() -> dict[str, Any] | None:
                vs = harness.client.get(VIRTUAL_SERVICES, "default", "shared")
                seen[:] = vs_routes(vs)
                return vs if seen == expected else None

            try:
                vs = wait_for(routes, timeout=10)
            except AssertionError:
                pytest.fail(
                    f"shared VirtualService routes {seen}, wanted {expected} (deleted {deleted})"
                )
            names = [r.get("name") for r in vs["spec"]["http"]]
            if live:
                assert ISTIO_PLACEHOLDER_ROUTE not in names
            else:
                assert names == [ISTIO_PLACEHOLDER_ROUTE]
        finally:
            cleanup(harness, live)

    check()
