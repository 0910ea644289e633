"""The reconcile loop: a key comes off the queue, is planned against the caches, the plan is
applied, and the key comes back when something it depends on changes.

Two kinds of keys share one queue:

* :class:`ShellKey` -- one CloudShell: ``plan(shell, view, pool, now, context)``;
* :class:`~cloudtty_core.PoolKey` -- one warm pool: ``plan_pool(key, view, ...)``.

What brings a key back (no polling):

* a change of the shell itself;
* a change of an object the shell owns (``ownerReferences``) or made in another namespace
  (label ``cloudtty.io/shell-uid``) -- its pod starting, its Service getting a node port;
* a change of an object nobody owns in the shell's namespace (a kubeconfig Secret appearing,
  a shared Ingress), or of a cluster-scoped one (a Node, an IngressClass): every live shell in
  that scope is planned again (a change that only touches bookkeeping -- resourceVersion, node
  heartbeats -- is ignored);
* a CRD-served kind becoming available (Istio installed);
* the plan's ``requeue_after`` (the ttl), as an exact timer;
* a failure: backoff per key, doubling up to a cap.

Idle workers carry the pool label: their changes bring back their pool key, so a claimed
worker is replaced at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import anyio
import attrs

from cloudtty_core.backends import KindRef, OperatorSettings, PoolKey
from cloudtty_core.model import (
    API_VERSION,
    GROUP,
    KIND,
    CloudShellSpec,
    CloudShellStatus,
    Condition,
    Manifest,
    converter,
)
from cloudtty_core.phases import Event, Phase, allowed_events
from cloudtty_core.plan import (
    LABEL_POOL,
    LABEL_ROLE,
    LABEL_SHELL_UID,
    ROLE_WORKER,
    EventSpec,
    Plan,
    PlanContext,
    claimed_worker,
    idle_pods,
    plan,
    plan_pool,
    session_secret_name,
)
from cloudtty_core.plan.identity import WORKER_KINDS
from cloudtty_core.plan.worker import is_ready
from cloudtty_core.registry import BackendNotInstalled

from .apply import ApplyOutcome, PlanApplier, version_of
from .client import AlreadyExists, ApiError, Conflict, Invalid, NotFound, TooManyRequests
from .informer import DELETED, MODIFIED, Informers
from .logs import log_context
from .queue import WorkQueue
from .view import (
    CachePoolView,
    CacheView,
    ClaimedWorkers,
    IdleSessions,
    Reservations,
    ReservingPoolView,
)

__all__ = [
    "Controller",
    "ReconcileObserver",
    "ShellKey",
    "pool_keys_for",
]

log = logging.getLogger(__name__)

HOT_LOOP_LIMIT = 30
"""Plans in a row that wrote something for one key before it is slowed down (a plan its own
writes cannot satisfy, e.g. a field the API server normalises differently)."""
POOL_PAUSE = 0.05
"""Seconds a changed pool waits at least before it is planned again (see _pool_changed)."""
SETTLE_DELAY = 1.0
"""Seconds a claimed worker's objects stay decoded after its claim, and between two looks at a
busy queue (see :meth:`Controller.settle_claimed_workers`)."""
SETTLE_PATIENCE = 30.0
"""Seconds the encoding of claimed workers' objects waits at most for the queue to empty."""


@attrs.frozen(order=True)
class ShellKey:
    """A CloudShell's place in the work queue."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


QueueKey = ShellKey | PoolKey


class ReconcileObserver(Protocol):
    """What the controller reports (``OperatorMetrics`` implements it)."""

    def reconciled(self, kind: str, result: str, seconds: float | None = None) -> None:
        """One pass of ``kind`` (``shell``/``pool``) ended with ``result``."""

    def reconcile_failed(self, kind: str, error: BaseException | str) -> None:
        """A pass failed."""

    def queue_retried(self, name: str) -> None:
        """A key was requeued with backoff."""

    def shell_seen(self, uid: str, at: float | None = None) -> None:
        """A shell was seen (starts its time-to-Ready clock)."""

    def shell_ready(self, uid: str, *, warm: bool, at: float | None = None) -> float | None:
        """A shell was written Ready."""

    def shell_gone(self, uid: str) -> None:
        """A shell was deleted or finished before it got Ready."""


class _NoObserver:
    def reconciled(self, kind: str, result: str, seconds: float | None = None) -> None:
        pass

    def reconcile_failed(self, kind: str, error: BaseException | str) -> None:
        pass

    def queue_retried(self, name: str) -> None:
        pass

    def shell_seen(self, uid: str, at: float | None = None) -> None:
        pass

    def shell_ready(self, uid: str, *, warm: bool, at: float | None = None) -> float | None:
        return None

    def shell_gone(self, uid: str) -> None:
        pass


def pool_keys_for(namespaces: Iterable[str], context: PlanContext) -> list[PoolKey]:
    """The warm pools to keep in ``namespaces``: one per installed image backend that can
    start warm, with the image the settings choose for it."""
    keys = []
    for namespace in namespaces:
        for name in context.registry.names("image"):
            backend = context.registry.image(name)
            if backend.supports_warm_pool:
                keys.append(PoolKey(namespace, name, context.settings.image_for(backend)))
    return keys


_TERMINAL = frozenset({Phase.COMPLETED.value, Phase.FAILED.value, "Complete"})
_DEFAULT_IMAGE_BACKEND = CloudShellSpec().image_backend


def _meta(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (obj or {}).get("metadata") or {}


def _shell_is_live(shell: Manifest) -> bool:
    phase = (shell.get("status") or {}).get("phase")
    return phase not in _TERMINAL or bool(_meta(shell).get("deletionTimestamp"))


def _essence(obj: Mapping[str, Any] | None) -> Any:
    """An object without what changes on every write but means nothing to a plan."""
    if obj is None:
        return None
    meta = {
        k: v
        for k, v in _meta(obj).items()
        if k not in ("resourceVersion", "managedFields", "generation")
    }
    out = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    status = obj.get("status")
    if isinstance(status, Mapping):
        conditions = status.get("conditions")
        if isinstance(conditions, list):
            status = {
                **status,
                "conditions": [
                    {k: v for k, v in c.items() if k not in ("lastHeartbeatTime", "lastProbeTime")}
                    if isinstance(c, Mapping)
                    else c
                    for c in conditions
                ],
            }
    out["metadata"] = meta
    out["status"] = status
    return out


class Controller:
    """Reconciles CloudShells and warm pools from one work queue.

    :param informers: the caches (the shells' kind and every kind the planner reads).
    :param applier: applies plans (and writes through to the caches).
    :param context: backends, settings, hooks and token source for the planner.
    :param queue: the work queue (workers take keys from it, see :meth:`process`).
    :param pool_namespaces: namespaces whose warm pools are filled before any shell asks.
    :param observer: metrics.
    :param clock: the current time (timezone-aware).

    Create it inside the event loop, then call :meth:`connect` before the informers run.
    """

    def __init__(
        self,
        informers: Informers,
        applier: PlanApplier,
        context: PlanContext,
        queue: WorkQueue[QueueKey],
        *,
        pool_namespaces: Iterable[str] = (),
        observer: ReconcileObserver | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        claimed: ClaimedWorkers | None = None,
    ) -> None:
        self.informers = informers
        self.view = CacheView(informers)
        self.applier = applier
        self.context = context
        self.queue = queue
        self.observer: ReconcileObserver = observer or _NoObserver()
        self.clock = clock
        self.reservations = Reservations()
        self.idle_sessions = IdleSessions()
        self.claimed = claimed if claimed is not None else ClaimedWorkers()
        self.pool_view = CachePoolView(self.view, self.idle_sessions, self.claimed)
        # Workers claimed since their objects were last encoded, and what wakes the task
        # encoding them.
        self._unsettled: list[tuple[str, str]] = []
        self._claims_heard: anyio.Event | None = None
        self._pools: dict[str, PoolKey] = {}
        self._pool_seconds: dict[PoolKey, float] = {}  # how long the last pass of each took
        self._configured_pools = pool_keys_for(pool_namespaces, context)
        for key in self._configured_pools:
            self._pools[key.hash] = key
        self._uids: dict[str, ShellKey] = {}
        # Shells per phase, kept as shells change: counting them at each metrics scrape would
        # decode every cached shell (the caches keep them encoded) in the HTTP server's thread.
        self._phases: dict[str, int] = {}
        self._live: dict[str, set[ShellKey]] = {}
        self._streaks: dict[QueueKey, int] = {}
        self._cooldown: dict[QueueKey, float] = {}
        # Shells being written now -> the changes heard meanwhile (see _wake)
        self._applying: dict[ShellKey, set[tuple[str, str, str, str]]] = {}
        self.passes = {"shell": 0, "pool": 0}
        """Passes run so far, by kind of key (for tests and benchmarks)."""

    @property
    def settings(self) -> OperatorSettings:
        """The operator settings the planner uses."""
        return self.context.settings

    # Wiring --------------------------------------------------------------------------------

    def connect(self, kinds: Iterable[KindRef]) -> None:
        """Subscribe to the shells' informer and to every kind in ``kinds``."""
        self.informers.on(API_VERSION, KIND, self._on_shell)
        self.informers.on("v1", "Secret", self.idle_sessions.handle)
        self.informers.on("v1", "Secret", self.claimed.handle)
        self.claimed.on_claim(self._heard_claim)
        for kind in kinds:
            if (kind.api_version, kind.kind) != (API_VERSION, KIND):
                self.informers.on(kind.api_version, kind.kind, self._child_handler(kind))
        self.informers.on_kind(self._on_kind)

    def _heard_claim(self, namespace: str, worker: str) -> None:
        self._unsettled.append((namespace, worker))
        if self._claims_heard is not None:
            self._claims_heard.set()

    async def settle_claimed_workers(self) -> None:
        """Have the caches encode the pod, account, Role and RoleBinding of workers claimed
        lately, which they kept decoded for the pool pass (see :class:`ClaimedWorkers`).

        Not at the claim: :data:`SETTLE_DELAY` later, and once no key waits in the queue (for
        :data:`SETTLE_PATIENCE` at most). In a burst of new shells the encoding then waits
        until they are served, instead of adding to every claim. Runs until cancelled; sleeps
        while nothing is claimed.
        """
        while True:
            self._claims_heard = heard = anyio.Event()
            if not self._unsettled:
                await heard.wait()
            waited = 0.0
            while True:
                await anyio.sleep(SETTLE_DELAY)
                waited += SETTLE_DELAY
                if not len(self.queue) or waited >= SETTLE_PATIENCE:
                    break
            pending, self._unsettled = self._unsettled, []
            for done, (namespace, worker) in enumerate(pending, start=1):
                self._settle_worker(namespace, worker)
                if done % 200 == 0:
                    await anyio.sleep(0)  # thousands of them: let the loop breathe

    def _settle_worker(self, namespace: str, worker: str) -> None:
        for api_version, kind in (("v1", "Pod"), *WORKER_KINDS):
            informer = self.informers.informer(api_version, kind)
            if informer is not None:
                informer.settle(namespace, worker)

    def enqueue_all(self) -> None:
        """Queue every known shell and pool (after the caches synced, or a leader change)."""
        for key in self.pool_keys():
            self.queue.add(key)
        shells = self.informers.informer(API_VERSION, KIND)
        if shells is not None:
            for shell in shells.list():
                meta = _meta(shell)
                self.queue.add(ShellKey(str(meta.get("namespace") or ""), str(meta["name"])))

    def pool_keys(self) -> list[PoolKey]:
        """Every pool kept filled: configured ones and those of the shells seen so far."""
        return list(self._pools.values())

    def _on_kind(self, kind: KindRef, served: bool) -> None:
        for keys in self._live.values():
            for key in keys:
                self.queue.add(key)

    def _on_shell(self, type_: str, shell: Manifest, old: Manifest | None) -> None:
        if old is not None:
            self._count_phase(old, -1)
        if type_ != DELETED:
            self._count_phase(shell, 1)
        meta = _meta(shell)
        key = ShellKey(str(meta.get("namespace") or ""), str(meta["name"]))
        uid = str(meta.get("uid") or "")
        if type_ == DELETED:
            self._uids.pop(uid, None)
            self._forget_live(key)
            self.queue.cancel_timer(key)
            self.queue.forget(key)
            self._streaks.pop(key, None)
            self._cooldown.pop(key, None)
            self.observer.shell_gone(uid)
            return
        if uid:
            self._uids[uid] = key
        if old is None and uid:
            self.observer.shell_seen(uid)
        if _shell_is_live(shell):
            self._live.setdefault(key.namespace, set()).add(key)
            self._learn_pool(shell)
        else:
            self._forget_live(key)
        if type_ == MODIFIED and old is not None and _essence(old) == _essence(shell):
            return
        self._wake(key, shell)

    def _wake(self, key: ShellKey, changed: Manifest) -> None:
        """Plan ``key`` again because ``changed`` changed -- unless a pass is writing ``key``
        right now: the change is then noted, and the pass decides once it is done
        (:meth:`_settle`), since it may be the echo of that pass's own write."""
        heard = self._applying.get(key)
        if heard is None:
            self.queue.add(key)
        elif self.applier.writer != key:  # the pass's own writes are known from its outcome
            heard.add(version_of(changed))

    def _settle(self, key: ShellKey, result: Plan | None, outcome: ApplyOutcome | None) -> None:
        """After writing ``key``: plan it again if anything but its own writes changed
        meanwhile, or if it heard its own writes but did not leave the shell Ready.

        A pass that leaves a shell Ready planned everything it wrote and wrote the URL, so
        planning again from the echoes of its own writes would find nothing to do (half of
        all passes in a burst of new shells). A pass that stopped short of Ready may wait for
        what the server assigns (a node port), and plans again from the objects as written.
        """
        heard = self._applying.pop(key, set())
        if outcome is None or result is None:
            self.queue.add(key)  # refused: the error path retries with backoff anyway
            return
        if heard - outcome.written:
            self.queue.add(key)
            return
        status = result.status
        if outcome.written and (status is None or status.phase is not Phase.READY):
            self.queue.add(key)

    def _forget_live(self, key: ShellKey) -> None:
        keys = self._live.get(key.namespace)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._live[key.namespace]

    def _learn_pool(self, shell: Manifest) -> None:
        spec = shell.get("spec") or {}
        backend_name = spec.get("imageBackend") or _DEFAULT_IMAGE_BACKEND
        if not isinstance(backend_name, str):
            return
        try:
            backend = self.context.registry.image(backend_name)
        except BackendNotInstalled:
            return
        if not backend.supports_warm_pool:
            return
        image = spec.get("image") or self.settings.image_for(backend)
        if not isinstance(image, str):
            return
        key = PoolKey(str(_meta(shell).get("namespace") or "default"), backend_name, image)
        if key.hash not in self._pools:
            self._pools[key.hash] = key
            self.queue.add(key)

    def _pool_changed(self, key: PoolKey) -> None:
        """Plan the pool again -- soon, not at once: one pass reads every worker of the pool,
        and during a burst of claims every claim changes the pool. Changes within the pause
        (twice the last pass, at least :data:`POOL_PAUSE`) are planned together, so the pool
        takes at most about a third of the planning time, the shells the rest."""
        self.queue.add_after(key, max(POOL_PAUSE, 2 * self._pool_seconds.get(key, 0.0)))

    def _child_handler(self, kind: KindRef) -> Callable[[str, Manifest, Manifest | None], None]:
        def handle(type_: str, obj: Manifest, old: Manifest | None) -> None:
            if type_ == MODIFIED and _essence(old) == _essence(obj):
                return
            self._on_child(kind, obj, old)

        return handle

    def _on_child(self, kind: KindRef, obj: Manifest, old: Manifest | None) -> None:
        meta = _meta(obj)
        namespace = str(meta.get("namespace") or "")
        found = False
        for source in (obj, old):
            for owner in _meta(source).get("ownerReferences") or ():
                if owner.get("kind") == KIND and str(owner.get("apiVersion", "")).startswith(
                    f"{GROUP}/"
                ):
                    self._wake(ShellKey(namespace, str(owner.get("name"))), obj)
                    found = True
            for owner in _meta(source).get("ownerReferences") or ():
                # A claimed pool worker's pod is owned by its session Secret, which names the
                # shell: the shell hears of its worker's changes (the session ending).
                if owner.get("kind") == "Secret" and owner.get("apiVersion") == "v1":
                    self._wake_session_holder(namespace, str(owner.get("name")), obj)
            labels = _meta(source).get("labels") or {}
            uid = labels.get(LABEL_SHELL_UID)
            if uid and uid in self._uids:
                self._wake(self._uids[uid], obj)
                found = True
            pool = labels.get(LABEL_POOL)
            if pool and pool in self._pools:
                self._pool_changed(self._pools[pool])
                if labels.get(LABEL_ROLE) == ROLE_WORKER:
                    found = True
        worker = str(meta.get("name") or "")
        if (
            (kind.api_version, kind.kind) in WORKER_KINDS
            and LABEL_POOL in (meta.get("labels") or {})
            and worker in self.claimed.names(namespace)
        ):
            # A claimed worker's account, Role or RoleBinding: its shell keeps them (the pool
            # pass leaves claimed workers alone), so it hears of the change.
            self._wake_session_holder(namespace, session_secret_name(worker), obj)
        if found:
            return
        if kind.namespaced:
            for key in list(self._live.get(namespace, ())):
                self._wake(key, obj)
        else:
            for keys in list(self._live.values()):
                for key in keys:
                    self._wake(key, obj)

    def _wake_session_holder(self, namespace: str, secret: str, changed: Manifest) -> None:
        """Plan again the shell whose session Secret ``secret`` is (its label names the
        shell), because ``changed`` -- a part of its worker -- changed."""
        session = self.view.get("v1", "Secret", namespace, secret)
        uid = (_meta(session).get("labels") or {}).get(LABEL_SHELL_UID)
        if uid and uid in self._uids:
            self._wake(self._uids[uid], changed)

    # Reconciling ---------------------------------------------------------------------------

    async def process(self, key: QueueKey) -> None:
        """Reconcile one key (the work queue's worker function); never raises."""
        cooldown = self._cooldown.get(key)
        if cooldown is not None:
            remaining = cooldown - anyio.current_time()
            if remaining > 0:
                self.queue.add_after(key, remaining)
                return
            del self._cooldown[key]
        started = time.perf_counter()
        kind = "shell" if isinstance(key, ShellKey) else "pool"
        self.passes[kind] += 1
        try:
            if isinstance(key, ShellKey):
                result = await self._reconcile_shell(key)
            else:
                result = await self._reconcile_pool(key)
        except Exception as error:  # a bug in a backend or the planner: keep the rest going
            log.exception("reconciling %s %s failed", kind, key)
            self.observer.reconcile_failed(kind, error)
            self._retry(key)
            result = "error"
        self.observer.reconciled(kind, result, time.perf_counter() - started)

    def _retry(self, key: QueueKey, at_least: float = 0.0) -> None:
        self.queue.retry(key, at_least)
        self.observer.queue_retried("reconcile")

    def _handle_error(self, key: QueueKey, kind: str, error: ApiError) -> str:
        self.observer.reconcile_failed(kind, error)
        if isinstance(error, Conflict | AlreadyExists | NotFound):
            # The cache was behind: the watch brings the change, a short backoff covers it.
            log.debug("%s %s: %s; planning again", kind, key, error)
            self._retry(key)
            return "conflict"
        if isinstance(error, TooManyRequests):
            self._retry(key, error.retry_after or 1.0)
            return "requeue"
        log.warning("%s %s: %s", kind, key, error)
        self._retry(key, error.retry_after or 0.0)
        return "error"

    def _note_writes(self, key: QueueKey, wrote: bool) -> None:
        if not wrote:
            self._streaks.pop(key, None)
            self.queue.forget(key)
            return
        streak = self._streaks.get(key, 0) + 1
        self._streaks[key] = streak
        if streak >= HOT_LOOP_LIMIT:
            delay = self.queue.backoff.next_delay(key)
            log.warning(
                "%s: %d plans in a row wrote something; slowing down for %.1fs",
                key,
                streak,
                delay,
            )
            self._cooldown[key] = anyio.current_time() + delay
            self._streaks[key] = 0

    async def _reconcile_shell(self, key: ShellKey) -> str:
        shells = self.informers.informer(API_VERSION, KIND)
        raw = shells.get(key.namespace, key.name) if shells is not None else None
        if raw is None:
            return "success"
        with log_context(key.namespace, key.name):
            pool = ReservingPoolView(
                self.view, self.reservations, key, self.idle_sessions, self.claimed
            )
            result = plan(raw, self.view, pool, self.clock(), self.context)
            for update in result.updates:
                worker = claimed_worker(update)
                if worker is not None:
                    self.reservations.reserve(key.namespace, worker, key)
            try:
                if result.is_empty:
                    self._note_writes(key, False)
                    outcome = "success"
                else:
                    outcome = await self._apply_shell(key, raw, result)
            finally:
                self.reservations.release(key)
            if result.requeue_after is not None and outcome == "success":
                # The planner compares with `now >= expires_at`: land just after the instant.
                self.queue.add_after(key, max(result.requeue_after, 0.0) + 0.01)
            return outcome

    async def _apply_shell(self, key: ShellKey, raw: Manifest, result: Plan) -> str:
        self._applying[key] = set()
        try:
            outcome = await self.applier.apply(result, raw, writer=key)
        except Invalid as error:
            if self._applying.pop(key, None):
                self.queue.add(key)  # e.g. the spec was mended while this pass wrote
            await self._fail_permanently(key, raw, error)
            return "error"
        except ApiError as error:
            self._applying.pop(key, None)
            return self._handle_error(key, "shell", error)
        except BaseException:
            self._settle(key, None, None)
            raise
        self._settle(key, result, outcome)
        self._note_writes(key, True)
        if outcome.status_written and result.status is not None:
            self._report_phase(raw, result)
        return "success"

    def _report_phase(self, raw: Manifest, result: Plan) -> None:
        assert result.status is not None
        uid = str(_meta(raw).get("uid") or "")
        old_phase = (raw.get("status") or {}).get("phase")
        new_phase = result.status.phase
        if new_phase is Phase.READY and old_phase != Phase.READY.value:
            self.observer.shell_ready(uid, warm=self._served_warm(raw, result))
        elif new_phase is not None and new_phase.terminal:
            self.observer.shell_gone(uid)

    def _served_warm(self, raw: Manifest, result: Plan) -> bool:
        """Whether the shell got a worker of the warm pool (this plan claimed one, or its bound
        worker's session Secret is a pool worker's) rather than a pod made for it."""
        if any(claimed_worker(u) is not None for u in result.updates):
            return True
        worker = result.status.worker if result.status is not None else None
        if not worker:
            return False
        namespace = str(_meta(raw).get("namespace") or "")
        secret = self.view.get("v1", "Secret", namespace, session_secret_name(worker))
        return LABEL_POOL in (_meta(secret).get("labels") or {})

    async def _fail_permanently(self, key: ShellKey, raw: Manifest, error: ApiError) -> None:
        """The API server refuses an object the plan needs: retrying cannot help. The shell
        becomes Failed with a condition saying what was refused and why."""
        self.observer.reconcile_failed("shell", error)
        message = f"the API server refused an object of this shell: {error.message}"[:1024]
        shells = self.informers.informer(API_VERSION, KIND)
        latest = shells.get(key.namespace, key.name) if shells is not None else None
        raw = latest or raw  # the failed plan may have written the shell (its finalizer)
        try:
            status = converter.structure(raw.get("status") or {}, CloudShellStatus)
        except Exception:  # an unreadable status is rewritten
            status = CloudShellStatus()
        if Event.PERMANENT_ERROR not in allowed_events(status.phase) or (
            status.phase is not None and status.phase.terminal
        ):
            self._retry(key)
            return
        now = self.clock()
        status = status.after(Event.PERMANENT_ERROR).with_condition(
            Condition(
                type="Accepted",
                status="False",
                reason="PermanentError",
                message=message,
                last_transition_time=now,
                observed_generation=int(_meta(raw).get("generation") or 0),
            )
        )
        status = attrs.evolve(status, observed_generation=int(_meta(raw).get("generation") or 0))
        log.warning("%s: %s", key, message)
        failed = Plan(
            status=status,
            events=(EventSpec("Warning", Event.PERMANENT_ERROR.value, message),),
        )
        try:
            await self.applier.apply(failed, raw)
        except ApiError as second:
            self._handle_error(key, "shell", second)
            return
        self.observer.shell_gone(str(_meta(raw).get("uid") or ""))

    async def _reconcile_pool(self, key: PoolKey) -> str:
        started = time.perf_counter()
        result = plan_pool(key, self.view, self.pool_view, self.settings, self.context.registry)
        self._pool_seconds[key] = time.perf_counter() - started
        if result.is_empty:
            self._note_writes(key, False)
            return "success"
        try:
            await self.applier.apply(result)
        except ApiError as error:
            return self._handle_error(key, "pool", error)
        self._note_writes(key, True)
        return "success"

    # Reading for metrics -------------------------------------------------------------------

    def pool_counts(self, key: PoolKey) -> tuple[int, int, int]:
        """(idle Ready, idle starting, claimed) workers of a pool, from the caches."""
        idle = [p for p in idle_pods(key, self.pool_view) if not _meta(p).get("deletionTimestamp")]
        ready = sum(1 for p in idle if is_ready(p))
        return ready, len(idle) - ready, self.claimed.count(key)

    def _count_phase(self, shell: Manifest, change: int) -> None:
        phase = str((shell.get("status") or {}).get("phase") or Phase.PENDING.value)
        count = self._phases.get(phase, 0) + change
        if count:
            self._phases[phase] = count
        else:
            self._phases.pop(phase, None)

    def shells_by_phase(self) -> dict[str, int]:
        """How many cached shells are in each phase (``Pending`` for none yet)."""
        return dict(self._phases)
