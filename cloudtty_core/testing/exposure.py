"""The conformance suite every exposure backend runs: subclass :class:`ExposureBackendTests`.

::

    from cloudtty_core.testing import ExposureBackendTests

    class TestMyRoute(ExposureBackendTests):
        @pytest.fixture
        def backend(self):
            return MyRouteBackend()

        @pytest.fixture
        def cluster(self):  # optional: what the backend needs to give a URL
            return Snapshot.with_default_node(my_gateway_manifest)

Extension points for subclasses: override :meth:`check_object` to validate every object the
backend makes (e.g. against the Kubernetes OpenAPI schema), :meth:`shell_spec` to give the
shell backend-specific settings, and add fixtures or tests of your own.
"""

from __future__ import annotations

from typing import Any

import pytest

from cloudtty_core.backends import (
    ClusterView,
    ExposureBackend,
    ExposureRequest,
    KindRef,
    ObjectRef,
    OperatorSettings,
    Snapshot,
    WorkerRef,
)
from cloudtty_core.model import API_VERSION, KIND, Manifest
from cloudtty_core.plan import (
    LABEL_SHELL_UID,
    ClusterPoolView,
    Plan,
    PlanContext,
    plan,
)
from cloudtty_core.plan.names import ShellIdentity, service_name, worker_selector
from cloudtty_core.registry import BackendRegistry
from cloudtty_core.simulation.api import apply_plan
from cloudtty_core.simulation.converge import NOW, Converged, converge, shell_ref
from cloudtty_core.testing.fakes import FakeAuthBackend, FakeImageBackend
from cloudtty_core.validation import shell_from_dict

__all__ = ["ExposureBackendTests"]

_PORT = FakeImageBackend().port
_KUBECONFIG = (
    "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://k8s'}}]\n"
)


class ExposureBackendTests:
    """Shared tests of the exposure backend contract. Subclasses provide ``backend``."""

    namespace = "team-a"
    shell_names = ("alice", "bob")

    # Fixtures subclasses provide or override ------------------------------------------------

    @pytest.fixture
    def backend(self) -> ExposureBackend:
        """The backend under test (subclasses must override this fixture)."""
        raise NotImplementedError("subclasses of ExposureBackendTests provide a backend fixture")

    @pytest.fixture
    def cluster(self) -> Snapshot:
        """The cluster before any shell: by default one Ready node at 127.0.0.1."""
        return Snapshot.with_default_node()

    @pytest.fixture
    def settings(self) -> OperatorSettings:
        """Operator settings for the tests."""
        return OperatorSettings(min_idle=0)

    @pytest.fixture
    def context(self, backend: ExposureBackend, settings: OperatorSettings) -> PlanContext:
        """The plan context of the tests (see :meth:`make_context`)."""
        return self.make_context(backend, settings)

    def make_context(self, backend: ExposureBackend, settings: OperatorSettings) -> PlanContext:
        """A plan context with ``backend`` and fake image and auth backends."""
        registry = BackendRegistry()
        with registry.provided_by("the backend under test"):
            registry.add_exposure(backend)
        with registry.provided_by("cloudtty-core-testing"):
            registry.add_image(FakeImageBackend(name="webterm"))
            registry.add_auth(FakeAuthBackend("none"))
        return PlanContext(registry, settings, token_source=lambda: "test-token")

    def shell_spec(self, backend: ExposureBackend, name: str) -> dict[str, Any]:
        """The spec of the test shell ``name``; override to add backend settings."""
        return {"exposureMode": backend.name, "secretRef": {"name": "kubeconfig"}}

    def check_object(self, manifest: Manifest) -> None:
        """Called for every object the backend makes (owned and shared). Extend it."""
        assert isinstance(manifest.get("apiVersion"), str), manifest
        assert isinstance(manifest.get("kind"), str), manifest
        assert (manifest.get("metadata") or {}).get("name"), manifest

    # Helpers ---------------------------------------------------------------------------------

    def with_shells(self, cluster: Snapshot, backend: ExposureBackend, *names: str) -> Snapshot:
        """``cluster`` plus the kubeconfig Secret and the CloudShells ``names``."""
        secret: Manifest = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "kubeconfig", "namespace": self.namespace},
            "stringData": {"config": _KUBECONFIG},
        }
        result = apply_plan(cluster, _creates(secret))
        for name in names:
            shell = {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": self.shell_spec(backend, name),
            }
            result = apply_plan(result, _creates(shell))
        return result

    def refs(self, *names: str) -> list[ObjectRef]:
        """References of the test shells."""
        return [shell_ref(self.namespace, n) for n in names]

    def ready(self, cluster: Snapshot, backend: ExposureBackend, context: PlanContext) -> Converged:
        """Every test shell planned until nothing changes."""
        start = self.with_shells(cluster, backend, *self.shell_names)
        return converge(start, self.refs(*self.shell_names), context)

    def made_for(
        self, snapshot: ClusterView, uid: str, kinds: tuple[KindRef, ...]
    ) -> list[Manifest]:
        """Objects labelled as made for the shell with ``uid``."""
        found: list[Manifest] = []
        for kind in kinds:
            if snapshot.has_api(kind.api_version, kind.kind):
                found += snapshot.list(kind.api_version, kind.kind, None, {LABEL_SHELL_UID: uid})
        return found

    def kinds(self, backend: ExposureBackend) -> tuple[KindRef, ...]:
        """Every kind a shell's objects may have."""
        base = (
            KindRef("v1", "Pod", "pods"),
            KindRef("v1", "Service", "services"),
            KindRef("v1", "Secret", "secrets"),
            KindRef("v1", "ConfigMap", "configmaps"),
        )
        return base + tuple(backend.watched_kinds)

    # The contract ----------------------------------------------------------------------------

    def test_backend_has_a_name_and_kinds(self, backend: ExposureBackend) -> None:
        """``name`` is the exposureMode; ``watched_kinds`` are KindRefs."""
        assert isinstance(backend.name, str)
        assert backend.name
        assert all(isinstance(k, KindRef) for k in backend.watched_kinds)

    def test_shells_become_ready_with_a_url(
        self, backend: ExposureBackend, cluster: Snapshot, context: PlanContext
    ) -> None:
        """With what the cluster needs in place, every shell ends Ready with an http(s) URL,
        and the URLs of two shells differ."""
        done = self.ready(cluster, backend, context)
        urls = []
        for ref in self.refs(*self.shell_names):
            status = (done.shell(ref) or {}).get("status") or {}
            assert status.get("phase") == "Ready", status
            url = status.get("accessUrl")
            assert isinstance(url, str)
            assert url.startswith(("http://", "https://")), url
            urls.append(url)
        assert len(set(urls)) == len(urls)

    def test_url_is_what_the_observed_objects_give(
        self, backend: ExposureBackend, cluster: Snapshot, context: PlanContext
    ) -> None:
        """The status shows exactly the URL the backend derives from the observed objects; a
        shell is never Ready before its first plan was applied."""
        start = self.with_shells(cluster, backend, "carol")
        first = plan(
            start.get(API_VERSION, KIND, self.namespace, "carol") or {},
            start,
            ClusterPoolView(start),
            NOW,
            context,
        )
        assert first.status is not None
        assert first.status.phase is not None
        assert first.status.phase.value != "Ready" or not first.creates
        done = self.ready(cluster, backend, context)
        for ref in self.refs(*self.shell_names):
            raw = done.shell(ref)
            assert raw is not None
            shell = shell_from_dict(raw)
            request = ExposureRequest(
                shell, _worker_of(raw, _PORT), done.snapshot, context.settings
            )
            assert backend.expose(request).url == shell.status.access_url

    def test_owned_objects_belong_to_the_shell(
        self, backend: ExposureBackend, cluster: Snapshot, context: PlanContext
    ) -> None:
        """Every object made in the shell's namespace has the shell as controller owner; every
        object the backend makes passes :meth:`check_object`."""
        done = self.ready(cluster, backend, context)
        for ref in self.refs(*self.shell_names):
            shell = done.shell(ref)
            assert shell is not None
            uid = shell["metadata"]["uid"]
            made = self.made_for(done.snapshot, uid, self.kinds(backend))
            assert made, "nothing was made for the shell"
            for obj in made:
                self.check_object(obj)
                if obj["metadata"].get("namespace") == self.namespace:
                    owners = obj["metadata"].get("ownerReferences") or []
                    assert any(o.get("uid") == uid and o.get("controller") for o in owners), obj

    def test_objects_the_backend_makes_are_checked(
        self, backend: ExposureBackend, cluster: Snapshot, context: PlanContext
    ) -> None:
        """Every object written on the way to Ready (owned and shared, created and updated)
        and every object ``expose`` returns at the end passes :meth:`check_object`."""
        done = self.ready(cluster, backend, context)
        for applied in done.plans:
            for obj in (*applied.creates, *applied.updates):
                self.check_object(obj)
        for ref in self.refs(*self.shell_names):
            raw = done.shell(ref)
            assert raw is not None
            shell = shell_from_dict(raw)
            exposure = backend.expose(
                ExposureRequest(shell, _worker_of(raw, _PORT), done.snapshot, context.settings)
            )
            for obj in (*exposure.owned, *exposure.shared):
                self.check_object(obj)
            assert exposure.base_path.startswith("/")
            assert exposure.base_path.endswith("/")

    def test_replanning_is_idempotent(
        self, backend: ExposureBackend, cluster: Snapshot, context: PlanContext
    ) -> None:
        """Once converged, planning any shell again writes nothing."""
        done = self.ready(cluster, backend, context)
        for ref in self.refs(*self.shell_names):
            raw = done.shell(ref)
            again = plan(raw or {}, done.snapshot, ClusterPoolView(done.snapshot), NOW, context)
            assert again.is_empty, again

    def test_deletion_leaves_nothing(
        self, backend: ExposureBackend, cluster: Snapshot, context: PlanContext
    ) -> None:
        """Deleting one shell removes everything made for it; shared objects end exactly as if
        the shell had never existed; the other shell keeps working."""
        done = self.ready(cluster, backend, context)
        first, second = self.refs(*self.shell_names)
        gone = done.shell(first)
        assert gone is not None
        uid = gone["metadata"]["uid"]
        deleting = apply_plan(done.snapshot, _deletes(first), now=NOW)
        after = converge(deleting, [first, second], context)
        assert after.shell(first) is None
        assert self.made_for(after.snapshot, uid, self.kinds(backend)) == []
        alone = converge(self.with_shells(cluster, backend, self.shell_names[1]), [second], context)
        assert _unowned(after.snapshot) == _unowned(alone.snapshot), (
            "shared objects still differ from a cluster where the deleted shell never existed"
        )
        other = (after.shell(second) or {}).get("status") or {}
        assert other.get("phase") == "Ready"

    def test_release_of_a_shell_without_routes_is_empty(
        self, backend: ExposureBackend, cluster: Snapshot, context: PlanContext
    ) -> None:
        """Releasing a shell that never had a route changes nothing."""
        start = self.with_shells(cluster, backend, "carol")
        raw = start.get(API_VERSION, KIND, self.namespace, "carol")
        assert raw is not None
        shell = shell_from_dict(raw)
        request = ExposureRequest(shell, _worker_of(raw, _PORT), start, context.settings)
        assert backend.release(request) == ()


def _creates(*manifests: Manifest) -> Plan:
    return Plan(creates=manifests)


def _deletes(*refs: ObjectRef) -> Plan:
    return Plan(deletes=refs)


_SERVER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp")


def _unowned(snapshot: Snapshot) -> list[Manifest]:
    """Objects no shell owns (shared routes, the cluster's own), without server-set fields."""
    found = []
    for obj in snapshot:
        meta = obj.get("metadata") or {}
        if obj.get("kind") == KIND or LABEL_SHELL_UID in (meta.get("labels") or {}):
            continue
        for key in _SERVER_FIELDS:
            meta.pop(key, None)
        found.append(obj)
    return found


def _worker_of(raw: Manifest, port: int) -> WorkerRef:
    """The WorkerRef the planner gives the exposure backend for this shell."""
    ident = ShellIdentity(raw["metadata"])
    worker = ((raw.get("status") or {}).get("worker")) or ""
    return WorkerRef(
        worker, ident.namespace, port, service_name(ident.name), worker_selector(worker)
    )
