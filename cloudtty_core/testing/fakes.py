"""Small in-memory backends for tests: an exposure, an auth and an image backend.

They follow the contracts of the real ones closely enough to drive the planner through every
path (warm pool or cold pods, a URL known at once or only after the API allocated a port, a
shared route object, token auth) without any plugin installed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import attrs

from cloudtty_core.backends import (
    AuthMaterial,
    AuthRequest,
    AuthSetup,
    ColdPodRequest,
    Exposure,
    ExposureRequest,
    KindRef,
    SecretKeyRef,
    SessionRequest,
    Waiting,
    WorkerRequest,
    worker_service,
)
from cloudtty_core.model import Manifest
from cloudtty_core.registry import BackendRegistry

__all__ = [
    "FakeAuthBackend",
    "FakeExposureBackend",
    "FakeImageBackend",
    "fake_registry",
]


@attrs.frozen
class FakeExposureBackend:
    """An exposure backend with a Service per shell.

    Attributes:
        name: the exposureMode it serves.
        node_port: expose through a NodePort Service; the URL appears only once the API server
            allocated the port (observed Service) and a Ready node exists.
        shared_route: name of a ConfigMap in the shell's namespace that maps every shell to its
            path -- a stand-in for a shared Ingress, to exercise shared objects and release.
    """

    name: str = "Fake"
    node_port: bool = False
    shared_route: str | None = None

    @property
    def watched_kinds(self) -> tuple[KindRef, ...]:
        """Nothing beyond the base kinds."""
        return ()

    def expose(self, request: ExposureRequest) -> Exposure:
        """A Service, maybe a shared route entry, and the URL when it can be known."""
        worker = request.worker
        shell = request.shell
        base_path = f"/{shell.namespace}/{shell.name}/" if self.shared_route else "/"
        service = worker_service(worker, "NodePort" if self.node_port else "ClusterIP")
        shared: tuple[Manifest, ...] = ()
        if self.shared_route:
            route = self._route(request)
            key = _route_key(shell.namespace, shell.name)
            data = dict(route.get("data") or {})
            if data.get(key) != worker.service_name:
                data[key] = worker.service_name
                shared = ({**route, "data": data},)
        if not self.node_port:
            url = f"http://{worker.service_name}.{worker.namespace}.svc:{worker.port}{base_path}"
            return Exposure(owned=(service,), shared=shared, url=url, base_path=base_path)
        observed = request.cluster.get("v1", "Service", worker.namespace, worker.service_name)
        ports = ((observed or {}).get("spec") or {}).get("ports") or [{}]
        node_port = ports[0].get("nodePort")
        address = request.settings.node_address or _node_address(request)
        if address is None:
            waiting = Waiting("NoReadyNode", "no Ready node has an address")
            return Exposure(owned=(service,), shared=shared, waiting=waiting, base_path=base_path)
        if node_port is None:
            waiting = Waiting(
                "PortPending", f"Service {worker.service_name} has no nodePort yet", transient=True
            )
            return Exposure(owned=(service,), shared=shared, waiting=waiting, base_path=base_path)
        url = f"http://{address}:{node_port}{base_path}"
        return Exposure(owned=(service,), shared=shared, url=url, base_path=base_path)

    def release(self, request: ExposureRequest) -> tuple[Manifest, ...]:
        """The shared route without this shell's entry (nothing when it has none)."""
        if not self.shared_route:
            return ()
        observed = request.cluster.get(
            "v1", "ConfigMap", request.shell.namespace, self.shared_route
        )
        key = _route_key(request.shell.namespace, request.shell.name)
        if observed is None or key not in (observed.get("data") or {}):
            return ()
        data = {k: v for k, v in observed["data"].items() if k != key}
        return ({**observed, "data": data},)

    def _route(self, request: ExposureRequest) -> Manifest:
        assert self.shared_route is not None
        ns = request.shell.namespace
        found = request.cluster.get("v1", "ConfigMap", ns, self.shared_route)
        if found is not None:
            return found
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": self.shared_route, "namespace": ns},
            "data": {},
        }


def _route_key(namespace: str, name: str) -> str:
    return f"{namespace}.{name}"


def _node_address(request: ExposureRequest) -> str | None:
    for node in request.cluster.list("v1", "Node"):
        status = node.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or ()
        )
        if not ready:
            continue
        for kind in ("ExternalIP", "InternalIP"):
            for address in status.get("addresses") or ():
                if address.get("type") == kind:
                    return str(address["address"])
    return None


@attrs.frozen
class FakeAuthBackend:
    """An auth backend: ``none`` (nothing), ``token`` (a per-shell URL token) or ``basic``
    (a credential from the Secret named in ``spec.auth.secretRef``)."""

    name: str = "none"

    def configure(self, request: AuthRequest) -> AuthSetup:
        """The setup for the shell."""
        if self.name == "token":
            return AuthSetup(mode="token", token_param="token")
        if self.name == "basic":
            ref = request.shell.spec.auth.secret_ref
            name = ref.name if ref is not None else f"{request.shell.name}-credentials"
            key = (ref.key if ref is not None else None) or "password"
            secret = SecretKeyRef(request.shell.namespace, name, key)
            return AuthSetup(mode="basic", params={"username": "user"}, secret_refs=(secret,))
        return AuthSetup(mode=self.name)

    def session_auth(self, setup: AuthSetup, material: AuthMaterial) -> Mapping[str, Any]:
        """Hashes only, as a real backend would."""
        out: dict[str, Any] = {"mode": setup.mode, **setup.params}
        if material.token is not None:
            out["tokenSha256"] = hashlib.sha256(material.token.encode()).hexdigest()
        for value in material.secrets.values():
            out["passwordSha256"] = hashlib.sha256(value.encode()).hexdigest()
        return out


@attrs.frozen
class FakeImageBackend:
    """An image backend. ``warm=False`` makes it behave like ttyd (a cold pod per shell)."""

    name: str = "fake"
    default_image: str = "example.org/fake-terminal:1"
    port: int = 7681
    supports_warm_pool: bool = True
    supported_auth: frozenset[str] = frozenset({"none", "token", "basic"})

    def worker_pod(self, request: WorkerRequest) -> Manifest:
        """An idle worker that waits for its session."""
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"generateName": "fake-worker-", "namespace": request.pool.namespace},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "terminal",
                        "image": request.pool.image,
                        "args": ["worker"],
                        "ports": [{"containerPort": self.port}],
                    }
                ],
            },
        }

    def cold_pod(self, request: ColdPodRequest) -> Manifest:
        """A pod for one shell with its kubeconfig mounted read-only."""
        source = request.kubeconfig
        volume: dict[str, Any] = (
            {"secret": {"secretName": source.name}}
            if source.kind == "Secret"
            else {"configMap": {"name": source.name}}
        )
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "placeholder", "namespace": request.shell.namespace},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "terminal",
                        "image": request.image,
                        "args": ["--base-path", request.base_path, "--", *request.command],
                        "ports": [{"containerPort": request.port}],
                        "volumeMounts": [
                            {"name": "kubeconfig", "mountPath": "/kube", "readOnly": True}
                        ],
                    }
                ],
                "volumes": [{"name": "kubeconfig", **volume}],
            },
        }

    def session(self, request: SessionRequest) -> Manifest:
        """The session Secret of the worker contract (``session.json``)."""
        session = {
            "command": list(request.command),
            "kubeconfig": request.kubeconfig,
            "basePath": request.base_path,
            "auth": dict(request.auth),
            "once": request.shell.spec.once,
            "expiresAt": request.expires_at.isoformat() if request.expires_at else None,
            "shell": {"namespace": request.shell.namespace, "name": request.shell.name},
        }
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": request.secret_name, "namespace": request.worker.namespace},
            "stringData": {"session.json": json.dumps(session, sort_keys=True)},
        }


def fake_registry(
    exposure: FakeExposureBackend | None = None,
    image: FakeImageBackend | None = None,
    auth_modes: tuple[str, ...] = ("none", "token", "basic"),
) -> BackendRegistry:
    """A registry with one fake exposure backend, one fake image backend and fake auth modes."""
    registry = BackendRegistry()
    with registry.provided_by("cloudtty-core-testing"):
        registry.add_exposure(exposure or FakeExposureBackend())
        registry.add_image(image or FakeImageBackend())
        for mode in auth_modes:
            registry.add_auth(FakeAuthBackend(mode))
    return registry
