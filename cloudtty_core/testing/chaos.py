"""Driving the operator through faults: real ``cloudtty run`` processes, a mixed workload of
CloudShells, and scenarios that inject API errors, latency, watch cuts, forced compaction,
SIGKILLs and leader fail-overs -- then wait until the cluster settles and check
:mod:`cloudtty_core.testing.invariants`.

Used by the fault suite (``tests/test_faults_*.py``) and the soak (``benchmarks/soak.py``)
against the sandbox cluster. The cluster is reached through a small protocol
(:class:`FaultCluster`) that the sandbox's ``ThreadedSandbox`` satisfies, plus two functions
reading it in-process (:func:`sandbox_objects`, :func:`sandbox_injected`), so this module does
not import the sandbox distribution.

Everything random comes from one seeded ``random.Random``: the workload's choices and the kill
times are the same on every run (what the operator does in between depends on timing; the
invariants must hold whatever it is).
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar

import attrs

from cloudtty_core.backends import OperatorSettings
from cloudtty_core.crd import crd_manifest
from cloudtty_core.model import API_VERSION, GROUP, KIND, PLURAL, Manifest
from cloudtty_core.plan import PlanContext
from cloudtty_core.plugins import load_plugins
from cloudtty_core.testing.invariants import (
    ClusterState,
    InvariantReport,
    ShellRecord,
    check_invariants,
)
from cloudtty_core.testing.manifests import TEST_KUBECONFIG

__all__ = [
    "API_ERRORS",
    "SCENARIOS",
    "FaultCluster",
    "FaultRun",
    "Figures",
    "OperatorProcess",
    "Scenario",
    "ScenarioResult",
    "crash_lines",
    "reconcile_errors",
    "sandbox_injected",
    "sandbox_objects",
]

T = TypeVar("T")

API_ERRORS = frozenset(
    {
        "ApiError",
        "Conflict",
        "NotFound",
        "AlreadyExists",
        "Gone",
        "Invalid",
        "Forbidden",
        "TooManyRequests",
        "TransportError",
    }
)
"""Reconcile error types that are the API server's answers (expected under faults)."""


class FaultCluster(Protocol):
    """What the driver needs of a cluster (``cloudtty_sandbox.ThreadedSandbox`` has it)."""

    @property
    def url(self) -> str: ...

    @property
    def kubeconfig_path(self) -> Path: ...

    @property
    def admin_token(self) -> str: ...

    def set_faults(self, faults: Any = None, **fields: Any) -> None: ...

    def clear_faults(self) -> None: ...

    def compact(self) -> int: ...

    def close_watches(self) -> None: ...

    def counters(self) -> dict[str, Any]: ...

    def exit_container(
        self,
        namespace: str,
        pod: str,
        exit_code: int = 0,
        message: str = "",
        container: str | None = None,
    ) -> bool: ...

    def call(self, fn: Callable[..., T], *args: Any) -> T: ...

    def get_object(self, storage: str, namespace: str, name: str) -> dict[str, Any] | None: ...


def _dump(sandbox: Any) -> list[Manifest]:
    store = sandbox.cluster.store
    out: list[Manifest] = []
    for storage in store.storages():
        if not storage.startswith("events"):  # Events name objects, they belong to none
            out.extend(store.items(storage, None))
    return out


def sandbox_objects(cluster: FaultCluster) -> list[Manifest]:
    """Every object of a ``ThreadedSandbox``, read at one instant on its loop (copies)."""
    import json

    found = cluster.call(lambda: json.dumps(_dump(cluster.sandbox)))  # type: ignore[attr-defined]
    return list(json.loads(found))


def sandbox_injected(cluster: FaultCluster) -> dict[str, int]:
    """Errors the sandbox injected so far, by HTTP status code."""
    return dict(cluster.call(lambda: dict(cluster.sandbox.faults.injected)))  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------
# The operator as a real process
# --------------------------------------------------------------------------------------------


class OperatorProcess:
    """``cloudtty run`` as a child process in a session of its own; stderr goes to a file.

    :param args: flags after ``cloudtty run``.
    :param log_path: where its JSON log lines go (appended).
    """

    def __init__(self, args: Sequence[str], log_path: Path, identity: str) -> None:
        self.args = list(args)
        self.log_path = log_path
        self.identity = identity
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self) -> OperatorProcess:
        """Start it (a new process every time)."""
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        cloudtty = str(Path(sys.executable).parent / "cloudtty")
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [cloudtty, "run", *self.args, "--identity", self.identity],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        return self

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to release anything."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``); the exit status."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        return process.returncode

    def log_lines(self, *, current: bool = True) -> list[str]:
        """Log lines (of the current process only, by default)."""
        if not self.log_path.exists():
            return []
        with self.log_path.open("rb") as log:
            if current:
                log.seek(self._log_offset)
            return log.read().decode(errors="replace").splitlines()

    def metrics_url(self, timeout: float = 30) -> str | None:
        """The /metrics URL the current process logged (waits for the line)."""
        deadline = time.monotonic() + timeout
        pattern = re.compile(r"serving /metrics, /healthz and /readyz on ([\d.]+):(\d+)")
        while time.monotonic() < deadline:
            for line in self.log_lines():
                found = pattern.search(line)
                if found:
                    return f"http://{found.group(1)}:{found.group(2)}/metrics"
            if not self.alive:
                return None
            time.sleep(0.05)
        return None

    def metrics(self) -> dict[str, float]:
        """Its Prometheus samples (``name{labels}`` -> value); empty when unreachable."""
        url = self.metrics_url(timeout=5)
        if url is None:
            return {}
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return {}
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    samples[name] = float(value)
        return samples


def reconcile_errors(samples: Mapping[str, float]) -> Counter[str]:
    """``cloudtty_reconcile_errors_total`` by exception type."""
    found: Counter[str] = Counter()
    for name, value in samples.items():
        if name.startswith("cloudtty_reconcile_errors_total{"):
            error = re.search(r'error="([^"]*)"', name)
            if error:
                found[error.group(1)] += int(value)
    return found


def crash_lines(lines: Sequence[str]) -> list[str]:
    """Log lines telling of a crash: a traceback or a reconcile pass that raised."""
    return [
        line
        for line in lines
        if "Traceback" in line or re.search(r"reconciling (shell|pool) .* failed", line)
    ]


# --------------------------------------------------------------------------------------------
# Scenarios and figures
# --------------------------------------------------------------------------------------------


@attrs.frozen
class Scenario:
    """One fault scenario: what is injected while the workload runs.

    :param faults: the sandbox fault configuration (JSON form) during the scenario.
    :param compact_every: force a compaction (and cut every watch) this often, seconds.
    :param kills: SIGKILL the operator this many times at random points, restarting it.
    :param replicas: operator replicas (2: leader election on, and ``kills`` hit the leader).
    :param shells: shells the workload creates.
    :param duration: seconds the workload (and the faults) run before settling.
    """

    name: str
    faults: Mapping[str, Any] | None = None
    compact_every: float | None = None
    kills: int = 0
    replicas: int = 1
    shells: int = 16
    duration: float = 10.0

    def scaled(self, factor: float, kills: int | None = None) -> Scenario:
        """The same scenario, ``factor`` times longer (and as many more shells)."""
        return attrs.evolve(
            self,
            shells=max(1, round(self.shells * factor)),
            duration=self.duration * factor,
            kills=self.kills if kills is None else kills,
        )


def _errors(verb: str) -> dict[str, Any]:
    return {"rate": 0.1, "verb": verb, "resource": "*", "codes": [500, 429, 409]}


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "api-errors",
        faults={
            "errors": [_errors(v) for v in ("get", "list", "create", "update", "patch", "delete")],
            "seed": 11,
        },
    ),
    Scenario("latency", faults={"latencyMs": 200, "seed": 12}),
    Scenario("watch-cuts", faults={"watchMaxSeconds": 2.0, "seed": 13}),
    Scenario("compaction", compact_every=2.0),
    Scenario("sigkill", kills=5),
    Scenario("leader-kill", replicas=2, kills=2),
)
"""The fault suite's scenarios (10 % errors per verb, 200 ms, cuts every 2 s, compaction
every 2 s, SIGKILLs, leader fail-over)."""


@attrs.define
class Figures:
    """What a run did, summed over scenarios."""

    scenarios: int = 0
    shells_created: int = 0
    shells_deleted: int = 0
    sessions_ended: int = 0
    exits_ignored: int = 0
    workers_crashed: int = 0
    secrets_created_late: int = 0
    kills: int = 0
    leader_kills: int = 0
    restarts: int = 0
    faults_injected: Counter[str] = attrs.field(factory=Counter)
    requests: int = 0
    watch_requests: int = 0
    compactions: int = 0
    watch_cuts_forced: int = 0
    objects_checked: int = 0
    shells_checked: int = 0
    invariant_checks: int = 0
    violations: int = 0
    crashes: int = 0
    settle_seconds: list[float] = attrs.field(factory=list)

    def add(self, other: Figures) -> None:
        """Add ``other``'s counts to these."""
        for field in attrs.fields(Figures):
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            if isinstance(mine, Counter):
                mine.update(theirs)
            elif isinstance(mine, list):
                mine.extend(theirs)
            else:
                setattr(self, field.name, mine + theirs)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        out = attrs.asdict(self)
        out["faults_injected"] = dict(sorted(self.faults_injected.items()))
        out["faults_injected_total"] = sum(self.faults_injected.values())
        settle = sorted(self.settle_seconds)
        out["settle_seconds"] = {
            "count": len(settle),
            "max": round(settle[-1], 2) if settle else 0.0,
            "median": round(settle[len(settle) // 2], 2) if settle else 0.0,
        }
        return out


@attrs.define
class ScenarioResult:
    """One scenario's figures and the invariant report once settled."""

    scenario: Scenario
    figures: Figures
    report: InvariantReport
    settled: bool
    error_types: Counter[str]
    crash_lines: list[str]

    @property
    def ok(self) -> bool:
        """Settled with every invariant holding and no crash."""
        return self.settled and self.report.ok and not self.crash_lines and not self.crashes()

    def crashes(self) -> list[str]:
        """Reconcile error types that are not API answers."""
        return sorted(e for e in self.error_types if e not in API_ERRORS)

    def summary(self) -> str:
        """A readable account."""
        return (
            f"scenario {self.scenario.name}: settled={self.settled} "
            f"errors={dict(self.error_types)} crash lines={len(self.crash_lines)}\n"
            f"{self.report.summary()}\n" + "\n".join(self.crash_lines[:10])
        )


# --------------------------------------------------------------------------------------------
# The workload
# --------------------------------------------------------------------------------------------

ISTIO_API = "networking.istio.io/v1"
GATEWAY = "public"


def _shell(namespace: str, name: str, spec: Mapping[str, Any]) -> Manifest:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": dict(spec),
    }


def _kubeconfig_secret(namespace: str, name: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"config": base64.b64encode(TEST_KUBECONFIG.encode()).decode()},
    }


#: Shell kinds of the mixed workload: (label, weight, spec builder(rng, namespace, name, run)).
SpecBuilder = Callable[[random.Random, str, str, "FaultRun"], dict[str, Any]]


def _nodeport(rng: random.Random, ns: str, name: str, run: FaultRun) -> dict[str, Any]:
    return {"exposureMode": "NodePort", "imageBackend": "webterm"}


def _clusterip_cold(rng: random.Random, ns: str, name: str, run: FaultRun) -> dict[str, Any]:
    return {
        "exposureMode": "ClusterIP",
        "imageBackend": "ttyd",
        "secretRef": {"name": run.kubeconfig_secret(ns)},
    }


def _ingress_own(rng: random.Random, ns: str, name: str, run: FaultRun) -> dict[str, Any]:
    return {"exposureMode": "Ingress", "ingressConfig": {"host": "shells.localhost"}}


def _ingress_shared(rng: random.Random, ns: str, name: str, run: FaultRun) -> dict[str, Any]:
    return {
        "exposureMode": "Ingress",
        "ingressConfig": {"ingressName": "shared-shells", "host": "shared.localhost"},
    }


def _virtualservice(rng: random.Random, ns: str, name: str, run: FaultRun) -> dict[str, Any]:
    config: dict[str, Any] = {"gateway": f"default/{GATEWAY}"}
    if rng.random() < 0.5:
        config["virtualServiceName"] = "shared-shells"
    return {"exposureMode": "VirtualService", "virtualServiceConfig": config}


def _any_exposure(rng: random.Random, run: FaultRun) -> dict[str, Any]:
    """An installed exposure mode with the settings it needs to reach Ready."""
    mode = rng.choice(run.exposure_modes)
    spec: dict[str, Any] = {"exposureMode": mode}
    if mode == "Ingress":
        spec["ingressConfig"] = {"host": "shells.localhost"}
    elif mode == "VirtualService":
        spec["virtualServiceConfig"] = {"gateway": f"default/{GATEWAY}"}
    return spec


def _token(rng: random.Random, ns: str, name: str, run: FaultRun) -> dict[str, Any]:
    return {
        **_any_exposure(rng, run),
        "auth": {"mode": "token"},
        "secretRef": {"name": run.kubeconfig_secret(ns)},
    }


def _short_ttl(rng: random.Random, ns: str, name: str, run: FaultRun) -> dict[str, Any]:
    field = rng.choice(("ttl", "ttlSecondsAfterStarted"))
    return {**_any_exposure(rng, run), field: rng.randint(2, 6)}


def _once(rng: random.Random, ns: str, name: str, run: FaultRun) -> dict[str, Any]:
    return {**_any_exposure(rng, run), "once": True}


def _missing_kubeconfig(rng: random.Random, ns: str, name: str, run: FaultRun) -> dict[str, Any]:
    # The Secret appears later for some (the workload creates it).
    return {"exposureMode": "NodePort", "secretRef": {"name": f"{name}-kubeconfig-later"}}


def _invalid(rng: random.Random, ns: str, name: str, run: FaultRun) -> dict[str, Any]:
    # Passes the CRD schema; only the operator's validation refuses it.
    return rng.choice(
        (
            {"secretRef": {"name": "a"}, "configmapName": "b"},
            {"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]},
            {"pathPrefix": "/a/../b"},
        )
    )


def _not_installed(rng: random.Random, ns: str, name: str, run: FaultRun) -> dict[str, Any]:
    return rng.choice(
        (
            {"exposureMode": "NoSuchExposure"},
            {"imageBackend": "no-such-image"},
            {"imageBackend": "ttyd", "auth": {"mode": "token"}},
        )
    )


SHELL_KINDS: tuple[tuple[str, int, SpecBuilder], ...] = (
    ("nodeport", 3, _nodeport),
    ("clusterip-cold", 2, _clusterip_cold),
    ("ingress", 2, _ingress_own),
    ("ingress-shared", 2, _ingress_shared),
    ("virtualservice", 2, _virtualservice),
    ("token", 2, _token),
    ("short-ttl", 3, _short_ttl),
    ("once", 3, _once),
    ("missing-kubeconfig", 1, _missing_kubeconfig),
    ("invalid", 1, _invalid),
    ("not-installed", 1, _not_installed),
)


@attrs.define
class _Shell:
    record: ShellRecord
    kind: str
    spec: dict[str, Any]


# --------------------------------------------------------------------------------------------
# A run: one cluster, operators, scenarios
# --------------------------------------------------------------------------------------------


class FaultRun:
    """Scenarios against one cluster, with ``cloudtty run`` processes and a mixed workload.

    :param cluster: the cluster (a running ``ThreadedSandbox``).
    :param work_dir: where operator logs go.
    :param seed: seeds every random choice.
    :param min_idle: the operators' ``--min-idle``.
    :param namespaces: namespaces shells are created in (the first one's pool is filled at
        start).
    :param objects: reads every object of the cluster at one instant (default: the sandbox's
        store, :func:`sandbox_objects`).
    :param injected: errors injected so far by code (default :func:`sandbox_injected`).
    :param log: progress messages (default: none).
    """

    def __init__(
        self,
        cluster: FaultCluster,
        work_dir: Path,
        *,
        seed: int = 1,
        min_idle: int = 2,
        namespaces: Sequence[str] = ("default", "team-a"),
        objects: Callable[[], list[Manifest]] | None = None,
        injected: Callable[[], dict[str, int]] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        from cloudtty_core.runtime.client import KubeClient

        self.cluster = cluster
        self.work_dir = work_dir
        self.rng = random.Random(seed)
        self.min_idle = min_idle
        self.namespaces = tuple(namespaces)
        self.objects = objects or (lambda: sandbox_objects(cluster))
        self.injected = injected or (lambda: sandbox_injected(cluster))
        self.log = log or (lambda message: None)
        self.client = KubeClient.for_url(cluster.url, cluster.admin_token)
        plugins = load_plugins()
        self.settings = OperatorSettings(min_idle=min_idle)
        self.context = PlanContext(registry=plugins.registry, settings=self.settings)
        installed = set(plugins.registry.names("exposure"))
        # Custom kinds are stored at one version and read by the backends at another.
        self.api_versions = {
            (kind.api_version.rpartition("/")[0], kind.kind): kind.api_version
            for backend in plugins.registry.exposures()
            for kind in backend.watched_kinds
        }
        self.exposure_modes = tuple(
            m for m in ("NodePort", "ClusterIP", "Ingress", "VirtualService") if m in installed
        )
        self.shell_kinds = [
            k
            for k in SHELL_KINDS
            if k[0] not in ("virtualservice",) or "VirtualService" in installed
        ]
        self.shells: dict[tuple[str, str], _Shell] = {}
        self.operators: list[OperatorProcess] = []
        self.figures = Figures()
        self._counter = 0
        self._late_secrets: list[tuple[str, str]] = []
        work_dir.mkdir(parents=True, exist_ok=True)

    # Set-up --------------------------------------------------------------------------------

    def setup(self) -> None:
        """Namespaces, the CloudShell CRD, Istio's CRDs and a Gateway, kubeconfig Secrets."""
        from cloudtty_core.runtime.client import Resource

        for namespace in self.namespaces:
            if namespace != "default":
                self._create(
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
                )
            self._create(_kubeconfig_secret(namespace, self.kubeconfig_secret(namespace)))
        self._create(crd_manifest())
        if "VirtualService" in self.exposure_modes:
            import yaml

            crds = resources.files("cloudtty_istio") / "crds"
            for name in ("gateway.yaml", "virtualservice.yaml"):
                self._create(yaml.safe_load((crds / name).read_text()))
            self.client.register(Resource(ISTIO_API, "Gateway", "gateways"))
            self._wait(lambda: self.client.serves(ISTIO_API, "Gateway"), 20, "Istio served")
            self._create(
                {
                    "apiVersion": ISTIO_API,
                    "kind": "Gateway",
                    "metadata": {"name": GATEWAY, "namespace": "default"},
                    "spec": {
                        "selector": {"istio": "ingressgateway"},
                        "servers": [
                            {
                                "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                                "hosts": ["mesh.localhost"],
                            }
                        ],
                    },
                }
            )

    @staticmethod
    def kubeconfig_secret(namespace: str) -> str:
        """The kubeconfig Secret shells of ``namespace`` name (one per namespace)."""
        del namespace
        return "team-kubeconfig"

    def operator_args(self, leader_election: bool) -> list[str]:
        """Flags of every ``cloudtty run`` this run starts."""
        args = [
            "--kubeconfig",
            str(self.cluster.kubeconfig_path),
            "--min-idle",
            str(self.min_idle),
            "--pool-namespace",
            self.namespaces[0],
            "--metrics-host",
            "127.0.0.1",
            "--metrics-port",
            "0",
            "--log-level",
            "info",
            "--workers",
            "8",
        ]
        if leader_election:
            args += [
                "--leader-elect",
                "--lease-namespace",
                "default",
                "--lease-duration",
                "2",
                "--renew-deadline",
                "1.5",
                "--retry-period",
                "0.3",
            ]
        return args

    def start_operators(self, replicas: int) -> None:
        """Start ``replicas`` operator processes (leader election on when more than one)."""
        self.stop_operators()
        for i in range(replicas):
            identity = f"replica-{i}"
            operator = OperatorProcess(
                self.operator_args(replicas > 1), self.work_dir / f"{identity}.log", identity
            )
            self.operators.append(operator.start())

    def stop_operators(self) -> None:
        """Stop every operator gracefully."""
        for operator in self.operators:
            operator.stop()
        self.operators = []

    def close(self) -> None:
        """Stop the operators and close the client."""
        self.stop_operators()
        self.client.close()

    # API calls that ride out injected faults -----------------------------------------------

    def _retry(self, call: Callable[[], T], what: str, attempts: int = 40) -> T:
        from cloudtty_core.runtime.client import ApiError, Conflict, TooManyRequests

        for attempt in range(attempts):
            try:
                return call()
            except (Conflict, TooManyRequests) as error:
                last: Exception = error
            except ApiError as error:
                if error.status < 500:
                    raise
                last = error
            time.sleep(min(0.05 * (attempt + 1), 0.5))
        raise RuntimeError(f"{what}: still failing after {attempts} attempts: {last}")

    def _create(self, manifest: Manifest) -> None:
        from cloudtty_core.runtime.client import AlreadyExists

        with contextlib.suppress(AlreadyExists):
            self._retry(lambda: self.client.create(manifest), f"create {manifest['kind']}")

    def _delete_shell(self, namespace: str, name: str) -> None:
        from cloudtty_core.backends import ObjectRef
        from cloudtty_core.runtime.client import NotFound

        with contextlib.suppress(NotFound):
            self._retry(
                lambda: self.client.delete(ObjectRef(API_VERSION, KIND, namespace, name)),
                f"delete {namespace}/{name}",
            )

    @staticmethod
    def _wait(check: Callable[[], object], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"not within {timeout}s: {what}")
            time.sleep(0.05)

    # Reading the cluster -------------------------------------------------------------------

    def state(self) -> ClusterState:
        """Every object now, with custom kinds at the versions the operator reads them."""
        return ClusterState(self.objects(), self.api_versions)

    def _stored_shell(self, namespace: str, name: str) -> Manifest | None:
        return self.cluster.get_object(f"{PLURAL}.{GROUP}", namespace, name)

    def check(self, *, converged: bool = True) -> InvariantReport:
        """Check the invariants now."""
        records = [s.record for s in self.shells.values()]
        return check_invariants(
            self.state(),
            records,
            datetime.now(UTC),
            self.context,
            pool_namespaces=self.namespaces[:1],
            converged=converged,
        )

    def settle(self, timeout: float) -> tuple[bool, InvariantReport, float]:
        """Wait until every invariant holds (checked twice, 0.5 s apart, so a passing moment
        in the middle of a change does not count); (settled, last report, seconds)."""
        started = time.monotonic()
        passes = 0
        report = self.check()
        while time.monotonic() - started < timeout:
            report = self.check()
            passes = passes + 1 if report.ok else 0
            if passes >= 2:
                return True, report, time.monotonic() - started
            time.sleep(0.5)
        return False, report, time.monotonic() - started

    # The workload --------------------------------------------------------------------------

    def _new_name(self, kind: str) -> str:
        self._counter += 1
        return f"{kind}-{self._counter}"

    def create_shell(self) -> _Shell:
        """Create one shell of a kind drawn by weight."""
        labels, weights, builders = zip(*self.shell_kinds, strict=True)
        index = self.rng.choices(range(len(labels)), weights=weights)[0]
        kind, builder = labels[index], builders[index]
        namespace = self.rng.choice(self.namespaces)
        name = self._new_name(kind)
        spec = builder(self.rng, namespace, name, self)
        if kind in ("short-ttl", "once") and self.rng.random() < 0.5:
            spec["cleanup"] = True
        if kind == "missing-kubeconfig" and self.rng.random() < 0.5:
            self._late_secrets.append((namespace, spec["secretRef"]["name"]))
        ttl = spec.get("ttlSecondsAfterStarted", spec.get("ttl"))
        record = ShellRecord(
            namespace,
            name,
            cleanup=bool(spec.get("cleanup")),
            ttl_seconds=ttl,
            created_at=datetime.now(UTC),
        )
        shell = _Shell(record, kind, spec)
        self._create(_shell(namespace, name, spec))
        self.shells[(namespace, name)] = shell
        self.figures.shells_created += 1
        return shell

    def delete_shell(self, shell: _Shell) -> None:
        """Delete a shell (whatever phase it is in; once)."""
        if shell.record.deleted:
            return
        self._delete_shell(shell.record.namespace, shell.record.name)
        shell.record = attrs.evolve(shell.record, deleted=True)
        self.figures.shells_deleted += 1

    def _live(self) -> list[_Shell]:
        return [s for s in self.shells.values() if not s.record.deleted]

    def _ready_worker(self, shell: _Shell) -> str | None:
        stored = self._stored_shell(shell.record.namespace, shell.record.name)
        status = (stored or {}).get("status") or {}
        if status.get("phase") == "Ready" and status.get("worker"):
            return str(status["worker"])
        return None

    def end_session(self, shell: _Shell) -> bool:
        """End the session of a Ready shell's worker (exit 0, ``once``): it must complete."""
        worker = self._ready_worker(shell)
        if worker is None or shell.record.session_ended:
            return False
        namespace = shell.record.namespace
        if self.cluster.exit_container(namespace, worker, 0, "once") and self._exited(
            namespace, worker
        ):
            shell.record = attrs.evolve(shell.record, session_ended=True, ended_worker=worker)
            self.figures.sessions_ended += 1
            return True
        return False

    def _exited(self, namespace: str, pod: str, timeout: float = 2.0) -> bool:
        """Whether the pod shows its containers terminated (or is gone) soon after an exit;
        an exit the sandbox's kubelet did not carry out is not counted as an ending."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.cluster.get_object("pods", namespace, pod)
            if found is None:
                return True
            statuses = (found.get("status") or {}).get("containerStatuses") or ()
            if statuses and all((s.get("state") or {}).get("terminated") for s in statuses):
                return True
            time.sleep(0.05)
        self.figures.exits_ignored += 1
        return False

    def crash_worker(self, shell: _Shell) -> bool:
        """Make a Ready shell's worker fail (exit 1): the shell gets a new worker."""
        worker = self._ready_worker(shell)
        if worker is None or shell.record.session_ended:
            return False
        if self.cluster.exit_container(shell.record.namespace, worker, 1, "crashed"):
            self.figures.workers_crashed += 1
            return True
        return False

    def workload_step(self, created: int, total: int) -> int:
        """One step of the mixed workload; returns how many shells it created."""
        rng = self.rng
        made = 0
        if created < total:
            shell = self.create_shell()
            made = 1
            if rng.random() < 0.12:
                time.sleep(rng.uniform(0, 0.3))
                self.delete_shell(shell)  # mid-flight: before it can be Ready
        live = self._live()
        action = rng.random()
        if live and action < 0.15:
            self.delete_shell(rng.choice(live))
        elif live and action < 0.35:
            candidates = [s for s in live if s.kind == "once"] or live
            self.end_session(rng.choice(candidates))
        elif live and action < 0.45:
            self.crash_worker(rng.choice(live))
        if self._late_secrets and rng.random() < 0.2:
            namespace, name = self._late_secrets.pop(0)
            self._create(_kubeconfig_secret(namespace, name))
            self.figures.secrets_created_late += 1
        return made

    # Scenarios -----------------------------------------------------------------------------

    def run(self, scenario: Scenario, *, settle_timeout: float = 90.0) -> ScenarioResult:
        """Run ``scenario``: faults on, the workload (and kills) for its duration, then settle
        and check the invariants (faults still on, kills over)."""
        self.log(f"scenario {scenario.name}: starting")
        before = Figures()
        before.add(self.figures)
        injected_before = Counter(self.injected())
        counters_before = self.cluster.counters()
        if not self.operators or len(self.operators) != scenario.replicas:
            self.start_operators(scenario.replicas)
        if scenario.faults:
            self.cluster.set_faults(dict(scenario.faults))
        previous = self._live()
        kill_times = sorted(self.rng.uniform(0.5, scenario.duration) for _ in range(scenario.kills))
        compact_at = scenario.compact_every
        started = time.monotonic()
        created = 0
        step = scenario.duration / max(1, scenario.shells) * 0.8
        while True:
            elapsed = time.monotonic() - started
            if elapsed >= scenario.duration and created >= scenario.shells:
                break
            created += self.workload_step(created, scenario.shells)
            if previous and self.rng.random() < 0.3:
                self.delete_shell(previous.pop(0))
            while kill_times and time.monotonic() - started >= kill_times[0]:
                kill_times.pop(0)
                self._kill(scenario)
            if compact_at is not None and time.monotonic() - started >= compact_at:
                self.cluster.compact()
                self.cluster.close_watches()
                self.figures.compactions += 1
                self.figures.watch_cuts_forced += 1
                compact_at += scenario.compact_every or 0
            time.sleep(max(0.02, step))
        for shell in previous:
            self.delete_shell(shell)
        while kill_times:
            kill_times.pop(0)
            self._kill(scenario)
        self._wait(lambda: all(o.alive for o in self.operators), 10, "every operator running")
        settled, report, seconds = self.settle(settle_timeout)
        if not report.ok:
            # What the check saw, for the post-mortem.
            import json

            dump = self.work_dir / f"state-{scenario.name}-{self.figures.scenarios}.json"
            dump.write_text(json.dumps(self.state().objects, indent=1, sort_keys=True))
        # Faults off only for reading the operators' counters (over HTTP to their ports).
        self.cluster.clear_faults()
        error_types: Counter[str] = Counter()
        crashes: list[str] = []
        for operator in self.operators:
            error_types.update(reconcile_errors(operator.metrics()))
            crashes += crash_lines(operator.log_lines(current=False))
        figures = self.figures
        figures.scenarios += 1
        injected = Counter(self.injected())
        injected.subtract(injected_before)
        figures.faults_injected.update(+injected)
        counters = self.cluster.counters()
        figures.requests += counters["total"] - counters_before["total"]
        figures.watch_requests += counters["byVerb"].get("watch", 0) - counters_before[
            "byVerb"
        ].get("watch", 0)
        figures.objects_checked += report.objects_checked
        figures.shells_checked += report.shells_checked
        figures.invariant_checks += sum(report.checks.values())
        figures.violations += len(report.violations)
        figures.settle_seconds.append(seconds)
        delta = Figures()
        delta.add(figures)
        _subtract(delta, before)
        result = ScenarioResult(scenario, delta, report, settled, error_types, crashes)
        figures.crashes += len(result.crashes()) + len(crashes)
        result.figures.crashes = len(result.crashes()) + len(crashes)
        self.log(result.summary().splitlines()[0] + f" settled in {seconds:.1f}s")
        return result

    def _kill(self, scenario: Scenario) -> None:
        if scenario.replicas == 1:
            victim = self.operators[0]
        else:
            leader = self._leader()
            if leader is not None:
                self.figures.leader_kills += 1
            victim = leader or self.rng.choice(self.operators)
        victim.kill()
        self.figures.kills += 1
        victim.start()
        self.figures.restarts += 1

    def _leader(self) -> OperatorProcess | None:
        for obj in self.objects():
            if (
                obj.get("kind") == "Lease"
                and (obj.get("metadata") or {}).get("name") == "cloudtty-operator"
            ):
                holder = (obj.get("spec") or {}).get("holderIdentity")
                for operator in self.operators:
                    if operator.identity == holder:
                        return operator
        return None

    @contextlib.contextmanager
    def running(self) -> Iterator[FaultRun]:
        """``with run.running():`` -- set up, and stop every operator afterwards."""
        try:
            self.setup()
            yield self
        finally:
            self.close()


def _subtract(figures: Figures, before: Figures) -> None:
    for field in attrs.fields(Figures):
        mine, theirs = getattr(figures, field.name), getattr(before, field.name)
        if isinstance(mine, Counter):
            mine.subtract(theirs)
            setattr(figures, field.name, +mine)
        elif isinstance(mine, list):
            setattr(figures, field.name, mine[len(theirs) :])
        else:
            setattr(figures, field.name, mine - theirs)
