"""The operator: caches, work queue, controller, events, leader election, metrics and health,
started together with anyio and stopped together.

``run_operator(config)`` is the process entry point (``cloudtty run``): it configures logging,
runs an :class:`Operator` and stops it gracefully on SIGTERM or SIGINT -- the Lease is
released, requests in flight finish, watches are closed. :class:`OperatorThread` runs one in
a background thread (tests, benchmarks, the demo).

Startup order: plugins are loaded (a backend the shells name but nobody installed makes them
Failed, it does not stop the operator); the CRD is installed when asked; the informers list
every kind and start watching; once they are synced the replica competes for the Lease (when
leader election is on) and, while it leads, the workers reconcile -- every shell and pool is
queued once at that moment. A standby replica keeps its caches warm, so a fail-over starts
reconciling at once.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from datetime import datetime
from typing import Any

import anyio
import anyio.from_thread
from anyio.abc import TaskStatus

from cloudtty_core.backends import KindRef
from cloudtty_core.crd import crd_manifest
from cloudtty_core.model import API_VERSION, KIND, PLURAL
from cloudtty_core.plan import (
    LABEL_POOL,
    LABEL_SHELL,
    LABEL_SHELL_UID,
    LABEL_STATE,
    PlanContext,
    random_token,
)
from cloudtty_core.plan.teardown import BASE_KINDS
from cloudtty_core.plugins import LoadedPlugins, load_plugins

from .api import AsyncApi
from .apply import PlanApplier, WriteHook
from .client import AlreadyExists, KubeClient, Resource
from .collector import collect_rarely, set_aside_long_lived
from .config import RuntimeConfig, settings_summary
from .controller import Controller, QueueKey
from .events import EventRecorder
from .health import HealthServer, HealthState, Role, watch_event_loop
from .informer import CRD_RESOURCE, Informers
from .metrics import OperatorMetrics, PoolSample, instrument
from .queue import Backoff, WorkQueue, run_workers
from .view import ClaimedWorkers

__all__ = ["SHELL_KIND", "Operator", "OperatorThread", "run_operator", "watched_kinds"]

log = logging.getLogger(__name__)

SHELL_KIND = KindRef(API_VERSION, KIND, PLURAL)
NODE_KIND = KindRef("v1", "Node", "nodes", namespaced=False)


def watched_kinds(plugins: LoadedPlugins) -> list[KindRef]:
    """Every kind the operator watches: CloudShells, what the planner makes and reads, Nodes,
    and the ``watched_kinds`` of every installed exposure backend."""
    kinds: dict[tuple[str, str], KindRef] = {}
    for kind in (SHELL_KIND, *BASE_KINDS, NODE_KIND):
        kinds.setdefault((kind.api_version, kind.kind), kind)
    for backend in plugins.registry.exposures():
        for kind in backend.watched_kinds:
            kinds.setdefault((kind.api_version, kind.kind), kind)
    return list(kinds.values())


def _client_for(config: RuntimeConfig) -> KubeClient:
    import os

    if config.in_cluster or (config.kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ):
        return KubeClient.in_cluster()
    return KubeClient.from_kubeconfig(config.kubeconfig, config.context)


class Operator:
    """One operator replica.

    :param config: the configuration.
    :param client: the API client (default: from the configuration).
    :param plugins: loaded plugins (default: loaded as the configuration says).
    :param extra_plugins: plugin objects registered directly, before entry points (tests).
    :param metrics: where metrics go (default: a fresh :class:`OperatorMetrics`).
    :param write_hook: awaited before every write the controller makes (fault injection).
    :param clock: the planner's notion of now.
    :param token_source: makes per-shell access tokens.

    :meth:`run` runs it inside an event loop until cancelled or :meth:`stop` is called.
    """

    def __init__(
        self,
        config: RuntimeConfig,
        *,
        client: KubeClient | None = None,
        plugins: LoadedPlugins | None = None,
        extra_plugins: Iterable[object | tuple[str, object]] = (),
        metrics: OperatorMetrics | None = None,
        write_hook: WriteHook | None = None,
        clock: Callable[[], datetime] | None = None,
        token_source: Callable[[], str] = random_token,
    ) -> None:
        self.config = config
        self.client = client
        self.plugins = plugins
        self.extra_plugins = tuple(extra_plugins)
        self.metrics = metrics or OperatorMetrics()
        self.health = HealthState()
        self.write_hook = write_hook
        self.clock = clock
        self.token_source = token_source
        self.identity = config.identity
        self.ready = threading.Event()
        """Set while the caches are synced and this replica reconciles (thread-safe)."""
        self.synced = threading.Event()
        """Set once the caches listed every kind (thread-safe)."""
        self.informers: Informers | None = None
        self.controller: Controller | None = None
        self.queue: WorkQueue[QueueKey] | None = None
        self.applier: PlanApplier | None = None
        self.events: EventRecorder | None = None
        self.api: AsyncApi | None = None
        self.health_server: HealthServer | None = None
        self._scope: anyio.CancelScope | None = None

    # Running -------------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled or stopped; ``task_status.started()`` once the caches synced
        (:attr:`ready` tells when this replica reconciles)."""
        config = self.config
        with anyio.CancelScope() as scope:
            self._scope = scope
            try:
                await self._run(task_status)
            finally:
                self.ready.clear()
                self.health.set_role(Role.STOPPING)
                if self.health_server is not None:
                    self.health_server.stop()
                if self.api is not None:
                    self.api.close()
                if self.client is not None:
                    self.client.close()
                # Not in the `namespace` field: that one names the shell a line is about.
                log.info("operator stopped (it watched %s)", config.namespace or "all namespaces")

    def stop(self) -> None:
        """Stop gracefully (call on the operator's event loop)."""
        if self._scope is not None:
            self._scope.cancel()

    async def _run(self, task_status: TaskStatus[None]) -> None:
        config = self.config
        plugins = self.plugins or load_plugins(
            blocked=config.blocked_plugins,
            autoload=config.autoload,
            strict=config.strict_plugins,
            extra=self.extra_plugins,
        )
        self.plugins = plugins
        for failure in plugins.failures:
            log.warning("plugin skipped: %s", failure)
        kinds = watched_kinds(plugins)
        client = self.client
        if client is None:
            client = self.client = await anyio.to_thread.run_sync(_client_for, config)
        # Connections: requests in flight, one per watch, a few spare.
        client.set_pool_size(config.api_concurrency + len(kinds) + 4)
        instrument(client.api_client, self.metrics)  # what goes through the official client
        if client.on_request is None:  # what goes around it
            client.on_request = self.metrics.observe_request
        self.api = api = AsyncApi(client, config.api_concurrency)
        if self.identity is None:
            from .leader import default_identity

            self.identity = default_identity()
        context = PlanContext(
            registry=plugins.registry,
            settings=config.settings,
            token_source=self.token_source,
            hooks=plugins.hooks,
        )
        if config.install_crd:
            await self._install_crd(api)
        # The caches keep the pool's own workers decoded and let go of claimed ones.
        claimed = ClaimedWorkers()
        self.informers = informers = Informers(
            client,
            api,
            namespace=config.namespace,
            index_labels=(LABEL_SHELL_UID, LABEL_POOL, LABEL_SHELL, LABEL_STATE),
            watch_timeout=config.watch_timeout,
            keep_decoded=claimed.keeps_decoded,
        )
        informers.watch(*kinds)
        self.queue = queue = WorkQueue[QueueKey](Backoff(config.backoff_base, config.backoff_cap))
        self.events = events = EventRecorder(
            api, api_version=config.events_api, instance=self.identity
        )
        self.applier = applier = PlanApplier(
            api, informers, events, ca_data=client.ca_data(), write_hook=self.write_hook
        )
        controller_kwargs: dict[str, Any] = {}
        if self.clock is not None:
            controller_kwargs["clock"] = self.clock
        self.controller = controller = Controller(
            informers,
            applier,
            context,
            queue,
            pool_namespaces=config.effective_pool_namespaces(),
            observer=self.metrics,
            claimed=claimed,
            **controller_kwargs,
        )
        controller.connect(kinds)
        self._watch_metrics()
        if config.metrics_port is not None:
            self.health_server = HealthServer(
                self.health, self.metrics, host=config.metrics_host, port=config.metrics_port
            )
            await anyio.to_thread.run_sync(self.health_server.start)
        log.info("operator starting: %s", settings_summary(config))
        async with anyio.create_task_group() as group:
            group.start_soon(watch_event_loop, self.health, name="health")
            await group.start(informers.run, name="informers")
            group.start_soon(events.run, name="events")
            group.start_soon(controller.settle_claimed_workers, name="claimed workers")
            await informers.wait_synced()
            self.synced.set()
            self.health.set_caches_synced(True)
            log.info(
                "caches synced: %s",
                ", ".join(f"{i.resource} {len(i)}" for i in informers.active()),
            )
            if config.leader_election:
                elector = self._elector(client)
                group.start_soon(elector.lead, self._reconcile, name="leader election")
            else:
                self.health.set_role(Role.LEADER, self.identity)
                self.metrics.set_leading(True)
                group.start_soon(self._reconcile, name="reconcile")
            task_status.started()

    def _elector(self, client: KubeClient) -> Any:
        from .leader import KubernetesLeaseClient, LeaderElectionConfig, LeaderElector

        config = self.config
        assert self.identity is not None
        election = LeaderElectionConfig(
            lease_name=config.lease_name,
            lease_namespace=config.effective_lease_namespace(),
            identity=self.identity,
            lease_duration=config.lease_duration,
            renew_deadline=config.renew_deadline,
            retry_period=config.retry_period,
            release_on_cancel=config.release_lease,
        )
        return LeaderElector(
            election,
            KubernetesLeaseClient(client.api_client),
            metrics=self.metrics,
            health=self.health,
        )

    async def _reconcile(self) -> None:
        """Reconcile while this replica leads (cancelled when it stops leading)."""
        controller, queue = self.controller, self.queue
        assert controller is not None
        assert queue is not None
        controller.enqueue_all()
        self.ready.set()
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(queue.run_timers, name="timers")
                group.start_soon(
                    run_workers, queue, controller.process, self.config.workers, name="workers"
                )
        finally:
            self.ready.clear()

    async def _install_crd(self, api: AsyncApi) -> None:
        crd = crd_manifest()
        try:
            await api.create(crd)
            log.info("installed the CloudShell CRD")
        except AlreadyExists:
            current = await api.get(CRD_RESOURCE, None, crd["metadata"]["name"])
            crd["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            await api.replace(crd)
            log.info("updated the CloudShell CRD")

    def _watch_metrics(self) -> None:
        metrics, controller, queue = self.metrics, self.controller, self.queue
        informers = self.informers
        assert controller is not None
        assert queue is not None
        assert informers is not None
        metrics.watch_queue("reconcile", lambda: len(queue))
        metrics.watch_shells(controller.shells_by_phase)

        def pools() -> list[PoolSample]:
            samples = []
            for key in controller.pool_keys():
                ready, starting, claimed = controller.pool_counts(key)
                samples.append(
                    PoolSample(
                        key.namespace,
                        key.hash,
                        ready,
                        claimed,
                        starting,
                        controller.settings.min_idle_for(key.namespace),
                    )
                )
            return samples

        metrics.watch_pool(pools)
        for kind in informers.kinds:
            resource = str(Resource.of(kind))

            def size(kind: KindRef = kind) -> int:
                informer = informers.informer(kind.api_version, kind.kind)
                return len(informer) if informer is not None else 0

            metrics.watch_cache(resource, size)

    # Reading -------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters for tests and benchmarks (call on the operator's event loop)."""
        informers = self.informers
        return {
            "queueDepth": len(self.queue) if self.queue is not None else 0,
            "writes": self.applier.writes if self.applier is not None else 0,
            "events": self.events.recorded if self.events is not None else 0,
            "passes": dict(self.controller.passes) if self.controller is not None else {},
            "informers": {
                str(i.resource): {
                    "objects": len(i),
                    "lists": i.stats.lists,
                    "watches": i.stats.watches,
                    "events": i.stats.events,
                    "bookmarks": i.stats.bookmarks,
                    "gone": i.stats.gone,
                    "errors": i.stats.errors,
                }
                for i in (informers.active() if informers is not None else ())
            },
        }


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def run_operator(config: RuntimeConfig, **kwargs: Any) -> int:
    """Run the operator in this process until SIGTERM or SIGINT; returns the exit status."""
    from .logs import configure_logging

    configure_logging(config.log_level, fmt=config.log_format)  # type: ignore[arg-type]

    collect_rarely()

    async def main() -> None:
        operator = Operator(config, **kwargs)
        async with anyio.create_task_group() as group:

            async def once_synced() -> None:
                # A look at a local flag while the operator starts: no thread may be left
                # waiting on it for good if the operator stops before its caches sync.
                while not operator.synced.is_set():
                    await anyio.sleep(0.2)
                set_aside_long_lived()

            async def on_signals() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for received in signals:
                        log.info("received %s: stopping", signal.Signals(received).name)
                        operator.stop()
                        return

            group.start_soon(on_signals)
            group.start_soon(once_synced)
            await operator.run()
            group.cancel_scope.cancel()

    anyio.run(main)
    return 0


class OperatorThread:
    """An :class:`Operator` on an event loop of its own in a background thread.

    >>> with OperatorThread(config, client=client) as running:   # doctest: +SKIP
    ...     running.wait_ready()
    ...     running.call(lambda: running.operator.stats())

    ``stop()`` is graceful; keyword arguments go to :class:`Operator`.
    """

    def __init__(self, config: RuntimeConfig, **kwargs: Any) -> None:
        self.operator = Operator(config, **kwargs)
        self._portal_cm: Any = None
        self._portal: Any = None
        self._future: Future[None] | None = None

    def start(self, timeout: float = 30, *, wait: bool = True) -> OperatorThread:
        """Start the operator; with ``wait``, return once it reconciles (raising its error if
        it failed)."""
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._future = self._portal.start_task_soon(self.operator.run)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until the operator reconciles (raise what it failed with, if it did)."""
        future = self._future
        assert future is not None, "start() the operator first"
        deadline = time.monotonic() + timeout
        while not self.operator.ready.wait(0.05):
            if future.done():
                future.result()
                raise RuntimeError("the operator stopped before it was ready")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the operator was not ready within {timeout}s")

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the operator's event loop (sync or async) and return its result."""
        return self._portal.call(fn, *args)

    @property
    def running(self) -> bool:
        """Whether the operator task is still running."""
        return self._future is not None and not self._future.done()

    def stop(self, timeout: float = 30) -> None:
        """Stop gracefully and join the thread; idempotent."""
        if self._portal is None:
            return
        future = self._future
        try:
            if future is not None and not future.done():
                self._portal.call(self.operator.stop)
                try:
                    future.result(timeout)
                except BaseException as error:  # a crash was reported where it happened
                    log.debug("operator ended with %r", error)
        finally:
            portal_cm, self._portal_cm, self._portal = self._portal_cm, None, None
            portal_cm.__exit__(None, None, None)

    def __enter__(self) -> OperatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
