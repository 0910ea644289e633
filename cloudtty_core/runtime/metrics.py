"""The operator's Prometheus metrics.

One :class:`OperatorMetrics` per operator holds every metric in its own ``CollectorRegistry``
(several operators in one process -- tests, the benchmark -- never share counters). The runtime
reports what happens through its methods; quantities that already live in the runtime's data
structures (queue depth, pool sizes, shells by phase, cache sizes) are read at scrape time from
callables registered with the ``watch_*`` methods, so nothing has to keep them up to date.

Those callables run in the HTTP server's thread: they must only read (``len()`` of a dict, a
copy of a small mapping). One that raises is skipped for that scrape and logged at debug level.

Names (all prefixed ``cloudtty_``):

========================================== ======================================================
``reconciles_total{kind,result}``          reconcile passes; kind ``shell``/``pool``, result
                                           ``success``/``requeue``/``conflict``/``error``
``reconcile_errors_total{kind,error}``     failed passes by exception type
``reconcile_duration_seconds{kind}``       time of one pass (plan + apply)
``workqueue_depth{queue}``                 keys waiting (sampled)
``workqueue_adds_total{queue}``            keys added; ``workqueue_retries_total{queue}`` backoffs
``shell_time_to_ready_seconds{path}``      first seen by this replica → Ready written; ``warm``
                                           (claimed a pooled worker) or ``cold``
``shells{phase}``                          shells in the cache by phase (sampled)
``pool_workers{namespace,pool,state}``     workers by state ``idle``/``starting``/``claimed``
                                           (sampled); ``pool_min_idle{namespace,pool}`` target
``api_requests_total{verb,resource,code}`` requests to the API server (see :func:`instrument`)
``api_request_duration_seconds{verb}``     their latency (for watches: until headers arrive)
``watch_restarts_total{resource,reason}``  watch streams restarted: ``closed``, ``expired``
                                           (410, relist), ``error``
``cache_objects{resource}``                objects in each informer cache (sampled)
``leader``                                 1 while this replica leads (or election is off)
``leadership_changes_total{state}``        ``leading``/``standby`` transitions
``build_info{version}``                    always 1
========================================== ======================================================
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = [
    "READY_BUCKETS",
    "OperatorMetrics",
    "PoolSample",
    "classify_request",
    "instrument",
]

log = logging.getLogger(__name__)

PREFIX = "cloudtty"

#: Time-to-Ready buckets: the warm path is tens of milliseconds, the cold one seconds.
READY_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.2,
    0.3,
    0.5,
    1.0,
    2.0,
    3.0,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
)
_RECONCILE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@attrs.frozen
class PoolSample:
    """Workers of one pool key at scrape time."""

    namespace: str
    pool: str
    idle: int
    claimed: int
    starting: int = 0
    min_idle: int | None = None


class _Sampled(Collector):
    """Gauges read from registered callables when Prometheus scrapes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, Callable[[], int]] = {}
        self._caches: dict[str, Callable[[], int]] = {}
        self._pools: list[Callable[[], Iterable[PoolSample]]] = []
        self._shells: list[Callable[[], Mapping[str, int]]] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            queues = dict(self._queues)
            caches = dict(self._caches)
            pools = list(self._pools)
            shells = list(self._shells)
        depth = GaugeMetricFamily(
            f"{PREFIX}_workqueue_depth", "Keys waiting in the work queue.", labels=["queue"]
        )
        for name, read in queues.items():
            value = _read(read, f"queue {name}")
            if value is not None:
                depth.add_metric([name], float(value))
        yield depth
        objects = GaugeMetricFamily(
            f"{PREFIX}_cache_objects", "Objects in an informer cache.", labels=["resource"]
        )
        for name, read in caches.items():
            value = _read(read, f"cache {name}")
            if value is not None:
                objects.add_metric([name], float(value))
        yield objects
        workers = GaugeMetricFamily(
            f"{PREFIX}_pool_workers",
            "Warm pool workers by state.",
            labels=["namespace", "pool", "state"],
        )
        targets = GaugeMetricFamily(
            f"{PREFIX}_pool_min_idle",
            "Idle workers the pool keeps ready.",
            labels=["namespace", "pool"],
        )
        for read_pools in pools:
            samples = _read(lambda read=read_pools: list(read()), "pool")  # type: ignore[misc]
            for sample in samples or ():
                for state in ("idle", "starting", "claimed"):
                    workers.add_metric(
                        [sample.namespace, sample.pool, state], float(getattr(sample, state))
                    )
                if sample.min_idle is not None:
                    targets.add_metric([sample.namespace, sample.pool], float(sample.min_idle))
        yield workers
        yield targets
        phases = GaugeMetricFamily(f"{PREFIX}_shells", "CloudShells by phase.", labels=["phase"])
        totals: dict[str, int] = {}
        for read_shells in shells:
            counts = _read(lambda read=read_shells: dict(read()), "shells")  # type: ignore[misc]
            for phase, count in (counts or {}).items():
                totals[phase] = totals.get(phase, 0) + count
        for phase, count in sorted(totals.items()):
            phases.add_metric([phase], float(count))
        yield phases


def _read(read: Callable[[], Any], what: str) -> Any:
    try:
        return read()
    except Exception as error:  # a scrape must never fail because one source did
        log.debug("skipping metric source %s: %s", what, error)
        return None


class OperatorMetrics:
    """Every metric of one operator, registered in :attr:`registry`."""

    def __init__(self, registry: CollectorRegistry | None = None, *, version: str = "") -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.reconciles = Counter(
            f"{PREFIX}_reconciles", "Reconcile passes.", ["kind", "result"], registry=r
        )
        self.reconcile_errors = Counter(
            f"{PREFIX}_reconcile_errors",
            "Reconcile passes that failed, by exception type.",
            ["kind", "error"],
            registry=r,
        )
        self.reconcile_duration = Histogram(
            f"{PREFIX}_reconcile_duration_seconds",
            "Time of one reconcile pass.",
            ["kind"],
            buckets=_RECONCILE_BUCKETS,
            registry=r,
        )
        self.queue_adds = Counter(
            f"{PREFIX}_workqueue_adds", "Keys added to the work queue.", ["queue"], registry=r
        )
        self.queue_retries = Counter(
            f"{PREFIX}_workqueue_retries",
            "Keys requeued with backoff after a failure.",
            ["queue"],
            registry=r,
        )
        self.time_to_ready = Histogram(
            f"{PREFIX}_shell_time_to_ready_seconds",
            "From the first time this replica saw a CloudShell to its Ready status being written.",
            ["path"],
            buckets=READY_BUCKETS,
            registry=r,
        )
        self.api_requests = Counter(
            f"{PREFIX}_api_requests",
            "Requests to the Kubernetes API server.",
            ["verb", "resource", "code"],
            registry=r,
        )
        self.api_request_duration = Histogram(
            f"{PREFIX}_api_request_duration_seconds",
            "Latency of requests to the Kubernetes API server.",
            ["verb"],
            buckets=_API_BUCKETS,
            registry=r,
        )
        self.watch_restarts = Counter(
            f"{PREFIX}_watch_restarts",
            "Watch streams restarted (closed by the server, expired with 410, failed).",
            ["resource", "reason"],
            registry=r,
        )
        self.leader = Gauge(
            f"{PREFIX}_leader",
            "1 while this replica leads (or leader election is off).",
            registry=r,
        )
        self.leadership_changes = Counter(
            f"{PREFIX}_leadership_changes",
            "Times this replica started leading or went back to standby.",
            ["state"],
            registry=r,
        )
        self.build_info = Info(f"{PREFIX}_build", "Version of the operator.", registry=r)
        self.build_info.info({"version": version or _version()})
        self._sampled = _Sampled()
        r.register(self._sampled)
        self._seen_lock = threading.Lock()
        self._seen: dict[str, float] = {}
        self._leading: bool | None = None
        # Children by label values: prometheus_client's labels() checks and locks on every
        # call, and the request and reconcile counters are bumped several times per shell.
        self._children: dict[tuple[object, tuple[str, ...]], Any] = {}

    def _labelled(self, metric: Any, *values: str) -> Any:
        child = self._children.get((metric, values))
        if child is None:
            child = self._children[(metric, values)] = metric.labels(*values)
        return child

    # ---------------------------------------------------------------- reconciling
    def reconciled(self, kind: str, result: str, seconds: float | None = None) -> None:
        """One reconcile pass of ``kind`` (``shell``/``pool``) ended with ``result``."""
        self._labelled(self.reconciles, kind, result).inc()
        if seconds is not None:
            self._labelled(self.reconcile_duration, kind).observe(seconds)

    def reconcile_failed(self, kind: str, error: BaseException | str) -> None:
        """A pass failed with ``error`` (counted by exception type; the pass also counts as
        ``reconciled(kind, "error")`` when the caller reports it)."""
        name = error if isinstance(error, str) else type(error).__name__
        self.reconcile_errors.labels(kind, name).inc()

    # ---------------------------------------------------------------- work queue
    def watch_queue(self, name: str, depth: Callable[[], int]) -> None:
        """Report ``depth()`` as ``workqueue_depth{queue=name}`` at every scrape."""
        with self._sampled._lock:
            self._sampled._queues[name] = depth

    def queue_added(self, name: str) -> None:
        """A key was added to queue ``name``."""
        self._labelled(self.queue_adds, name).inc()

    def queue_retried(self, name: str) -> None:
        """A key of queue ``name`` was requeued with backoff."""
        self.queue_retries.labels(name).inc()

    # ---------------------------------------------------------------- shells and pool
    def watch_shells(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Report ``counts()`` (phase → number of shells) as ``shells{phase}``."""
        with self._sampled._lock:
            self._sampled._shells.append(counts)

    def watch_pool(self, samples: Callable[[], Iterable[PoolSample]]) -> None:
        """Report the pool as ``pool_workers`` / ``pool_min_idle`` at every scrape."""
        with self._sampled._lock:
            self._sampled._pools.append(samples)

    def watch_cache(self, resource: str, size: Callable[[], int]) -> None:
        """Report ``size()`` as ``cache_objects{resource}``."""
        with self._sampled._lock:
            self._sampled._caches[resource] = size

    def shell_seen(self, uid: str, at: float | None = None) -> None:
        """Start the time-to-Ready clock of shell ``uid`` (kept from the first call)."""
        if not uid:
            return
        with self._seen_lock:
            self._seen.setdefault(uid, time.monotonic() if at is None else at)

    def shell_ready(self, uid: str, *, warm: bool, at: float | None = None) -> float | None:
        """Shell ``uid`` was written Ready: observe its time-to-Ready (returns it; None when
        :meth:`shell_seen` was never called for it)."""
        with self._seen_lock:
            started = self._seen.pop(uid, None)
        if started is None:
            return None
        seconds = max(0.0, (time.monotonic() if at is None else at) - started)
        self._labelled(self.time_to_ready, "warm" if warm else "cold").observe(seconds)
        return seconds

    def shell_gone(self, uid: str) -> None:
        """Forget the clock of a shell that was deleted or failed before it got Ready."""
        with self._seen_lock:
            self._seen.pop(uid, None)

    @property
    def shells_waiting(self) -> int:
        """Shells whose time-to-Ready clock runs."""
        with self._seen_lock:
            return len(self._seen)

    # ---------------------------------------------------------------- API and watches
    def api_request(
        self, verb: str, resource: str, code: int | str, seconds: float | None = None
    ) -> None:
        """One request to the API server (``code`` is the HTTP status; 0 or ``error`` when no
        answer came)."""
        self._labelled(self.api_requests, verb, resource, str(code or "error")).inc()
        if seconds is not None:
            self._labelled(self.api_request_duration, verb).observe(seconds)

    def observe_request(self, verb: str, resource: str, status: int, seconds: float) -> None:
        """:meth:`api_request` in the shape of the runtime client's ``on_request`` observer
        (``KubeClient(..., on_request=metrics.observe_request)``)."""
        self.api_request(verb, resource, status, seconds)

    def watch_restarted(self, resource: str, reason: str) -> None:
        """The watch of ``resource`` restarted: ``closed``, ``expired`` (410) or ``error``."""
        self.watch_restarts.labels(resource, reason).inc()

    # ---------------------------------------------------------------- leadership
    def set_leading(self, leading: bool) -> None:
        """This replica started (True) or stopped (False) leading."""
        with self._seen_lock:
            # Starting up as a standby is no change; starting up as the leader is one.
            changed = self._leading is not leading and (self._leading is not None or leading)
            self._leading = leading
        self.leader.set(1 if leading else 0)
        if changed:
            self.leadership_changes.labels("leading" if leading else "standby").inc()

    # ---------------------------------------------------------------- reading back
    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """The current value of sample ``name`` (full name, e.g.
        ``cloudtty_reconciles_total``) with exactly ``labels``; None when absent."""
        result = self.registry.get_sample_value(name, dict(labels or {}))
        return None if result is None else float(result)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cloudtty-core")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


# --------------------------------------------------------------------------------------------
# Counting the official client's requests
# --------------------------------------------------------------------------------------------

_PATH = re.compile(
    r"^/(?:api/v1|apis/[^/]+/[^/]+)"  # the group and version
    r"(?:/namespaces/(?P<namespace>[^/]+))?"
    r"(?:/(?P<resource>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<subresource>[^/]+))?)?)?$"
)


def classify_request(method: str, url: str) -> tuple[str, str]:
    """The Kubernetes verb and resource of an HTTP request, as the API server counts them.

    ``GET /api/v1/namespaces/a/pods`` → ``("list", "pods")``; ``?watch=true`` → ``watch``;
    ``PUT …/cloudshells/x/status`` → ``("update", "cloudshells/status")``; a namespace itself
    (``/api/v1/namespaces/a``) → ``namespaces``. Discovery and other paths → ``("get", "")``.
    """
    parts = urlsplit(url)
    match = _PATH.match(parts.path.rstrip("/"))
    method = method.upper()
    if match is None:
        return ("get" if method == "GET" else method.lower(), "")
    resource, name, subresource = match["resource"], match["name"], match["subresource"]
    if resource is None and match["namespace"] is not None:
        resource, name = "namespaces", match["namespace"]
    if resource is None:
        return ("get" if method == "GET" else method.lower(), "")
    if subresource:
        resource = f"{resource}/{subresource}"
    if method == "GET":
        query = parse_qs(parts.query)
        if query.get("watch", [""])[0] in ("true", "1"):
            return ("watch", resource)
        return ("get" if name else "list", resource)
    verb = {
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if name else "deletecollection",
    }.get(method, method.lower())
    return (verb, resource)


def instrument(api_client: Any, metrics: OperatorMetrics) -> Any:
    """Count every request ``api_client`` (a ``kubernetes.client.ApiClient``) sends in
    ``metrics``' ``api_requests_total`` and ``api_request_duration_seconds``.

    Wraps the client's REST layer, so every API class built on this client is covered.
    Instrumenting twice has no further effect. Returns ``api_client``.
    """
    rest = api_client.rest_client
    if getattr(rest, "_cloudtty_metrics", None) is not None:
        return api_client
    send = rest.request

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        verb, resource = classify_request(method, url)
        started = time.perf_counter()
        code: int | str = "error"
        try:
            response = send(method, url, *args, **kwargs)
            code = int(getattr(response, "status", 0)) or "error"
            return response
        except Exception as error:
            code = int(getattr(error, "status", 0) or 0) or "error"
            raise
        finally:
            metrics.api_request(verb, resource, code, time.perf_counter() - started)

    rest.request = request
    rest._cloudtty_metrics = metrics
    return api_client
