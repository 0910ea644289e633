"""Invariants of a settled cluster: what must hold once the operator has caught up, whatever
faults it went through.

:func:`check_invariants` takes every object of the cluster at one moment (a
:class:`ClusterState`), what the workload did to each shell (:class:`ShellRecord`) and the
operator's :class:`~cloudtty_core.PlanContext`, and returns an :class:`InvariantReport` listing
every :class:`Violation`. The checks:

``phase``
    every CloudShell is in the phase its spec and timers imply (:func:`expected_phases`):
    Failed for an invalid spec or a backend that is not installed, Completed once its ttl is
    over or its session ended (gone instead when ``cleanup`` is set), Provisioning while its
    kubeconfig source is missing, else Ready with an access URL and a Ready worker; deleted
    shells are gone; ``status.observedGeneration`` is the shell's generation.
``orphan``
    no object names an owner that is gone, and nothing is labelled for a shell that no longer
    exists or has finished (Completed/Failed shells keep nothing); no shared route points at a
    Service that is gone.
``duplicate``
    at most one live worker, one Service, one owned Ingress/VirtualService and one route entry
    per shell.
``claim``
    no worker is claimed by two shells (owner references, labels and ``status.worker`` agree;
    a pool worker through its session Secret, which the claim writes).
``finalizer``
    no shell is left half-deleted (deletionTimestamp set but still there).
``pool``
    every warm pool has exactly its ``minIdle`` idle workers, all Ready, none terminating.
``converged``
    planning every shell and pool again against the state writes nothing (the operator has
    nothing left to do).

Pure: no I/O. The fault suite and the soak build the state from the sandbox cluster's store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from cloudtty_core.backends import (
    BUILTIN_APIS,
    ObjectRef,
    PoolKey,
    Snapshot,
    copy_json,
)
from cloudtty_core.model import API_VERSION, KIND, Manifest, parse_time, structure_shell
from cloudtty_core.phases import Phase
from cloudtty_core.plan import (
    LABEL_POOL,
    LABEL_ROLE,
    LABEL_SHELL_UID,
    LABEL_STATE,
    ROLE_WORKER,
    STATE_IDLE,
    ClusterPoolView,
    PlanContext,
    plan,
    plan_pool,
    session_secret_name,
)
from cloudtty_core.plan.auth import configure_auth
from cloudtty_core.plan.worker import is_ready
from cloudtty_core.registry import BackendNotInstalled
from cloudtty_core.validation import validate_shell

__all__ = [
    "INVARIANTS",
    "ClusterState",
    "InvariantReport",
    "ShellRecord",
    "Violation",
    "check_invariants",
    "expected_phases",
]

INVARIANTS = ("phase", "orphan", "duplicate", "claim", "finalizer", "pool", "converged")
"""The names of the checks, in the order they run."""

GONE = "(gone)"
"""The pseudo-phase of a shell that must no longer exist."""

_TERMINAL = frozenset({Phase.COMPLETED.value, Phase.FAILED.value, "Complete"})


@attrs.frozen
class Violation:
    """One broken invariant: which, about what, and what was seen."""

    invariant: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.subject}: {self.message}"


@attrs.frozen
class ShellRecord:
    """What the workload did to one shell (facts the cluster alone cannot tell).

    :param deleted: the workload deleted it (it must be gone).
    :param session_ended: the workload ended the session of its bound worker with exit code 0
        (it must be Completed, or gone with ``cleanup``).
    :param cleanup: the shell asked for ``cleanup`` (it may delete itself once Completed).
    :param ttl_seconds: its effective ttl, if any.
    :param created_at: when the workload created it (a ttl cannot end before this plus ttl).
    """

    namespace: str
    name: str
    deleted: bool = False
    session_ended: bool = False
    cleanup: bool = False
    ttl_seconds: int | None = None
    created_at: datetime | None = None
    ended_worker: str | None = None
    """The worker whose session the workload ended."""

    def may_be_gone(self, now: datetime, slack: float = 2.0) -> bool:
        """Whether the shell may no longer exist at ``now``: deleted, or a cleanup shell whose
        session ended or whose ttl can be over."""
        if self.deleted:
            return True
        if not self.cleanup:
            return False
        if self.session_ended:
            return True
        if self.ttl_seconds and self.created_at is not None:
            return now >= self.created_at + timedelta(seconds=self.ttl_seconds - slack)
        return False


@attrs.define
class InvariantReport:
    """The outcome of :func:`check_invariants`."""

    violations: list[Violation] = attrs.field(factory=list)
    objects_checked: int = 0
    shells_checked: int = 0
    checks: Counter[str] = attrs.field(factory=Counter)
    """How many individual checks ran, per invariant."""
    phases: Counter[str] = attrs.field(factory=Counter)
    """Shells seen per phase (``(gone)`` for recorded shells that no longer exist)."""

    @property
    def ok(self) -> bool:
        """Whether every invariant holds."""
        return not self.violations

    def by_invariant(self) -> dict[str, int]:
        """Violations counted per invariant (every invariant listed, zeros included)."""
        found = Counter(v.invariant for v in self.violations)
        return {name: found.get(name, 0) for name in INVARIANTS}

    def summary(self, limit: int = 20) -> str:
        """A readable summary: counts, then the first ``limit`` violations."""
        head = (
            f"{self.objects_checked} objects, {self.shells_checked} shells checked "
            f"({dict(self.phases)}); {len(self.violations)} violations {self.by_invariant()}"
        )
        lines = [head, *(str(v) for v in self.violations[:limit])]
        if len(self.violations) > limit:
            lines.append(f"... and {len(self.violations) - limit} more")
        return "\n".join(lines)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    labels = _meta(obj).get("labels")
    return labels if isinstance(labels, Mapping) else {}


def _describe(obj: Mapping[str, Any]) -> str:
    meta = _meta(obj)
    where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


def _deleting(obj: Mapping[str, Any]) -> bool:
    return bool(_meta(obj).get("deletionTimestamp"))


class ClusterState:
    """Every object of a cluster at one moment.

    :param objects: the objects (apiVersion and kind set), in any order.
    :param api_versions: ``(group, kind) -> apiVersion`` the operator reads a custom kind at
        (a CRD's objects are stored at one version but watched at another).
    """

    def __init__(
        self,
        objects: Iterable[Manifest],
        api_versions: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        versions = dict(api_versions or {})
        self.objects: list[Manifest] = []
        for obj in objects:
            group = str(obj.get("apiVersion") or "").rpartition("/")[0]
            wanted = versions.get((group, str(obj.get("kind"))))
            if wanted is not None and wanted != obj.get("apiVersion"):
                obj = {**obj, "apiVersion": wanted}
            self.objects.append(obj)
        self.by_uid: dict[str, Manifest] = {
            str(_meta(o)["uid"]): o for o in self.objects if _meta(o).get("uid")
        }
        self._by_kind: dict[str, list[Manifest]] = {}
        self._by_name: dict[tuple[str, str, str], Manifest] = {}
        for obj in self.objects:
            meta = _meta(obj)
            kind = str(obj.get("kind"))
            self._by_kind.setdefault(kind, []).append(obj)
            key = (kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
            self._by_name.setdefault(key, obj)

    def __len__(self) -> int:
        return len(self.objects)

    def of_kind(self, kind: str, namespace: str | None = None) -> list[Manifest]:
        """Objects of ``kind`` (any apiVersion), optionally in one namespace."""
        return [
            o
            for o in self._by_kind.get(kind, ())
            if namespace is None or _meta(o).get("namespace") == namespace
        ]

    def find(self, kind: str, namespace: str | None, name: str) -> Manifest | None:
        """One object by kind, namespace and name."""
        if namespace is not None:
            return self._by_name.get((kind, namespace, name))
        for obj in self.of_kind(kind, namespace):
            if _meta(obj).get("name") == name:
                return obj
        return None

    def shells(self) -> list[Manifest]:
        """Every CloudShell."""
        return [o for o in self.of_kind(KIND) if o.get("apiVersion") == API_VERSION]

    def snapshot(self) -> Snapshot:
        """The state as a :class:`~cloudtty_core.Snapshot` the planner can read."""
        apis = set(BUILTIN_APIS)
        for obj in self.objects:
            apis.add((str(obj.get("apiVersion")), str(obj.get("kind"))))
        for crd in self.of_kind("CustomResourceDefinition"):
            spec = crd.get("spec") or {}
            for version in spec.get("versions") or ():
                if version.get("served"):
                    kind = str((spec.get("names") or {}).get("kind"))
                    apis.add((f"{spec.get('group')}/{version.get('name')}", kind))
        return Snapshot(
            {ObjectRef.of(o): copy_json(o) for o in self.objects if _meta(o).get("name")},
            frozenset(apis),
        )


# --------------------------------------------------------------------------------------------
# The phase a shell must be in
# --------------------------------------------------------------------------------------------


def _kubeconfig_present(spec: Mapping[str, Any], namespace: str, state: ClusterState) -> bool:
    secret_ref = spec.get("secretRef")
    if isinstance(secret_ref, Mapping):
        secret = state.find("Secret", namespace, str(secret_ref.get("name")))
        key = str(secret_ref.get("key") or "config")
        data = (secret or {}).get("data") or {}
        return secret is not None and key in data
    configmap = spec.get("configmapName")
    if isinstance(configmap, str):
        return state.find("ConfigMap", namespace, configmap) is not None
    return True


def expected_phases(
    shell: Manifest,
    state: ClusterState,
    now: datetime,
    context: PlanContext,
    record: ShellRecord | None = None,
    *,
    slack: float = 2.0,
) -> frozenset[str]:
    """The phases ``shell`` may be in now (:data:`GONE`: it must not exist).

    ``slack`` seconds either side of a ttl's end accept both sides of it (the check and the
    operator's timer race there).
    """
    if record is not None and record.deleted:
        return frozenset({GONE})
    problems = validate_shell(shell)
    if problems:
        return frozenset({Phase.FAILED.value})
    model = structure_shell(shell)
    spec = model.spec
    registry = context.registry
    try:
        registry.exposure(spec.exposure_mode)
        auth = registry.auth(spec.auth.mode)
        image = registry.image(spec.image_backend)
    except BackendNotInstalled:
        return frozenset({Phase.FAILED.value})
    if spec.auth.mode not in image.supported_auth:
        return frozenset({Phase.FAILED.value})
    if isinstance(configure_auth(auth, model, context.settings), str):
        return frozenset({Phase.FAILED.value})
    finished = frozenset({GONE}) if spec.cleanup else frozenset({Phase.COMPLETED.value})
    if record is not None and record.session_ended:
        return finished
    ttl = spec.effective_ttl_seconds()
    started = model.status.last_schedule_time
    if ttl and started is not None:
        expires = started + timedelta(seconds=ttl)
        if now >= expires + timedelta(seconds=slack):
            return finished
        if now >= expires - timedelta(seconds=slack):
            return finished | {Phase.READY.value}
    if model.status.phase is Phase.COMPLETED and ttl and started is None:
        return frozenset({Phase.COMPLETED.value})
    raw_spec = shell.get("spec") or {}
    if not _kubeconfig_present(raw_spec, model.namespace, state):
        return frozenset({Phase.PROVISIONING.value})
    return frozenset({Phase.READY.value})


# --------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------


@attrs.define
class _Checker:
    state: ClusterState
    report: InvariantReport

    def check(self, invariant: str, ok: bool, subject: str, message: str) -> bool:
        self.report.checks[invariant] += 1
        if not ok:
            self.report.violations.append(Violation(invariant, subject, message))
        return ok


def check_invariants(
    state: ClusterState,
    records: Iterable[ShellRecord],
    now: datetime,
    context: PlanContext,
    *,
    pool_namespaces: Sequence[str] = (),
    slack: float = 2.0,
    converged: bool = True,
) -> InvariantReport:
    """Check every invariant (see the module documentation) on ``state``.

    :param records: what the workload did, per shell; shells without a record are checked by
        their spec and timers alone.
    :param now: the moment ``state`` was taken (timezone-aware).
    :param context: the operator's backends and settings (minIdle, images).
    :param pool_namespaces: namespaces whose warm pools the operator fills at start.
    :param slack: seconds around a ttl's end where both sides are accepted.
    :param converged: also require that planning again writes nothing.
    """
    report = InvariantReport(objects_checked=len(state))
    checker = _Checker(state, report)
    by_name = {(r.namespace, r.name): r for r in records}
    shells = state.shells()
    present = {(str(_meta(s).get("namespace")), str(_meta(s).get("name"))) for s in shells}
    report.shells_checked = len(present | set(by_name))
    _check_phases(checker, shells, by_name, now, context, slack)
    _check_orphans(checker, shells)
    _check_duplicates(checker, shells)
    _check_claims(checker, shells)
    _check_finalizers(checker, shells)
    _check_pools(checker, shells, context, pool_namespaces)
    if converged:
        _check_converged(checker, shells, now, context, pool_namespaces, slack)
    return report


def _check_phases(
    checker: _Checker,
    shells: list[Manifest],
    records: Mapping[tuple[str, str], ShellRecord],
    now: datetime,
    context: PlanContext,
    slack: float,
) -> None:
    present = {(str(_meta(s).get("namespace")), str(_meta(s).get("name"))): s for s in shells}
    for key, record in records.items():
        if key in present:
            continue
        subject = f"CloudShell {key[0]}/{key[1]}"
        checker.report.phases[GONE] += 1
        checker.check(
            "phase",
            record.may_be_gone(now, slack),
            subject,
            "is gone, but it was neither deleted nor a finished cleanup shell",
        )
    for key, shell in present.items():
        subject = f"CloudShell {key[0]}/{key[1]}"
        status = shell.get("status") if isinstance(shell.get("status"), Mapping) else {}
        assert isinstance(status, Mapping)
        phase = str(status.get("phase") or Phase.PENDING.value)
        checker.report.phases[phase] += 1
        known = records.get(key)
        wanted = expected_phases(shell, checker.state, now, context, known, slack=slack)
        checker.check(
            "phase",
            phase in wanted,
            subject,
            f"phase {phase}, expected {' or '.join(sorted(wanted))} ({_waiting(status)})",
        )
        generation = _meta(shell).get("generation")
        checker.check(
            "phase",
            status.get("observedGeneration") == generation,
            subject,
            f"observedGeneration {status.get('observedGeneration')} != generation {generation}",
        )
        if phase == Phase.READY.value:
            _check_ready(checker, shell, status, subject)
        if phase == Phase.FAILED.value:
            accepted = [c for c in status.get("conditions") or () if c.get("type") == "Accepted"]
            checker.check(
                "phase",
                bool(accepted) and accepted[0].get("status") == "False",
                subject,
                "Failed without an Accepted=False condition saying why",
            )


def _waiting(status: Mapping[str, Any]) -> str:
    """The conditions that are not True, as ``Type=Reason: message``."""
    waiting = [
        f"{c.get('type')}={c.get('reason')}: {c.get('message')}"
        for c in status.get("conditions") or ()
        if c.get("status") != "True" and c.get("type") != "Ready"
    ]
    return "; ".join(waiting) or "no condition is False"


def _session_owner(pod: Mapping[str, Any], state: ClusterState) -> Manifest | None:
    """The session Secret that owns a claimed (or idle) pool worker's pod."""
    for owner in _meta(pod).get("ownerReferences") or ():
        if owner.get("kind") == "Secret":
            return state.find("Secret", str(_meta(pod).get("namespace")), str(owner.get("name")))
    return None


def _worker_shell_uid(pod: Mapping[str, Any], state: ClusterState) -> str | None:
    """The uid of the shell a worker pod serves: its own label, or its session Secret's."""
    uid = _labels(pod).get(LABEL_SHELL_UID)
    if uid is None:
        secret = _session_owner(pod, state)
        uid = _labels(secret).get(LABEL_SHELL_UID) if secret is not None else None
    return None if uid is None else str(uid)


def _check_ready(
    checker: _Checker, shell: Manifest, status: Mapping[str, Any], subject: str
) -> None:
    uid = str(_meta(shell).get("uid"))
    namespace = str(_meta(shell).get("namespace"))
    checker.check("phase", bool(status.get("accessUrl")), subject, "Ready without accessUrl")
    worker = status.get("worker")
    pod = checker.state.find("Pod", namespace, str(worker)) if worker else None
    checker.check(
        "phase",
        pod is not None and is_ready(pod) and not _deleting(pod),
        subject,
        f"Ready, but its worker {worker!r} is not a live Ready pod",
    )
    if pod is not None:
        serves = _worker_shell_uid(pod, checker.state)
        checker.check(
            "claim",
            serves == uid,
            subject,
            f"its worker {worker} is labelled for shell uid {serves}",
        )


def _check_orphans(checker: _Checker, shells: list[Manifest]) -> None:
    state = checker.state
    shells_by_uid = {str(_meta(s).get("uid")): s for s in shells}
    services = {
        (str(_meta(s).get("namespace")), str(_meta(s).get("name")))
        for s in state.of_kind("Service")
    }
    for obj in state.objects:
        subject = _describe(obj)
        for owner in _meta(obj).get("ownerReferences") or ():
            checker.check(
                "orphan",
                str(owner.get("uid")) in state.by_uid,
                subject,
                f"its owner {owner.get('kind')} {owner.get('name')} ({owner.get('uid')}) is gone",
            )
        uid = _labels(obj).get(LABEL_SHELL_UID)
        if uid is None:
            continue
        shell = shells_by_uid.get(str(uid))
        if checker.check("orphan", shell is not None, subject, f"labelled for shell {uid}, gone"):
            assert shell is not None
            phase = (shell.get("status") or {}).get("phase")
            checker.check(
                "orphan",
                phase not in _TERMINAL,
                subject,
                f"left behind by {_describe(shell)}, which is {phase}",
            )
    for namespace, service, where in _route_targets(state):
        checker.check(
            "orphan",
            (namespace, service) in services,
            where,
            f"routes to Service {namespace}/{service}, which is gone",
        )


def _route_targets(state: ClusterState) -> list[tuple[str, str, str]]:
    """(namespace, Service, route) of every Ingress path and VirtualService route."""
    found: list[tuple[str, str, str]] = []
    for ingress in state.of_kind("Ingress"):
        namespace = str(_meta(ingress).get("namespace"))
        for rule in (ingress.get("spec") or {}).get("rules") or ():
            for path in (rule.get("http") or {}).get("paths") or ():
                service = ((path.get("backend") or {}).get("service") or {}).get("name")
                if service:
                    where = f"{_describe(ingress)} path {path.get('path')}"
                    found.append((namespace, str(service), where))
    for vs in state.of_kind("VirtualService"):
        namespace = str(_meta(vs).get("namespace"))
        for route in (vs.get("spec") or {}).get("http") or ():
            for target in route.get("route") or ():
                host = str((target.get("destination") or {}).get("host") or "")
                if not host:
                    continue
                parts = host.split(".")
                where = f"{_describe(vs)} route {route.get('name')}"
                found.append((parts[1] if len(parts) > 1 else namespace, parts[0], where))
    return found


def _check_duplicates(checker: _Checker, shells: list[Manifest]) -> None:
    state = checker.state
    for shell in shells:
        uid = str(_meta(shell).get("uid"))
        subject = _describe(shell)
        made = [o for o in state.objects if _labels(o).get(LABEL_SHELL_UID) == uid]
        workers = [
            o
            for o in state.of_kind("Pod", str(_meta(shell).get("namespace")))
            if _labels(o).get(LABEL_ROLE) == ROLE_WORKER
            and _worker_shell_uid(o, state) == uid
            and not _deleting(o)
            and (o.get("status") or {}).get("phase") in (None, "Pending", "Running")
        ]
        checker.check(
            "duplicate",
            len(workers) <= 1,
            subject,
            f"{len(workers)} live workers: {sorted(str(_meta(w).get('name')) for w in workers)}",
        )
        for kind in ("Service", "Ingress", "VirtualService"):
            mine = [o for o in made if o.get("kind") == kind and not _deleting(o)]
            checker.check(
                "duplicate",
                len(mine) <= 1,
                subject,
                f"{len(mine)} {kind}s: {sorted(str(_meta(o).get('name')) for o in mine)}",
            )
    routes = Counter((namespace, service) for namespace, service, _ in _route_targets(state))
    for (namespace, service), count in sorted(routes.items()):
        checker.check(
            "duplicate",
            count <= 1,
            f"Service {namespace}/{service}",
            f"{count} route entries lead to it",
        )


def _shell_owners(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        o
        for o in _meta(obj).get("ownerReferences") or ()
        if o.get("kind") == KIND and str(o.get("apiVersion", "")).startswith("cloudshell.")
    ]


def _check_claims(checker: _Checker, shells: list[Manifest]) -> None:
    state = checker.state
    for pod in state.of_kind("Pod"):
        if _labels(pod).get(LABEL_ROLE) != ROLE_WORKER:
            continue
        # A pool worker is claimed through its session Secret; any other worker directly.
        session = _session_owner(pod, state)
        holder = pod if session is None else session
        subject = _describe(holder)
        owners = _shell_owners(holder)
        checker.check(
            "claim",
            len(owners) <= 1,
            subject,
            f"owned by {len(owners)} shells: {[o.get('name') for o in owners]}",
        )
        label = _labels(holder).get(LABEL_SHELL_UID)
        if owners:
            checker.check(
                "claim",
                label == owners[0].get("uid"),
                subject,
                f"owned by shell {owners[0].get('uid')} but labelled for {label}",
            )
        if session is not None and _labels(session).get(LABEL_STATE) == STATE_IDLE:
            checker.check(
                "claim",
                label is None and not owners,
                subject,
                "idle, yet labelled or owned for a shell",
            )
    bound = Counter(
        (str(_meta(s).get("namespace")), str((s.get("status") or {}).get("worker")))
        for s in shells
        if (s.get("status") or {}).get("worker")
    )
    for (namespace, worker), count in sorted(bound.items()):
        checker.check(
            "claim", count <= 1, f"Pod {namespace}/{worker}", f"the worker of {count} shells"
        )


def _check_finalizers(checker: _Checker, shells: list[Manifest]) -> None:
    for shell in shells:
        meta = _meta(shell)
        checker.check(
            "finalizer",
            not meta.get("deletionTimestamp"),
            _describe(shell),
            f"deleted at {meta.get('deletionTimestamp')} but still there with finalizers "
            f"{list(meta.get('finalizers') or ())}",
        )


def _pool_keys(
    shells: list[Manifest], context: PlanContext, pool_namespaces: Sequence[str]
) -> dict[str, PoolKey]:
    """The pools the operator keeps: configured namespaces, and those of live shells."""
    registry = context.registry
    keys: dict[str, PoolKey] = {}

    def add(namespace: str, backend_name: str, image: str | None) -> None:
        try:
            backend = registry.image(backend_name)
        except BackendNotInstalled:
            return
        if backend.supports_warm_pool:
            key = PoolKey(namespace, backend.name, image or context.settings.image_for(backend))
            keys[key.hash] = key

    for namespace in pool_namespaces:
        for name in registry.names("image"):
            add(namespace, name, None)
    for shell in shells:
        spec = shell.get("spec") or {}
        backend_name, image = spec.get("imageBackend") or "webterm", spec.get("image")
        if isinstance(backend_name, str) and (image is None or isinstance(image, str)):
            add(str(_meta(shell).get("namespace") or "default"), backend_name, image)
    return keys


def _check_pools(
    checker: _Checker,
    shells: list[Manifest],
    context: PlanContext,
    pool_namespaces: Sequence[str],
) -> None:
    state = checker.state
    keys = _pool_keys(shells, context, pool_namespaces)
    idle_by_pool: dict[str, list[Manifest]] = {}
    for pod in state.of_kind("Pod"):
        labels = _labels(pod)
        if labels.get(LABEL_ROLE) != ROLE_WORKER or LABEL_POOL not in labels:
            continue
        namespace = str(_meta(pod).get("namespace"))
        session = state.find("Secret", namespace, session_secret_name(str(_meta(pod).get("name"))))
        if session is not None and _labels(session).get(LABEL_STATE) == STATE_IDLE:
            idle_by_pool.setdefault(str(labels.get(LABEL_POOL)), []).append(pod)
    for pool_hash in sorted(set(keys) | set(idle_by_pool)):
        key = keys.get(pool_hash)
        pods = idle_by_pool.get(pool_hash, [])
        subject = f"pool {key.namespace}/{key.image_backend} ({pool_hash})" if key else pool_hash
        # A pool nobody asks for any more keeps its workers until shells claim them; they
        # must still be healthy.
        target = None if key is None else context.settings.min_idle_for(key.namespace)
        ready = [p for p in pods if is_ready(p) and not _deleting(p)]
        if target is not None:
            checker.check(
                "pool",
                len(pods) == target and len(ready) == target,
                subject,
                f"{len(pods)} idle workers ({len(ready)} Ready), minIdle {target}",
            )
        else:
            checker.check(
                "pool",
                len(ready) == len(pods),
                subject,
                f"{len(pods)} idle workers of an unknown pool, {len(ready)} Ready",
            )


def _check_converged(
    checker: _Checker,
    shells: list[Manifest],
    now: datetime,
    context: PlanContext,
    pool_namespaces: Sequence[str],
    slack: float,
) -> None:
    view = checker.state.snapshot()
    pool = ClusterPoolView(view)
    for shell in shells:
        if _near_timer(shell, now, slack):
            continue
        result = plan(copy_json(shell), view, pool, now, context)
        checker.check(
            "converged",
            result.is_empty,
            _describe(shell),
            f"planning again would write: {_plan_summary(result)}",
        )
    for key in _pool_keys(shells, context, pool_namespaces).values():
        result = plan_pool(key, view, ClusterPoolView(view), context.settings, context.registry)
        checker.check(
            "converged",
            result.is_empty,
            f"pool {key.namespace}/{key.image_backend}",
            f"planning again would write: {_plan_summary(result)}",
        )


def _near_timer(shell: Manifest, now: datetime, slack: float) -> bool:
    spec = shell.get("spec") or {}
    status = shell.get("status") or {}
    ttl = spec.get("ttlSecondsAfterStarted")
    if ttl is None:
        ttl = spec.get("ttl") or None
    started = status.get("lastScheduleTime")
    if not isinstance(ttl, int) or not isinstance(started, str):
        return False
    try:
        expires = parse_time(started) + timedelta(seconds=ttl)
    except (ValueError, OverflowError):
        return False
    return abs((expires - now).total_seconds()) <= slack


def _plan_summary(result: Any) -> str:
    parts = []
    for name in ("creates", "updates", "deletes", "patches", "final_patches"):
        items = getattr(result, name)
        if items:
            parts.append(f"{len(items)} {name}")
    if result.status is not None:
        parts.append(f"status (phase {result.status.phase})")
    if result.events:
        parts.append(f"events {[e.reason for e in result.events]}")
    if result.issue_kubeconfig is not None:
        parts.append("a kubeconfig")
    if result.delete_shell:
        parts.append("delete the shell")
    return ", ".join(parts)
