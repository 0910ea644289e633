"""Leader election on a ``coordination.k8s.io/v1`` Lease, the way client-go does it.

Several operator replicas run; one holds the Lease and runs the controllers, the others stand
by. The protocol and its three durations are client-go's (``k8s.io/client-go/tools/
leaderelection``):

- ``lease_duration``: a candidate takes over a Lease whose record has not changed for this long,
  measured on the candidate's own monotonic clock from when it *observed* the change (never by
  comparing its wall clock with the holder's ``renewTime``, so clock skew does not matter);
- ``renew_deadline``: the leader steps down when it could not renew for this long -- shorter
  than ``lease_duration``, so it stops acting before anyone else may start;
- ``retry_period``: time between attempts (candidates add up to 120 % jitter).

Every write is an update with the Lease's ``resourceVersion`` (optimistic concurrency): two
candidates racing for an expired Lease cannot both win. On graceful shutdown the leader writes
an empty ``holderIdentity`` so a standby takes over at its next attempt instead of waiting out
the Lease.

Use :meth:`LeaderElector.lead` to run a coroutine only while leading (cancelled when the lease
is lost, restarted when it is won again), or ``async with elector.leadership():`` for one term.
The Kubernetes client is synchronous: calls run in worker threads with a limiter of their own,
so a runtime saturating its threads cannot starve renewal.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio
import attrs

from cloudtty_core.model import Manifest
from cloudtty_core.runtime.health import Role

if TYPE_CHECKING:
    from cloudtty_core.runtime.health import HealthState
    from cloudtty_core.runtime.metrics import OperatorMetrics

__all__ = [
    "JITTER_FACTOR",
    "LEASE_API_VERSION",
    "KubernetesLeaseClient",
    "LeaderElectionConfig",
    "LeaderElector",
    "LeadershipLost",
    "LeaseClient",
    "LeaseConflict",
    "LeaseError",
    "LeaseRecord",
    "default_identity",
]

log = logging.getLogger(__name__)

LEASE_API_VERSION = "coordination.k8s.io/v1"
#: client-go's jitter: candidates wait ``retry_period * (1 + random() * JITTER_FACTOR)``.
JITTER_FACTOR = 1.2

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

T = TypeVar("T")


def default_identity() -> str:
    """``<hostname>_<uuid>``, as client-go's callers build it: unique per process, and the
    host name (the pod name in a cluster) tells people which replica leads."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"leader election: {attribute.name} must be positive, got {value}")


@attrs.frozen
class LeaderElectionConfig:
    """Which Lease, who we are, and the timing (client-go's defaults: 15 s, 10 s, 2 s)."""

    lease_name: str = "cloudtty-operator"
    lease_namespace: str = "default"
    identity: str = attrs.field(factory=default_identity)
    lease_duration: float = attrs.field(default=15.0, validator=_positive)
    renew_deadline: float = attrs.field(default=10.0, validator=_positive)
    retry_period: float = attrs.field(default=2.0, validator=_positive)
    release_on_cancel: bool = True
    #: Timeout of one API request; default: ``renew_deadline``.
    request_timeout: float | None = None

    def __attrs_post_init__(self) -> None:
        if not _DNS_SUBDOMAIN.match(self.lease_name) or len(self.lease_name) > 253:
            raise ValueError(
                f"leader election: lease name {self.lease_name!r} is not a DNS subdomain "
                "(lower-case letters, digits, '-' and '.')"
            )
        if not _DNS_LABEL.match(self.lease_namespace) or len(self.lease_namespace) > 63:
            raise ValueError(
                f"leader election: lease namespace {self.lease_namespace!r} is not a DNS label"
            )
        if not self.identity.strip():
            raise ValueError("leader election: identity must not be empty")
        if self.lease_duration <= self.renew_deadline:
            raise ValueError(
                f"leader election: lease duration ({self.lease_duration:g}s) must be greater "
                f"than the renew deadline ({self.renew_deadline:g}s)"
            )
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError(
                f"leader election: renew deadline ({self.renew_deadline:g}s) must be greater "
                f"than {JITTER_FACTOR:g} x the retry period ({self.retry_period:g}s)"
            )

    @property
    def timeout(self) -> float:
        """Timeout of one API request."""
        return self.request_timeout if self.request_timeout is not None else self.renew_deadline


# --------------------------------------------------------------------------------------------
# The Lease record
# --------------------------------------------------------------------------------------------


def _micro_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@attrs.frozen
class LeaseRecord:
    """The leader-election fields of a Lease's spec."""

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: str | None = None
    renew_time: str | None = None
    leader_transitions: int = 0

    @classmethod
    def from_lease(cls, lease: Manifest) -> LeaseRecord:
        """Read the record of a Lease object (missing fields read as empty)."""
        spec = lease.get("spec") or {}
        return cls(
            holder_identity=str(spec.get("holderIdentity") or ""),
            lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            leader_transitions=int(spec.get("leaseTransitions") or 0),
        )

    def spec(self) -> Manifest:
        """The record as a Lease spec."""
        spec: Manifest = {
            "holderIdentity": self.holder_identity,
            "leaseDurationSeconds": self.lease_duration_seconds,
            "leaseTransitions": self.leader_transitions,
        }
        if self.acquire_time is not None:
            spec["acquireTime"] = self.acquire_time
        if self.renew_time is not None:
            spec["renewTime"] = self.renew_time
        return spec


# --------------------------------------------------------------------------------------------
# Talking to the API
# --------------------------------------------------------------------------------------------


class LeaseError(Exception):
    """The API server refused or failed a Lease request."""


class LeaseConflict(LeaseError):
    """409: the Lease changed since it was read, or already exists."""


class LeaseClient(Protocol):
    """Synchronous Lease access (called from worker threads). Raise :class:`LeaseConflict`
    on 409 and :class:`LeaseError` on any other failure."""

    def get(self, namespace: str, name: str) -> Manifest | None:
        """The Lease, or None when it does not exist."""
        ...

    def create(self, namespace: str, lease: Manifest) -> Manifest:
        """Create the Lease; returns it as stored."""
        ...

    def replace(self, namespace: str, name: str, lease: Manifest) -> Manifest:
        """PUT the Lease (its ``metadata.resourceVersion`` is the precondition)."""
        ...


class KubernetesLeaseClient:
    """:class:`LeaseClient` over the official client's ``CoordinationV1Api``.

    ``timeout`` bounds each request (seconds): a request the elector abandoned at its renew
    deadline must not keep a thread forever.
    """

    def __init__(self, api_client: Any, *, timeout: float | None = 10.0) -> None:
        from kubernetes import client

        self._api = client.CoordinationV1Api(api_client)
        self._timeout = timeout

    def get(self, namespace: str, name: str) -> Manifest | None:
        """The Lease, or None on 404."""
        try:
            response = self._api.read_namespaced_lease(
                name, namespace, _preload_content=False, _request_timeout=self._timeout
            )
        except Exception as error:
            if getattr(error, "status", None) == 404:
                return None
            raise _lease_error("read", namespace, name, error) from error
        return _json(response)

    def create(self, namespace: str, lease: Manifest) -> Manifest:
        """POST the Lease."""
        try:
            response = self._api.create_namespaced_lease(
                namespace, _body(lease), _preload_content=False, _request_timeout=self._timeout
            )
        except Exception as error:
            raise _lease_error("create", namespace, lease["metadata"]["name"], error) from error
        return _json(response)

    def replace(self, namespace: str, name: str, lease: Manifest) -> Manifest:
        """PUT the Lease."""
        try:
            response = self._api.replace_namespaced_lease(
                name,
                namespace,
                _body(lease),
                _preload_content=False,
                _request_timeout=self._timeout,
            )
        except Exception as error:
            raise _lease_error("update", namespace, name, error) from error
        return _json(response)


def _body(lease: Manifest) -> Any:
    # The generated API is typed for V1Lease; a plain dict serialises the same and keeps
    # every field the server sent.
    return lease


def _json(response: Any) -> Manifest:
    data = json.loads(response.data)
    if not isinstance(data, dict):
        raise LeaseError(f"the API server answered a Lease request with {type(data).__name__}")
    return data


def _lease_error(verb: str, namespace: str, name: str, error: Exception) -> LeaseError:
    status = getattr(error, "status", None)
    reason = getattr(error, "reason", None) or type(error).__name__
    kind = LeaseConflict if status == 409 else LeaseError
    where = f"Lease {namespace}/{name}"
    if status:
        return kind(f"{verb} {where}: {status} {reason}")
    return kind(f"{verb} {where}: {reason}: {str(error).splitlines()[0] if str(error) else ''}")


# --------------------------------------------------------------------------------------------
# The elector
# --------------------------------------------------------------------------------------------


class LeadershipLost(Exception):
    """The Lease could not be renewed within the renew deadline (or another replica holds it):
    the work that ran under it was cancelled."""


class LeaderElector:
    """One replica's participation in the election for one Lease.

    Callbacks (plain functions, called on the event loop): ``on_started_leading()``,
    ``on_stopped_leading()``, ``on_new_leader(identity)`` (whenever the observed holder
    changes, this replica included). ``metrics`` and ``health``, when given, follow the role.
    """

    def __init__(
        self,
        config: LeaderElectionConfig,
        client: LeaseClient,
        *,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
        on_new_leader: Callable[[str], None] | None = None,
        metrics: OperatorMetrics | None = None,
        health: HealthState | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._client = client
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._on_new_leader = on_new_leader
        self._metrics = metrics
        self._health = health
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        self._limiter = anyio.CapacityLimiter(1)
        self._lease: Manifest | None = None
        self._observed: LeaseRecord | None = None
        self._observed_version = ""
        self._observed_at = 0.0
        self._reported_leader: str | None = None
        self._leading = False
        self._role = Role.STARTING
        self._last_renewed = 0.0
        self._leading_changed: anyio.Event = anyio.Event()
        self._set_role(Role.STARTING)

    # ---------------------------------------------------------------- what we know
    @property
    def identity(self) -> str:
        """This replica's holder identity."""
        return self.config.identity

    @property
    def is_leader(self) -> bool:
        """True from winning the Lease until stepping down or releasing it."""
        return self._leading

    @property
    def leader(self) -> str | None:
        """The holder last observed on the Lease (None when none or unknown)."""
        return self._observed.holder_identity or None if self._observed else None

    @property
    def last_renewed(self) -> float:
        """When (on the elector's monotonic clock) the last successful acquire or renewal
        began; the Lease stays this replica's at least until ``renew_deadline`` after it."""
        return self._last_renewed

    @property
    def role(self) -> Role:
        """Where this replica stands."""
        return self._role

    def _lease_valid(self, now: float) -> bool:
        assert self._observed is not None
        return self._observed_at + self._observed.lease_duration_seconds > now

    def _observes_itself(self) -> bool:
        return self._observed is not None and self._observed.holder_identity == self.identity

    def _observe(self, lease: Manifest, record: LeaseRecord | None = None) -> None:
        record = record or LeaseRecord.from_lease(lease)
        version = str((lease.get("metadata") or {}).get("resourceVersion") or "")
        # Any write counts as a sign of life, even one that left the record as it was.
        if record != self._observed or version != self._observed_version:
            self._observed = record
            self._observed_version = version
            self._observed_at = self._clock()
        self._lease = lease
        holder = record.holder_identity or None
        if holder != self._reported_leader:
            self._reported_leader = holder
            if holder:
                log.info("the lease %s is held by %s", self._lease_ref, holder)
                if self._on_new_leader is not None:
                    self._on_new_leader(holder)

    @property
    def _lease_ref(self) -> str:
        return f"{self.config.lease_namespace}/{self.config.lease_name}"

    # ---------------------------------------------------------------- one attempt
    async def try_acquire_or_renew(self) -> bool:
        """One attempt to take or keep the Lease (client-go's ``tryAcquireOrRenew``).

        True when this replica holds the Lease afterwards. API failures count as a failed
        attempt (logged), never raise.
        """
        try:
            return await self._attempt()
        except LeaseError as error:
            log.warning("leader election: %s", error)
            return False

    async def _attempt(self) -> bool:
        config = self.config
        wall = _micro_time(self._wall_clock())
        mine = LeaseRecord(
            holder_identity=self.identity,
            lease_duration_seconds=max(1, math.ceil(config.lease_duration)),
            acquire_time=wall,
            renew_time=wall,
        )
        # Fast path: the leader renews the Lease it wrote last, without reading it first.
        if self._observes_itself() and self._lease_valid(self._clock()) and self._lease:
            assert self._observed is not None
            renewed = attrs.evolve(
                mine,
                acquire_time=self._observed.acquire_time,
                leader_transitions=self._observed.leader_transitions,
            )
            try:
                stored = await self._call(
                    self._client.replace,
                    config.lease_namespace,
                    config.lease_name,
                    _with_record(self._lease, renewed),
                )
            except LeaseError as error:
                log.info("renewing from the cached lease failed (%s); reading it again", error)
            else:
                self._observe(stored, renewed)
                return True
        current = await self._call(self._client.get, config.lease_namespace, config.lease_name)
        if current is None:
            lease = _new_lease(config, mine)
            try:
                stored = await self._call(self._client.create, config.lease_namespace, lease)
            except LeaseConflict:
                return False  # someone created it first; the next attempt reads theirs
            self._observe(stored, mine)
            return True
        self._observe(current)
        observed = self._observed
        assert observed is not None
        if (
            observed.holder_identity
            and observed.holder_identity != self.identity
            and self._lease_valid(self._clock())
        ):
            return False
        if observed.holder_identity == self.identity:
            record = attrs.evolve(
                mine,
                acquire_time=observed.acquire_time,
                leader_transitions=observed.leader_transitions,
            )
        else:
            record = attrs.evolve(mine, leader_transitions=observed.leader_transitions + 1)
        try:
            stored = await self._call(
                self._client.replace,
                config.lease_namespace,
                config.lease_name,
                _with_record(current, record),
            )
        except LeaseConflict:
            return False
        self._observe(stored, record)
        return True

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        # The thread is abandoned when the caller's deadline passes (a hung request must not
        # hold the leader past its renew deadline); the request timeout bounds its life.
        return await anyio.to_thread.run_sync(
            lambda: fn(*args), limiter=self._limiter, abandon_on_cancel=True
        )

    # ---------------------------------------------------------------- the loops
    async def acquire(self) -> None:
        """Return once this replica holds the Lease (tries every jittered retry period)."""
        if self._role is not Role.STANDBY:
            self._set_role(Role.CANDIDATE)
        log.info("leader election: %s competing for lease %s", self.identity, self._lease_ref)
        while True:
            started = self._clock()
            with anyio.move_on_after(self.config.renew_deadline):
                if await self.try_acquire_or_renew():
                    break
            holder = self.leader
            if holder and holder != self.identity:
                self._set_role(Role.STANDBY, holder)
            else:
                self._set_role(Role.CANDIDATE)
            period = self.config.retry_period
            delay = period * (1 + self._rng.random() * JITTER_FACTOR)
            await anyio.sleep(max(0.0, started + delay - self._clock()))
        self._last_renewed = started
        self._start_leading()

    async def keep_renewing(self) -> None:
        """While leading, renew every retry period; return when the Lease is lost (no renewal
        for ``renew_deadline``, or another holder observed)."""
        config = self.config
        while self._leading:
            await anyio.sleep(max(0.0, self._last_renewed + config.retry_period - self._clock()))
            deadline = self._last_renewed + config.renew_deadline
            while True:
                started = self._clock()
                renewed = False
                with anyio.move_on_after(max(0.0, deadline - started)):
                    renewed = await self.try_acquire_or_renew()
                if renewed:
                    self._last_renewed = started
                    break
                holder = self.leader
                if holder and holder != self.identity:
                    log.warning(
                        "leader election: lease %s was taken by %s", self._lease_ref, holder
                    )
                    self._stop_leading()
                    return
                if self._clock() >= deadline:
                    log.warning(
                        "leader election: could not renew lease %s within %gs; stepping down",
                        self._lease_ref,
                        config.renew_deadline,
                    )
                    self._stop_leading()
                    return
                await anyio.sleep(min(config.retry_period, max(0.0, deadline - self._clock())))

    async def release(self) -> bool:
        """Give the Lease up (empty holder, so a standby takes it at once) and stop leading.

        True when the Lease was written; does nothing when this replica does not hold it.
        """
        lease, observed = self._lease, self._observed
        if lease is None or observed is None or not self._observes_itself():
            self._stop_leading()
            return False
        wall = _micro_time(self._wall_clock())
        record = LeaseRecord(
            holder_identity="",
            lease_duration_seconds=1,
            acquire_time=wall,
            renew_time=wall,
            leader_transitions=observed.leader_transitions,
        )
        released = False
        try:
            with anyio.fail_after(self.config.timeout):
                stored = await self._call(
                    self._client.replace,
                    self.config.lease_namespace,
                    self.config.lease_name,
                    _with_record(lease, record),
                )
        except (LeaseError, TimeoutError) as error:
            log.warning("leader election: releasing lease %s failed: %s", self._lease_ref, error)
        else:
            self._observe(stored, record)
            released = True
            log.info("leader election: released lease %s", self._lease_ref)
        self._stop_leading()
        return released

    # ---------------------------------------------------------------- running work
    @asynccontextmanager
    async def leadership(self) -> AsyncIterator[LeaderElector]:
        """Wait until leading, then run the body while renewing in the background.

        Losing the Lease cancels the body and raises :class:`LeadershipLost`; leaving the body
        (normally, by an error or by cancellation) releases the Lease when
        ``release_on_cancel`` is set.
        """
        await self.acquire()
        lost = False
        try:
            try:
                async with anyio.create_task_group() as group:

                    async def renew() -> None:
                        nonlocal lost
                        await self.keep_renewing()
                        lost = True
                        group.cancel_scope.cancel()

                    group.start_soon(renew, name=f"renew lease {self._lease_ref}")
                    try:
                        yield self
                    finally:
                        group.cancel_scope.cancel()
            except BaseExceptionGroup as errors:
                # The task group wraps what the body raised; the caller expects it bare.
                if len(errors.exceptions) == 1:
                    raise errors.exceptions[0] from None
                raise
        finally:
            if self._leading and self.config.release_on_cancel:
                with anyio.CancelScope(shield=True):
                    await self.release()
            self._stop_leading()
        if lost:
            raise LeadershipLost(f"lost the lease {self._lease_ref}")

    async def lead(self, work: Callable[[], Awaitable[T]], *, reacquire: bool = True) -> T:
        """Run ``work()`` whenever this replica leads; return its result.

        When the Lease is lost ``work`` is cancelled; with ``reacquire`` the replica competes
        again and restarts ``work`` from scratch when it wins, otherwise
        :class:`LeadershipLost` propagates.
        """
        while True:
            try:
                async with self.leadership():
                    return await work()
            except LeadershipLost:
                if not reacquire:
                    raise
                log.info("leader election: standing by for lease %s again", self._lease_ref)

    async def wait_leading(self) -> None:
        """Return once this replica leads (immediately when it does)."""
        while not self._leading:
            await self._leading_changed.wait()

    # ---------------------------------------------------------------- role changes
    def _start_leading(self) -> None:
        self._leading = True
        self._set_role(Role.LEADER, self.identity)
        log.info("leader election: %s now leads (lease %s)", self.identity, self._lease_ref)
        self._notify()
        if self._on_started is not None:
            self._on_started()

    def _stop_leading(self) -> None:
        if not self._leading:
            return
        self._leading = False
        holder = self.leader if self.leader != self.identity else None
        self._set_role(Role.STANDBY if holder else Role.CANDIDATE, holder)
        log.info("leader election: %s stopped leading", self.identity)
        self._notify()
        if self._on_stopped is not None:
            self._on_stopped()

    def _notify(self) -> None:
        self._leading_changed.set()
        self._leading_changed = anyio.Event()

    def _set_role(self, role: Role, leader: str | None = None) -> None:
        self._role = role
        if self._health is not None:
            self._health.set_role(role, leader)
        if self._metrics is not None and role in (Role.LEADER, Role.STANDBY, Role.CANDIDATE):
            self._metrics.set_leading(role is Role.LEADER)


def _new_lease(config: LeaderElectionConfig, record: LeaseRecord) -> Manifest:
    return {
        "apiVersion": LEASE_API_VERSION,
        "kind": "Lease",
        "metadata": {"name": config.lease_name, "namespace": config.lease_namespace},
        "spec": record.spec(),
    }


def _with_record(lease: Manifest, record: LeaseRecord) -> Manifest:
    """A copy of ``lease`` carrying ``record`` (and the read ``resourceVersion``)."""
    metadata = dict(lease.get("metadata") or {})
    return {
        "apiVersion": LEASE_API_VERSION,
        "kind": "Lease",
        "metadata": metadata,
        "spec": {**(lease.get("spec") or {}), **record.spec()},
    }
