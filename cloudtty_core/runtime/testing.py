"""Running the operator against a cluster from tests and benchmarks.

:class:`OperatorHarness` starts an :class:`~cloudtty_core.runtime.OperatorThread` against an
API server (typically the sandbox cluster: its URL and admin token), installs the CloudShell
CRD, and gives the test a client of its own plus small helpers -- create a shell, wait for a
phase, list what a shell left behind. :class:`TestImages` registers in-memory image backends
whose pods the sandbox simulates (no local process), so a shell reaches Ready in the time the
sandbox's kubelet takes.

Nothing here asserts how fast anything is: waits have generous limits and fail with what they
last saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attrs

from cloudtty_core.backends import ObjectRef, OperatorSettings
from cloudtty_core.crd import crd_manifest
from cloudtty_core.hookspecs import hookimpl
from cloudtty_core.model import API_VERSION, KIND, PLURAL, Manifest
from cloudtty_core.plan import (
    LABEL_ROLE,
    LABEL_SHELL_UID,
    LABEL_STATE,
    LABEL_WORKER,
    ROLE_WORKER,
    STATE_IDLE,
)
from cloudtty_core.registry import BackendRegistry
from cloudtty_core.testing.fakes import FakeImageBackend

from .apply import WriteHook
from .client import AlreadyExists, KubeClient, NotFound, Resource
from .config import RuntimeConfig
from .operator import OperatorThread

__all__ = [
    "COLD_IMAGE",
    "REAL_IMAGE_PLUGINS",
    "SHELLS",
    "WARM_IMAGE",
    "OperatorHarness",
    "TestImages",
    "client_with_refresh_hook",
    "wait_for",
]

T = TypeVar("T")

WARM_IMAGE = "sandbox-term"
"""An image backend with a warm pool (its pods are simulated by the sandbox)."""
COLD_IMAGE = "sandbox-cold"
"""An image backend that cannot start warm: one cold pod per shell."""

REAL_IMAGE_PLUGINS = ("cloudtty-webterm", "cloudtty-ttyd")
"""Blocked by default: the harness serves shells with :class:`TestImages`, whose pods the
sandbox only simulates, so pools and timings do not depend on which plugins are installed."""

SHELLS = Resource(API_VERSION, KIND, PLURAL)
PODS = Resource("v1", "Pod", "pods")

#: Kinds a shell may leave objects of, checked by :meth:`OperatorHarness.leftovers`.
_PODS = Resource("v1", "Pod", "pods")
_SECRETS = Resource("v1", "Secret", "secrets")

SHELL_OBJECT_KINDS = (
    PODS,
    Resource("v1", "Service", "services"),
    Resource("v1", "Secret", "secrets"),
    Resource("v1", "ServiceAccount", "serviceaccounts"),
    Resource("v1", "ConfigMap", "configmaps"),
    Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    Resource("networking.k8s.io/v1", "Ingress", "ingresses"),
)


class TestImages:
    """A plugin registering the in-memory image backends ``sandbox-term`` (warm pool) and
    ``sandbox-cold`` (a cold pod per shell)."""

    __test__ = False  # not a pytest test class

    @hookimpl
    def cloudtty_register_backends(self, registry: BackendRegistry) -> None:
        """Add both image backends."""
        with registry.provided_by("cloudtty-core-testing"):
            registry.add_image(FakeImageBackend(name=WARM_IMAGE))
            registry.add_image(
                FakeImageBackend(
                    name=COLD_IMAGE,
                    supports_warm_pool=False,
                    default_image="example.org/cold-terminal:1",
                )
            )


def client_with_refresh_hook(
    url: str, tokens: list[str], ca_path: str | None = None
) -> tuple[KubeClient, list[int]]:
    """A client whose official configuration takes its token from ``tokens[-1]`` each time its
    refresh hook runs (as a kubeconfig with an exec plugin does), and the list that counts the
    hook's runs: for tests of credential reuse and refresh."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = url
    if ca_path is not None:
        configuration.ssl_ca_cert = ca_path
    configuration.api_key = {"BearerToken": tokens[-1]}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    runs: list[int] = []

    def refresh(config: Any) -> None:
        runs.append(1)
        config.api_key["BearerToken"] = tokens[-1]

    configuration.refresh_api_key_hook = refresh  # type: ignore[assignment]
    return KubeClient(client.ApiClient(configuration)), runs


def wait_for(
    check: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.02, what: str = ""
) -> T:
    """Call ``check`` until it returns something truthy; return that (fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"not met within {timeout}s: {what or check}; last: {last!r}")
        time.sleep(interval)


def shell_manifest(name: str, namespace: str = "default", **spec: Any) -> Manifest:
    """A CloudShell; ``spec`` takes JSON field names. ``imageBackend`` defaults to the warm
    test backend."""
    spec.setdefault("imageBackend", WARM_IMAGE)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


@attrs.define
class OperatorHarness:
    """An operator (in a thread) against the API server at ``url``, and a client for the test.

    :param url: the API server.
    :param token: a bearer token for both the operator and the test.
    :param settings: operator settings (``cluster_server`` defaults to ``url``).
    :param config: other :class:`RuntimeConfig` fields (by default the real image plugins
        are blocked: see :data:`REAL_IMAGE_PLUGINS`).
    :param plugins: plugins registered besides the installed ones (default: :class:`TestImages`).
    :param write_hook: passed to the operator (fault injection).
    """

    url: str
    token: str
    settings: OperatorSettings | None = None
    config: Mapping[str, Any] = attrs.field(factory=dict)
    plugins: Iterable[object | tuple[str, object]] = (("test-images", TestImages()),)
    write_hook: WriteHook | None = None
    client: KubeClient = attrs.field(init=False)
    running: OperatorThread | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self.client = KubeClient.for_url(self.url, self.token)

    # The operator --------------------------------------------------------------------------

    def runtime_config(self) -> RuntimeConfig:
        """The configuration the operator starts with."""
        settings = self.settings or OperatorSettings(cluster_server=self.url)
        fields = {
            "metrics_port": None,
            "pool_namespaces": ("default",),
            "blocked_plugins": REAL_IMAGE_PLUGINS,
            **self.config,
        }
        return RuntimeConfig(settings=settings, **fields)

    def install_crd(self) -> None:
        """Create the CloudShell CRD (once)."""
        try:
            self.client.create(crd_manifest())
        except AlreadyExists:
            pass

    def start(self, *, write_hook: WriteHook | None = None, wait: bool = True) -> OperatorThread:
        """Install the CRD and start the operator (wait until it reconciles)."""
        self.install_crd()
        self.running = OperatorThread(
            self.runtime_config(),
            client=KubeClient.for_url(self.url, self.token),
            extra_plugins=self.plugins,
            write_hook=write_hook or self.write_hook,
        )
        self.running.start(wait=wait)
        return self.running

    def stop(self) -> None:
        """Stop the operator (gracefully)."""
        if self.running is not None:
            self.running.stop()
            self.running = None

    def __enter__(self) -> OperatorHarness:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.client.close()

    # Shells --------------------------------------------------------------------------------

    def create_shell(self, name: str, namespace: str = "default", **spec: Any) -> Manifest:
        """Create a CloudShell (see :func:`shell_manifest`)."""
        return self.client.create(shell_manifest(name, namespace, **spec))

    def shell(self, name: str, namespace: str = "default") -> Manifest | None:
        """The CloudShell as the API server has it, or None."""
        try:
            return self.client.get(SHELLS, namespace, name)
        except NotFound:
            return None

    def delete_shell(self, name: str, namespace: str = "default") -> None:
        """Delete a CloudShell (the operator then removes what it made)."""
        try:
            self.client.delete(ObjectRef(API_VERSION, KIND, namespace, name))
        except NotFound:
            pass

    def wait_phase(
        self, name: str, phase: str, namespace: str = "default", timeout: float = 20.0
    ) -> Manifest:
        """Wait until the shell's ``status.phase`` is ``phase``; the shell."""

        def check() -> Manifest | None:
            shell = self.shell(name, namespace)
            if shell is not None and (shell.get("status") or {}).get("phase") == phase:
                return shell
            return None

        return wait_for(check, timeout, what=f"{namespace}/{name} in phase {phase}")

    def wait_gone(self, name: str, namespace: str = "default", timeout: float = 20.0) -> None:
        """Wait until the shell no longer exists."""
        wait_for(
            lambda: self.shell(name, namespace) is None,
            timeout,
            what=f"{namespace}/{name} deleted",
        )

    def condition(self, shell: Manifest, type_: str) -> Manifest | None:
        """A condition of a shell's status."""
        for condition in (shell.get("status") or {}).get("conditions") or ():
            if condition.get("type") == type_:
                return dict(condition)
        return None

    # Objects -------------------------------------------------------------------------------

    def items(
        self,
        resource: Resource,
        namespace: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> list[Manifest]:
        """Objects of a kind, as the API server lists them."""
        return list(self.client.list(resource, namespace, labels=labels).get("items") or ())

    def made_for(self, uid: str) -> list[tuple[str, str]]:
        """(kind, name) of every object labelled as made for shell ``uid`` and not deleting,
        and the pod of each pool worker it claimed (owned by its session Secret, which is
        labelled for the shell)."""
        found = []
        sessions: set[str] = set()
        for resource in SHELL_OBJECT_KINDS:
            for obj in self.items(resource, None, {LABEL_SHELL_UID: uid}):
                if not obj["metadata"].get("deletionTimestamp"):
                    found.append((resource.kind, str(obj["metadata"]["name"])))
                    if resource.kind == "Secret":
                        sessions.add(str(obj["metadata"]["uid"]))
        for pod in self.items(_PODS, None, {LABEL_ROLE: ROLE_WORKER}):
            owners = pod["metadata"].get("ownerReferences") or ()
            mine = any(o.get("uid") in sessions for o in owners)
            if mine and not pod["metadata"].get("deletionTimestamp"):
                found.append(("Pod", str(pod["metadata"]["name"])))
        return sorted(set(found))

    def idle_workers(self, namespace: str = "default") -> list[Manifest]:
        """The pool's unclaimed worker pods of ``namespace`` (Ready or not, not deleting): a
        worker is idle while its session Secret says so."""
        idle = {
            str(s["metadata"]["labels"].get(LABEL_WORKER))
            for s in self.items(_SECRETS, namespace, {LABEL_STATE: STATE_IDLE})
        }
        return [
            p
            for p in self.items(_PODS, namespace, {LABEL_ROLE: ROLE_WORKER})
            if p["metadata"]["name"] in idle and not p["metadata"].get("deletionTimestamp")
        ]

    def owned_by(self, uid: str) -> list[tuple[str, str]]:
        """(kind, name) of every object whose ownerReferences name ``uid``."""
        found = []
        for resource in SHELL_OBJECT_KINDS:
            for obj in self.items(resource):
                owners = obj["metadata"].get("ownerReferences") or ()
                if any(o.get("uid") == uid for o in owners):
                    found.append((resource.kind, str(obj["metadata"]["name"])))
        return sorted(found)

    def stats(self) -> dict[str, Any]:
        """The running operator's counters."""
        assert self.running is not None, "the operator is not running"
        return dict(self.running.call(self.running.operator.stats))
