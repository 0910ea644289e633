"""``Sandbox``: one sandbox cluster (API server, controllers, kubelet, forwarders) as an async
context manager."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs
from aiohttp import web

from . import kubeconfig, tls
from .admin import AdminApi
from .apps import DeploymentStrategy, ReplicaSetStrategy
from .auth import Authenticator
from .bootstrap import bootstrap, default_rbac
from .builtin_kinds import register_builtins
from .cluster import Cluster
from .config import SandboxConfig
from .counters import RequestCounters
from .crds import CrdStrategy
from .endpoints import EndpointsController
from .escalation import no_escalation_strategies
from .faults import FaultConfig, FaultInjector
from .gc import GarbageCollector
from .handlers import ApiServer
from .ingress import IngressController
from .kubelet import Kubelet
from .namespaces import NamespaceController, NamespaceStrategy
from .nodeports import NodePortForwarder
from .pods import PodStrategy
from .rbac import Authorizer
from .resources import Registry
from .secrets import SecretStrategy
from .services import ServiceStrategy
from .store import Store
from .tokens import TokenIssuer
from .workloads import WorkloadController

log = logging.getLogger(__name__)


class Sandbox:
    """A sandbox Kubernetes cluster serving real HTTP on 127.0.0.1.

    ``async with Sandbox(pod_start_delay=0.05) as sb:`` starts it; ``sb.url`` and
    ``sb.kubeconfig_path`` are then ready for kubectl and the official client. Keyword arguments
    override fields of ``SandboxConfig``.
    """

    def __init__(self, config: SandboxConfig | None = None, **overrides: Any) -> None:
        self.config = attrs.evolve(config or SandboxConfig(), **overrides)
        if isinstance(self.config.faults, dict):
            self.config.faults = FaultConfig.from_dict(self.config.faults)
        self.registry = Registry()
        register_builtins(self.registry)
        self.store = Store(self.config.watch_window)
        self.cluster = Cluster(self.registry, self.store)
        self.services = ServiceStrategy()
        self.cluster.strategies.update(
            {
                "pods": PodStrategy(),
                "services": self.services,
                "secrets": SecretStrategy(),
                "deployments.apps": DeploymentStrategy(),
                "replicasets.apps": ReplicaSetStrategy(),
                "namespaces": NamespaceStrategy(),
                "customresourcedefinitions.apiextensions.k8s.io": CrdStrategy(),
            }
        )
        self.counters = RequestCounters()
        self.faults = FaultInjector(self.config.faults)
        self.tokens = TokenIssuer()
        self.port = 0
        self.work_dir: Path | None = None
        self._own_work_dir = False
        self._runner: web.AppRunner | None = None
        self.kubeconfig_path: Path | None = None
        self.api: ApiServer | None = None
        self.namespaces: NamespaceController | None = None
        self.gc: GarbageCollector | None = None
        self.endpoints: EndpointsController | None = None
        self.workloads: WorkloadController | None = None
        self.kubelet: Kubelet | None = None
        self.node_ports: NodePortForwarder | None = None
        self.ingress: IngressController | None = None
        self.started = False
        self.tls: tls.TlsFiles | None = None

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen, create the system objects, start controllers and write the kubeconfig."""
        config = self.config
        if config.work_dir is None:
            self.work_dir = Path(tempfile.mkdtemp(prefix="cloudtty-sandbox-"))
            self._own_work_dir = True
        else:
            self.work_dir = Path(config.work_dir)
            self.work_dir.mkdir(parents=True, exist_ok=True)
        self.kubelet = Kubelet(
            self.cluster,
            config,
            self.work_dir / "pods",
            self.tokens,
            api_address=lambda: (config.host, self.port),
        )
        admin = AdminApi(self)
        authenticator = authorizer = None
        if config.rbac:
            authenticator = Authenticator(self.cluster, self.tokens, config.users)
            authorizer = Authorizer(self.cluster)
            self.cluster.strategies.update(no_escalation_strategies(authorizer))
        self.api = ApiServer(
            self.cluster,
            self.counters,
            self.faults,
            self.tokens,
            bookmark_interval=config.bookmark_interval,
            server_address=lambda: f"{config.host}:{self.port}",
            pod_logs=self.kubelet.read_log,
            log_follower=self.kubelet.follow_log,
            exec_target=self.kubelet.exec_target,
            exec_sessions=self.kubelet.exec_sessions,
            admin=admin.handle,
            authenticator=authenticator,
            authorizer=authorizer,
        )
        self._runner = web.AppRunner(
            self.api.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        use_tls = config.tls if config.tls is not None else config.rbac
        if use_tls:
            self.tls = tls.create(self.work_dir / "pki")
            self.cluster.ca_pem = self.tls.ca_pem
        site = web.TCPSite(
            self._runner,
            config.host,
            config.port,
            backlog=1024,
            ssl_context=self.tls.server_context() if self.tls else None,
        )
        await site.start()
        server = site._server
        assert server is not None
        assert server.sockets
        self.port = int(server.sockets[0].getsockname()[1])
        bootstrap(self.cluster, config.node_name, self.port)
        default_rbac(self.cluster)
        self.namespaces = NamespaceController(self.cluster)
        self.namespaces.start()
        self.gc = GarbageCollector(self.cluster, delay=config.gc_delay)
        self.gc.start()
        self.endpoints = EndpointsController(self.cluster)
        self.endpoints.start()
        self.workloads = WorkloadController(self.cluster, emit_events=config.emit_events)
        self.workloads.start()
        self.kubelet.start()
        if config.forward_node_ports:
            self.node_ports = NodePortForwarder(self.cluster, config.host)
            self.node_ports.start()
        if config.ingress_port is not None or config.gateway_port is not None:
            self.ingress = IngressController(
                self.cluster, config.host, config.ingress_port, config.gateway_port
            )
            await self.ingress.start()
        path = config.kubeconfig_path or (self.work_dir / "kubeconfig")
        self.kubeconfig_path = kubeconfig.write(
            Path(path), self.url, self.tokens.admin_token, self.ca_pem
        )
        self.started = True

    async def stop(self) -> None:
        """Stop every process, listener and stream the sandbox started; idempotent."""
        if self.api is not None:
            self.api.stopping.set()
        self.cluster.close_watches()
        for controller in (self.ingress, self.node_ports):
            if controller is not None:
                with contextlib.suppress(Exception):
                    await controller.stop()
        if self.workloads is not None:
            await self.workloads.stop()  # first, so no new pods race the kubelet's shutdown
        if self.kubelet is not None:
            await self.kubelet.stop()
        for controller in (self.endpoints, self.gc, self.namespaces):
            if controller is not None:
                await controller.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._own_work_dir and self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        self.started = False

    # ------------------------------------------------------------------ addresses
    @property
    def url(self) -> str:
        """Base URL of the API server, e.g. ``http://127.0.0.1:41234``."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.config.host}:{self.port}"

    @property
    def ingress_port(self) -> int | None:
        return self.ingress.ingress_port if self.ingress else None

    @property
    def ingress_url(self) -> str | None:
        port = self.ingress_port
        return f"http://{self.config.host}:{port}" if port else None

    @property
    def gateway_port(self) -> int | None:
        return self.ingress.gateway_port if self.ingress else None

    @property
    def admin_token(self) -> str:
        return self.tokens.admin_token

    # ------------------------------------------------------------------ control
    def set_faults(self, faults: FaultConfig | dict[str, Any] | None = None, **fields: Any) -> None:
        """Replace the fault configuration (a ``FaultConfig``, its JSON form, or keyword fields)."""
        if faults is None:
            faults = FaultConfig(**fields)
        elif isinstance(faults, dict):
            faults = FaultConfig.from_dict(faults)
        self.faults.configure(faults)

    def clear_faults(self) -> None:
        self.faults.configure(FaultConfig())

    def compact(self) -> int:
        """Forced compaction: any watch resuming from an earlier resourceVersion gets 410."""
        self.store.compact()
        return self.store.rv

    def close_watches(self) -> None:
        """Cut every open watch stream now (clients must resume)."""
        self.cluster.close_watches()

    def counters_snapshot(self) -> dict[str, Any]:
        return self.counters.snapshot()

    def reset_counters(self) -> None:
        self.counters.reset()

    def exit_container(
        self,
        namespace: str,
        pod: str,
        exit_code: int = 0,
        message: str = "",
        container: str | None = None,
    ) -> bool:
        """End a running container of a pod (simulated or local) as if its process exited."""
        assert self.kubelet is not None
        return self.kubelet.exit_container(namespace, pod, exit_code, message, container)

    def local_processes(self) -> list[dict[str, Any]]:
        assert self.kubelet is not None
        return self.kubelet.processes()

    def write_kubeconfig(self, path: Path, token: str) -> Path:
        """Write a kubeconfig (0600) for this sandbox that authenticates with ``token``."""
        return kubeconfig.write(Path(path), self.url, token, self.ca_pem)

    @property
    def ca_pem(self) -> str | None:
        """The CA certificate (PEM) clients must trust when the API speaks HTTPS."""
        return self.tls.ca_pem if self.tls else None

    @property
    def ca_path(self) -> Path | None:
        return self.tls.ca_path if self.tls else None

    def info(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "kubeconfig": str(self.kubeconfig_path),
            "ingressPort": self.ingress_port,
            "gatewayPort": self.gateway_port,
            "nodeName": self.config.node_name,
            "resourceVersion": self.store.rv,
            "openWatches": self.api.open_watches if self.api else 0,
        }


async def _wait_forever() -> None:
    await asyncio.Event().wait()
