"""The operator's one HTTP port: ``/metrics``, ``/healthz`` and ``/readyz``.

- ``/healthz`` (liveness): the process answers and no registered loop is stuck -- every loop
  the runtime registers with :meth:`HealthState.loop` must :meth:`~LoopHandle.beat` within its
  ``stall_after`` seconds (:func:`watch_event_loop` does so for the event loop itself, so a
  blocked loop fails liveness and Kubernetes restarts the pod).
- ``/readyz`` (readiness): the replica is in a settled state -- it leads and its caches are
  synced, or it stands by behind another replica's live lease (leader election on). A replica
  that is still starting, syncing or shutting down is not ready.
- ``/metrics``: :class:`~cloudtty_core.runtime.metrics.OperatorMetrics` in the Prometheus text
  format (OpenMetrics when the scraper asks for it).

Both checks answer like the Kubernetes API server's: ``ok`` (status 200) or 503 with a line per
failed check; ``?verbose`` lists every check. The server is stdlib ``http.server`` in a daemon
thread: it keeps answering while the event loop is busy, which is what a liveness probe of the
event loop needs.
"""

from __future__ import annotations

import enum
import http.server
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import attrs

if TYPE_CHECKING:
    from cloudtty_core.runtime.metrics import OperatorMetrics

__all__ = [
    "CheckResult",
    "HealthServer",
    "HealthState",
    "LoopHandle",
    "Role",
    "watch_event_loop",
]

log = logging.getLogger(__name__)


class Role(enum.StrEnum):
    """Where the replica stands in leader election."""

    STARTING = "starting"
    """Not yet known (election not started or no lease observed yet)."""
    CANDIDATE = "candidate"
    """Trying to acquire a lease nobody holds, or waiting for an expired one."""
    STANDBY = "standby"
    """Another replica holds a live lease; this one waits to take over."""
    LEADER = "leader"
    """This replica holds the lease (or leader election is off) and runs the controllers."""
    STOPPING = "stopping"
    """Shutting down."""


@attrs.frozen
class CheckResult:
    """Outcome of one named check."""

    name: str
    ok: bool
    detail: str = ""


class LoopHandle:
    """A registered loop; :meth:`beat` says it is alive."""

    def __init__(self, state: HealthState, name: str, stall_after: float) -> None:
        self._state = state
        self.name = name
        self.stall_after = stall_after
        self.last_beat = time.monotonic()

    def beat(self) -> None:
        """The loop made progress now."""
        self.last_beat = time.monotonic()

    def close(self) -> None:
        """The loop ended on purpose: stop checking it."""
        self._state._forget(self)


class HealthState:
    """What the probes report; written from the runtime, read by the HTTP thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loops: dict[str, LoopHandle] = {}
        self._caches_synced = False
        self._role = Role.STARTING
        self._leader_identity: str | None = None
        self._extra_ready: dict[str, Callable[[], CheckResult]] = {}

    # ---------------------------------------------------------------- liveness
    def loop(self, name: str, stall_after: float = 30.0) -> LoopHandle:
        """Register a loop that must :meth:`~LoopHandle.beat` every ``stall_after`` seconds."""
        if stall_after <= 0:
            raise ValueError(f"stall_after of loop {name!r} must be positive, got {stall_after}")
        handle = LoopHandle(self, name, stall_after)
        with self._lock:
            self._loops[name] = handle
        return handle

    def _forget(self, handle: LoopHandle) -> None:
        with self._lock:
            if self._loops.get(handle.name) is handle:
                del self._loops[handle.name]

    def liveness(self) -> list[CheckResult]:
        """One check per registered loop, plus ``ping`` (the process answers)."""
        now = time.monotonic()
        with self._lock:
            loops = list(self._loops.values())
        results = [CheckResult("ping", True)]
        for handle in sorted(loops, key=lambda h: h.name):
            silent = now - handle.last_beat
            ok = silent <= handle.stall_after
            detail = "" if ok else f"no progress for {silent:.0f}s (limit {handle.stall_after:g}s)"
            results.append(CheckResult(f"loop-{handle.name}", ok, detail))
        return results

    # ---------------------------------------------------------------- readiness
    def set_caches_synced(self, synced: bool) -> None:
        """The informer caches finished (True) or lost (False) their initial list."""
        with self._lock:
            self._caches_synced = synced

    def set_role(self, role: Role, leader_identity: str | None = None) -> None:
        """The replica's leader-election role, and who leads when known."""
        with self._lock:
            self._role = role
            self._leader_identity = leader_identity

    @property
    def role(self) -> Role:
        """The role last set."""
        with self._lock:
            return self._role

    def add_ready_check(self, name: str, check: Callable[[], CheckResult | bool]) -> None:
        """One more readiness check, called by the HTTP thread (it must only read)."""

        def wrapped() -> CheckResult:
            outcome = check()
            return outcome if isinstance(outcome, CheckResult) else CheckResult(name, outcome)

        with self._lock:
            self._extra_ready[name] = wrapped

    def readiness(self) -> list[CheckResult]:
        """``leader-election`` and ``caches`` (the latter only counts while leading)."""
        with self._lock:
            role, leader, synced = self._role, self._leader_identity, self._caches_synced
            extra = dict(self._extra_ready)
        results = []
        if role is Role.LEADER:
            results.append(CheckResult("leader-election", True, "leading"))
            detail = "synced" if synced else "initial list not finished"
            results.append(CheckResult("caches", synced, detail))
        elif role is Role.STANDBY:
            results.append(CheckResult("leader-election", True, f"standing by for {leader}"))
        else:
            results.append(CheckResult("leader-election", False, role.value))
        for name, check in sorted(extra.items()):
            try:
                results.append(check())
            except Exception as error:
                results.append(CheckResult(name, False, f"check raised {error!r}"))
        return results


def _report(kind: str, results: list[CheckResult], verbose: bool) -> tuple[int, str]:
    ok = all(result.ok for result in results)
    lines = []
    for result in results:
        if verbose or not result.ok:
            mark = "+" if result.ok else "-"
            text = "ok" if result.ok else "failed"
            detail = f": {result.detail}" if result.detail and (verbose or not result.ok) else ""
            lines.append(f"[{mark}]{result.name} {text}{detail}")
    if ok:
        lines.append(f"{kind} check passed" if verbose else "ok")
        return 200, "\n".join(lines) + "\n"
    lines.append(f"{kind} check failed")
    return 503, "\n".join(lines) + "\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        verbose = "verbose" in parse_qs(parts.query, keep_blank_values=True)
        state = self.server.state
        if parts.path in ("/healthz", "/livez"):
            status, body = _report("healthz", state.liveness(), verbose)
            self._send(status, body.encode(), "text/plain; charset=utf-8")
        elif parts.path == "/readyz":
            status, body = _report("readyz", state.readiness(), verbose)
            self._send(status, body.encode(), "text/plain; charset=utf-8")
        elif parts.path == "/metrics" and self.server.metrics is not None:
            from prometheus_client.exposition import choose_encoder

            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            self._send(200, encoder(self.server.metrics.registry), content_type)
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def do_HEAD(self) -> None:
        self.do_GET()

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Probes hit these endpoints every few seconds: debug level keeps the logs readable.
        log.debug("%s %s", self.address_string(), format % args)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    state: HealthState
    metrics: OperatorMetrics | None


class HealthServer:
    """Serves :class:`HealthState` and the metrics on ``host:port`` from a daemon thread.

    ``port=0`` picks a free port (read :attr:`port` after :meth:`start`). Use as a context
    manager or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        state: HealthState,
        metrics: OperatorMetrics | None = None,
        *,
        host: str = "0.0.0.0",
        port: int = 8080,
    ) -> None:
        self.state = state
        self.metrics = metrics
        self.host = host
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("the health server is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> HealthServer:
        """Bind and serve; an address in use raises ``OSError`` naming it."""
        if self._server is not None:
            return self
        try:
            server = _Server((self.host, self._requested_port), _Handler)
        except OSError as error:
            raise OSError(
                error.errno,
                f"cannot serve health and metrics on {self.host}:"
                f"{self._requested_port}: {error.strerror}",
            ) from error
        server.state = self.state
        server.metrics = self.metrics
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="cloudtty-health",
            daemon=True,
        )
        self._thread.start()
        log.info("serving /metrics, /healthz and /readyz on %s:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def watch_event_loop(
    state: HealthState, *, interval: float = 1.0, stall_after: float = 30.0
) -> None:
    """Beat loop ``event-loop`` every ``interval`` seconds until cancelled.

    Run it in the operator's task group: when the event loop is blocked (a synchronous call
    that never returns, a busy loop), the beats stop and ``/healthz`` fails.
    """
    import anyio

    handle = state.loop("event-loop", stall_after)
    try:
        while True:
            handle.beat()
            await anyio.sleep(interval)
    finally:
        handle.close()
