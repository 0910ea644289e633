"""The Ingress backend's own rules: paths, hosts, classes, TLS, URLs and shared entries."""

from __future__ import annotations

from typing import Any

from cloudtty_ingress import (
    IngressBackend,
    concrete_host,
    resolve_ingress_class,
    route_path,
    with_entry,
    without_entries,
)
from cloudtty_ingress.plugin import cloudtty_register_backends
from cloudtty_ingress.shared import path_entry

from cloudtty_core import (
    BackendRegistry,
    ExposureRequest,
    Manifest,
    OperatorSettings,
    Snapshot,
    WorkerRef,
    load_plugins,
    shell_from_dict,
)
from cloudtty_core.testing import cloudshell, validate_kubernetes_object


def ingress_class(
    name: str, default: bool = False, created: str = "2024-01-01T00:00:00Z"
) -> Manifest:
    meta: dict[str, Any] = {"name": name, "creationTimestamp": created}
    if default:
        meta["annotations"] = {"ingressclass.kubernetes.io/is-default-class": "true"}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": meta,
        "spec": {"controller": f"example.com/{name}"},
    }


WORKER = WorkerRef("pod-1", "ns", 7681, "cloudshell-x", {"cloudtty.io/shell": "x"})
CLASSES = Snapshot.of(ingress_class("nginx", default=True))


def shell(name: str = "x", **spec: Any) -> Any:
    return shell_from_dict(cloudshell(name, "ns", exposureMode="Ingress", **spec))


def expose(cluster: Snapshot, **spec: Any) -> Any:
    return IngressBackend().expose(
        ExposureRequest(shell(**spec), WORKER, cluster, OperatorSettings())
    )


def release(cluster: Snapshot, **spec: Any) -> tuple[Manifest, ...]:
    return IngressBackend().release(
        ExposureRequest(shell(**spec), WORKER, cluster, OperatorSettings())
    )


def applied(ingress: Manifest, **status: Any) -> Manifest:
    """``ingress`` as the API server stores it (a resourceVersion, maybe a status)."""
    return {
        **ingress,
        "metadata": {**ingress["metadata"], "resourceVersion": "7"},
        "status": status,
    }


def owned_ingress(exposure: Any) -> Manifest:
    (ingress,) = [o for o in exposure.owned if o["kind"] == "Ingress"]
    return ingress


# Paths and hosts ---------------------------------------------------------------------------


def test_paths_follow_cloudtty() -> None:
    """The manifest from CloudTTY's documentation keeps its URL path."""
    s = shell("nginx-demo", pathPrefix="/apis/cloudtty.io/")
    assert route_path(s) == "/apis/cloudtty.io/apis/v1alpha1/cloudshell/nginx-demo"
    assert route_path(shell("a")) == "/apis/v1alpha1/cloudshell/a"
    assert route_path(shell("a", pathSuffix="/term/")) == "/apis/v1alpha1/cloudshell/a/term"
    assert route_path(shell("a", pathPrefix="/p//q")) == "/p/q/apis/v1alpha1/cloudshell/a"


def test_wildcard_hosts_become_the_shells_own_host() -> None:
    assert concrete_host("*.shells.example.com", shell("x")) == "x-ns.shells.example.com"
    assert concrete_host("shells.example.com", shell("x")) == "shells.example.com"
    assert concrete_host(None, shell("x")) is None


# IngressClass ------------------------------------------------------------------------------


def test_named_class_must_exist() -> None:
    waiting = resolve_ingress_class(CLASSES, "traefik")
    assert not isinstance(waiting, str)
    assert waiting.reason == "IngressClassNotFound"
    assert "traefik" in waiting.message
    assert resolve_ingress_class(CLASSES, "nginx") == "nginx"


def test_no_class_and_no_default_waits_with_a_clear_message() -> None:
    exposure = expose(Snapshot.of(ingress_class("nginx")), ingressConfig={"host": "h.example.com"})
    assert exposure.url is None
    assert exposure.waiting.reason == "NoIngressClass"
    assert "ingressClassName" in exposure.waiting.message
    assert "is-default-class" in exposure.waiting.message
    assert [o["kind"] for o in exposure.owned] == ["Service"]


def test_the_newest_default_class_wins() -> None:
    cluster = Snapshot.of(
        ingress_class("old", True, "2023-01-01T00:00:00Z"),
        ingress_class("new", True, "2024-06-01T00:00:00Z"),
    )
    assert resolve_ingress_class(cluster, None) == "new"


# The per-shell Ingress ---------------------------------------------------------------------


def test_per_shell_ingress_is_schema_valid_and_websocket_friendly() -> None:
    exposure = expose(
        CLASSES,
        ingressConfig={
            "host": "h.example.com",
            "tlsSecretName": "tls",
            "annotations": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "86400", "a/b": "c"},
        },
    )
    ingress = owned_ingress(exposure)
    validate_kubernetes_object({**ingress, "metadata": {**ingress["metadata"], "namespace": "ns"}})
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "86400"  # user wins
    assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
    assert annotations["a/b"] == "c"
    assert "nginx.ingress.kubernetes.io/rewrite-target" not in annotations
    assert exposure.base_path == "/apis/v1alpha1/cloudshell/x/"


def test_url_only_once_the_ingress_routes_the_path() -> None:
    first = expose(CLASSES, ingressConfig={"host": "h.example.com"})
    assert first.url is None
    assert first.waiting.reason == "IngressPending"
    assert first.waiting.transient
    observed = CLASSES.put(applied(owned_ingress(first)))
    assert expose(observed, ingressConfig={"host": "h.example.com"}).url == (
        "http://h.example.com/apis/v1alpha1/cloudshell/x/"
    )


def test_without_host_the_url_uses_the_published_address_and_port() -> None:
    first = expose(CLASSES)
    ingress = owned_ingress(first)
    assert "host" not in ingress["spec"]["rules"][0]
    pending = expose(CLASSES.put(applied(ingress)))
    assert pending.waiting.reason == "IngressAddressPending"
    published = applied(
        ingress,
        loadBalancer={
            "ingress": [{"ip": "127.0.0.1", "ports": [{"port": 18080, "protocol": "TCP"}]}]
        },
    )
    assert (
        expose(CLASSES.put(published)).url == "http://127.0.0.1:18080/apis/v1alpha1/cloudshell/x/"
    )
    standard = applied(
        ingress, loadBalancer={"ingress": [{"hostname": "lb.example.com", "ports": [{"port": 80}]}]}
    )
    assert expose(CLASSES.put(standard)).url == "http://lb.example.com/apis/v1alpha1/cloudshell/x/"


def test_tls_makes_the_url_https_and_a_wildcard_host_concrete() -> None:
    config = {"host": "*.shells.example.com", "tlsSecretName": "wild"}
    ingress = owned_ingress(expose(CLASSES, ingressConfig=config))
    assert ingress["spec"]["tls"] == [{"hosts": ["x-ns.shells.example.com"], "secretName": "wild"}]
    url = expose(CLASSES.put(applied(ingress)), ingressConfig=config).url
    assert url == "https://x-ns.shells.example.com/apis/v1alpha1/cloudshell/x/"


# The shared Ingress ------------------------------------------------------------------------


def shared_ingress(*entries: tuple[str | None, str, str], **spec: Any) -> Manifest:
    rules: dict[str | None, list[Manifest]] = {}
    for host, path, service in entries:
        rules.setdefault(host, []).append(path_entry(path, service, 80))
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "shared", "namespace": "ns", "resourceVersion": "41"},
        "spec": {
            "rules": [
                {**({"host": h} if h else {}), "http": {"paths": p}} for h, p in rules.items()
            ],
            **spec,
        },
    }


SHARED = {"ingressName": "shared", "host": "h.example.com"}
OUR_PATH = "/apis/v1alpha1/cloudshell/x"


def test_the_first_shell_creates_the_shared_ingress() -> None:
    exposure = expose(CLASSES, ingressConfig=SHARED)
    (ingress,) = exposure.shared
    assert ingress["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "cloudtty"}
    assert "resourceVersion" not in ingress["metadata"]
    assert [o["kind"] for o in exposure.owned] == ["Service"]


def test_adding_keeps_other_entries_and_the_resource_version() -> None:
    observed = shared_ingress(
        ("h.example.com", "/other", "cloudshell-other"), (None, "/", "portal")
    )
    (updated,) = expose(CLASSES.put(observed), ingressConfig=SHARED).shared
    assert updated["metadata"]["resourceVersion"] == "41"
    assert updated["spec"]["rules"][0]["http"]["paths"] == [
        path_entry("/other", "cloudshell-other", 80),
        path_entry(OUR_PATH, "cloudshell-x", 7681),
    ]
    assert updated["spec"]["rules"][1] == observed["spec"]["rules"][1]


def test_a_shell_already_in_place_changes_nothing() -> None:
    observed = shared_ingress(("h.example.com", OUR_PATH, "cloudshell-x"))
    observed["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["number"] = 7681
    (annotated,) = expose(CLASSES.put(observed), ingressConfig=SHARED).shared
    assert annotated["spec"] == observed["spec"]  # only the missing timeouts were added
    assert annotated["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]
    exposure = expose(CLASSES.put(annotated), ingressConfig=SHARED)
    assert exposure.shared == ()
    assert exposure.url == f"http://h.example.com{OUR_PATH}/"


def test_a_path_another_backend_holds_is_a_conflict_not_a_takeover() -> None:
    observed = shared_ingress(("h.example.com", OUR_PATH + "/", "someone-else"))
    exposure = expose(CLASSES.put(observed), ingressConfig=SHARED)
    assert exposure.shared == ()
    assert exposure.waiting.reason == "PathConflict"
    assert "someone-else" in exposure.waiting.message


def test_a_moved_host_moves_the_entry() -> None:
    observed = shared_ingress(
        ("old.example.com", OUR_PATH, "cloudshell-x"), ("old.example.com", "/o", "other")
    )
    (updated,) = expose(CLASSES.put(observed), ingressConfig=SHARED).shared
    hosts = {
        r.get("host"): [p["path"] for p in r["http"]["paths"]] for r in updated["spec"]["rules"]
    }
    assert hosts == {"old.example.com": ["/o"], "h.example.com": [OUR_PATH]}


def test_release_removes_only_this_shells_entry() -> None:
    observed = shared_ingress(
        ("h.example.com", OUR_PATH, "cloudshell-x"), ("h.example.com", "/o", "other")
    )
    (updated,) = release(CLASSES.put(observed), ingressConfig=SHARED)
    assert updated["spec"]["rules"] == [
        {"host": "h.example.com", "http": {"paths": [path_entry("/o", "other", 80)]}}
    ]
    assert updated["metadata"]["resourceVersion"] == "41"
    assert release(CLASSES.put(updated), ingressConfig=SHARED) == ()


def test_the_last_shell_leaves_a_valid_ingress_that_routes_nothing() -> None:
    observed = shared_ingress(
        ("h.example.com", OUR_PATH, "cloudshell-x"),
        tls=[{"hosts": ["h.example.com"], "secretName": "t"}],
    )
    (updated,) = release(CLASSES.put(observed), ingressConfig={**SHARED, "tlsSecretName": "t"})
    assert updated["spec"]["rules"] == [{"host": "h.example.com"}]
    assert "tls" not in updated["spec"]
    validate_kubernetes_object(updated)


def test_release_of_a_per_shell_ingress_is_empty() -> None:
    assert release(CLASSES, ingressConfig={"host": "h.example.com"}) == ()


def test_with_entry_and_without_entries_are_inverse_on_fresh_rules() -> None:
    base = shared_ingress(("a.example.com", "/a", "other"))
    added = with_entry(base, "b.example.com", path_entry("/b", "mine", 1), tls_secret="s")
    assert without_entries(added, "mine", host="b.example.com", tls_secret="s") == base


def test_the_plugin_registers_ingress() -> None:
    registry = BackendRegistry()
    cloudtty_register_backends(registry)
    assert registry.names("exposure") == ("Ingress",)
    assert (
        load_plugins(environ={}).registry.get("exposure", "Ingress").distribution
        == "cloudtty-ingress"
    )
    kinds = {(k.kind, k.namespaced) for k in IngressBackend().watched_kinds}
    assert kinds == {("Ingress", True), ("IngressClass", False)}
