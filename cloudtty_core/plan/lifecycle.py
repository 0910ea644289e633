"""The planner for one shell: ``plan(shell, cluster, pool, now, context) -> Plan``.

Pure: it reads the shell, a :class:`~cloudtty_core.ClusterView` and a
:class:`~cloudtty_core.PoolView`, and returns what to write. The steps, in order:

1. deletion requested -> give back shared routes, delete what the shell made, drop the finalizer;
2. invalid spec, backend not installed, auth mode the image cannot enforce -> Failed;
3. finished (Completed / Failed) -> make sure nothing of it is left (and delete the shell
   itself when ``cleanup`` asks for it);
4. ttl over -> Completed; the bound pod ended its session -> Completed;
5. otherwise provision: kubeconfig, auth, a worker (claimed from the warm pool, made on
   demand, or a cold pod), its session, the route -- Ready once the URL works.

The phase only ever moves through :func:`~cloudtty_core.transition`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from cloudtty_core.backends import (
    ClusterView,
    ColdPodRequest,
    ImageBackend,
    ObjectRef,
    PoolKey,
    SessionRequest,
    Waiting,
    WorkerRef,
    WorkerRequest,
    shell_command,
)
from cloudtty_core.model import (
    API_VERSION,
    KIND,
    CloudShell,
    CloudShellSpec,
    CloudShellStatus,
    Manifest,
    ObjectMeta,
    Problem,
    converter,
    structure_shell,
)
from cloudtty_core.phases import Event, Phase
from cloudtty_core.registry import AnyBackend, BackendKind, BackendNotInstalled
from cloudtty_core.validation import validate_shell

from .auth import AuthOutcome, access_secret, configure_auth, resolve_auth
from .deletion import plan_deletion
from .exposure import ExposureOutcome, expose
from .identity import (
    WORKER_KINDS,
    account_ref,
    account_spent,
    fresh_worker_name,
    session_binding,
    session_role,
    worker_account,
)
from .kubeconfig import resolve_kubeconfig
from .names import (
    FINALIZER,
    LABEL_WORKER,
    ShellIdentity,
    service_name,
    session_secret_name,
    shell_worker_prefix,
    worker_selector,
)
from .objects import diff_objects
from .pool import claimed_worker_grants, idle_session
from .status import (
    ACCEPTED,
    AUTH_READY,
    KUBECONFIG_READY,
    ROUTE_READY,
    WORKER_READY,
    StatusBuilder,
)
from .teardown import teardown
from .types import EventSpec, Patch, Plan, PlanContext, PoolView
from .worker import (
    claim,
    decorate,
    ending_reason,
    is_ready,
    observe_workers,
    own_accounts,
    pending_account,
    session_labels,
    session_ref,
    shell_pod,
)

__all__ = ["plan"]

_ENDINGS: Mapping[str, Event] = {"idle": Event.IDLE_TIMEOUT, "ttl": Event.TTL_EXPIRED}


def plan(
    shell: CloudShell | Mapping[str, Any],
    cluster: ClusterView,
    pool: PoolView,
    now: datetime,
    context: PlanContext,
) -> Plan:
    """What to do next for ``shell``, given what the cluster shows.

    :param shell: the CloudShell as observed -- a model, or the raw manifest (then it is
        validated first, and an invalid one is planned into phase Failed with a condition
        naming every problem).
    :param cluster: the observed cluster (the runtime's caches, or a Snapshot).
    :param pool: idle warm workers the shell may claim.
    :param now: the current time (timezone-aware); the plan is a function of its inputs.
    :param context: backends, settings, token source and hooks.
    """
    if isinstance(shell, CloudShell):
        return _plan_valid(shell, cluster, pool, now, context)
    problems = validate_shell(shell)
    if problems:
        return _plan_invalid(shell, problems, cluster, now, context)
    return _plan_valid(structure_shell(shell), cluster, pool, now, context)


def _identity(shell: CloudShell) -> ShellIdentity:
    meta = shell.metadata
    return ShellIdentity(
        {
            "name": meta.name,
            "namespace": meta.namespace,
            "uid": meta.uid,
            "resourceVersion": meta.resource_version,
            "generation": meta.generation,
            "finalizers": list(meta.finalizers),
            "deletionTimestamp": meta.deletion_timestamp,
        }
    )


def _shell_ref(ident: ShellIdentity) -> ObjectRef:
    return ObjectRef(API_VERSION, KIND, ident.namespace, ident.name)


# ------------------------------------------------------------------------------------------
# Invalid shells
# ------------------------------------------------------------------------------------------


def _lenient_status(raw: Mapping[str, Any]) -> CloudShellStatus:
    try:
        return converter.structure(raw.get("status") or {}, CloudShellStatus)
    except Exception:  # an unreadable status is rewritten from scratch
        return CloudShellStatus()


def _plan_invalid(
    raw: Mapping[str, Any],
    problems: list[Problem],
    cluster: ClusterView,
    now: datetime,
    context: PlanContext,
) -> Plan:
    metadata = raw.get("metadata") if isinstance(raw.get("metadata"), Mapping) else {}
    ident = ShellIdentity(metadata or {})
    if ident.deleting:
        return plan_deletion(None, ident, cluster, context)
    stand_in = CloudShell(
        metadata=ObjectMeta(
            name=ident.name,
            namespace=ident.namespace,
            uid=ident.uid,
            resource_version=ident.resource_version,
            generation=ident.generation,
            finalizers=ident.finalizers,
        ),
        spec=CloudShellSpec(),
        status=_lenient_status(raw),
    )
    builder = StatusBuilder(stand_in, ident.generation, now, context.hooks)
    message = "invalid spec: " + "; ".join(str(p) for p in problems)
    if not builder.status.phase or not builder.status.phase.terminal:
        builder.condition(ACCEPTED, False, "SpecInvalid", message)
        builder.step(Event.SPEC_INVALID, message)
    updates, deletes, _ = teardown(None, ident, cluster, context.registry, context.settings)
    return Plan(
        updates=updates, deletes=deletes, status=builder.result(), events=tuple(builder.events)
    )


# ------------------------------------------------------------------------------------------
# Valid shells
# ------------------------------------------------------------------------------------------


@attrs.define
class _Pass:
    """The writes one planning pass collects."""

    patches: list[Patch] = attrs.field(factory=list)
    wanted: list[Manifest] = attrs.field(factory=list)
    updates: list[Manifest] = attrs.field(factory=list)
    deletes: list[ObjectRef] = attrs.field(factory=list)


def _plan_valid(
    shell: CloudShell,
    cluster: ClusterView,
    pool: PoolView,
    now: datetime,
    context: PlanContext,
) -> Plan:
    ident = _identity(shell)
    if ident.deleting:
        return plan_deletion(shell, ident, cluster, context)
    builder = StatusBuilder(shell, ident.generation, now, context.hooks)
    if shell.status.phase is not None and shell.status.phase.terminal:
        return _finish(shell, ident, builder, cluster, context)

    backends, missing = _backends(shell, context)
    if missing:
        message = "; ".join(f"{_BACKEND_FIELDS[e.kind]}: {e}" for e in missing)
        builder.condition(ACCEPTED, False, "BackendNotInstalled", message)
        builder.step(Event.BACKEND_MISSING, message)
        return _finish(shell, ident, builder, cluster, context)
    exposure_backend, auth_backend, image = backends
    mode = shell.spec.auth.mode
    if mode not in image.supported_auth:
        supported = ", ".join(sorted(image.supported_auth)) or "none"
        message = (
            f"spec.auth.mode: image backend {image.name!r} cannot enforce auth mode {mode!r} "
            f"(it supports: {supported})"
        )
        builder.condition(ACCEPTED, False, "UnsupportedAuth", message)
        builder.step(Event.SPEC_INVALID, message)
        return _finish(shell, ident, builder, cluster, context)
    auth_setup = configure_auth(auth_backend, shell, context.settings)
    if isinstance(auth_setup, str):
        message = f"invalid auth settings: {auth_setup}"
        builder.condition(ACCEPTED, False, "InvalidAuth", message)
        builder.step(Event.SPEC_INVALID, message)
        return _finish(shell, ident, builder, cluster, context)
    builder.condition(ACCEPTED, True, "Accepted", "")
    if builder.phase in (None, Phase.PENDING):
        builder.step(Event.SPEC_ACCEPTED, "spec accepted, provisioning the terminal")

    # The ttl counts from the moment a terminal was first bound (lastScheduleTime).
    ttl = shell.spec.effective_ttl_seconds()
    started = shell.status.last_schedule_time
    expires_at = started + timedelta(seconds=ttl) if ttl and started else None
    if expires_at is not None and now >= expires_at:
        builder.update(expires_at=expires_at)
        builder.step(Event.TTL_EXPIRED, f"the ttl of {ttl}s is over")
        return _finish(shell, ident, builder, cluster, context)

    work = _Pass()
    settings = context.settings
    workers = observe_workers(ident, shell.status.worker, cluster)
    if workers.ended is not None:
        reason = ending_reason(workers.ended)
        event = _ENDINGS.get(reason, Event.SESSION_ENDED)
        if builder.can(event):
            builder.step(event, f"the terminal session ended ({reason})")
            return _record_ending(builder)
    gone = [*workers.stale, *([workers.ended] if workers.ended is not None else [])]
    for stale in gone:  # failed, spare, or ended before anyone could use it
        work.deletes += _worker_refs(stale, cluster)

    kube = resolve_kubeconfig(shell, ident, cluster, settings)
    # The ServiceAccount and RoleBinding belong to the shell: labelled and owned like the rest,
    # so deletion (and garbage collection) finds them.
    work.wanted += [decorate(o, ident) for o in kube.wanted]
    if kube.waiting is None:
        builder.condition(KUBECONFIG_READY, True, "Found", f"kubeconfig from {kube.source}")
    else:
        builder.condition(
            KUBECONFIG_READY,
            False,
            kube.waiting.reason,
            kube.waiting.message,
            transient=kube.waiting.transient,
        )
    auth = resolve_auth(auth_backend, auth_setup, ident, cluster, context.token_source)
    if auth.waiting is None:
        builder.condition(AUTH_READY, True, "Configured", f"auth mode {auth.setup.mode}")
    else:
        builder.condition(AUTH_READY, False, auth.waiting.reason, auth.waiting.message)
    dependencies_ready = kube.waiting is None and auth.waiting is None
    if builder.phase is Phase.READY and not dependencies_ready:
        waiting = kube.waiting or auth.waiting
        assert waiting is not None
        builder.step(Event.DEPENDENCY_MISSING, waiting.message)

    # The worker: the one serving already, else claim or make one once the session can be built.
    image_name = shell.spec.image or settings.image_for(image)
    key = PoolKey(ident.namespace, image.name, image_name)
    pod = workers.pod
    worker: str | None = pod["metadata"]["name"] if pod is not None else None
    accounts = own_accounts(ident, cluster)
    # Whether the shell made (or makes) the worker itself, with its own identity objects.
    made_here = worker is not None and worker in {a["metadata"]["name"] for a in accounts}
    new_pod: Manifest | None = None
    claiming: Manifest | None = None  # the idle session Secret this pass claims
    # A variable read from elsewhere (valueFrom) is resolved by the kubelet when it starts a
    # pod: a pool worker started before the shell existed cannot have it.
    env_from = _env_from_sources(shell)
    if worker is None and dependencies_ready:
        worker = pending_account(ident, accounts, shell.status.worker, cluster)
        made_here = worker is not None
        from_pool = image.supports_warm_pool and not env_from
        idle = pool.idle_workers(key) if worker is None and from_pool else ()
        for candidate in idle:
            claiming = idle_session(candidate, cluster)
            if claiming is not None:
                pod, worker = candidate, str(candidate["metadata"]["name"])
                break
        if worker is None:
            prefix = shell_worker_prefix(ident.name)
            worker = fresh_worker_name(prefix, ident.namespace, context.name_source, cluster)
            made_here = True
    # Accounts of the shell's own workers that no longer serve it (a lost or replaced worker,
    # or one made twice from a stale cache); the bound one waits while dependencies are missing.
    keep = {worker} if worker is not None else {shell.status.worker}
    for account in accounts:
        name = account["metadata"]["name"]
        if name not in keep or (worker is None and account_spent(name, ident.namespace, cluster)):
            # Its Role and RoleBinding are the shell's (not the account's): they go with it.
            work.deletes += [
                ObjectRef.of(account),
                *_refs_of(cluster, ident.namespace, name, WORKER_KINDS[1:]),
            ]
    # Session Secrets of workers that are gone and do not serve the shell (a worker made twice
    # from a stale cache, a claimed worker that disappeared): nothing else deletes them.
    work.deletes += [
        ObjectRef.of(session)
        for session in workers.podless_sessions
        if session["metadata"]["labels"][LABEL_WORKER] != worker
    ]
    if made_here and worker is not None:
        work.wanted += _identity_objects(worker, ident, image.supports_warm_pool)

    lost = shell.status.worker is not None and shell.status.worker != worker
    if lost and builder.can(Event.WORKER_LOST):
        builder.step(Event.WORKER_LOST, f"worker {shell.status.worker} is gone")

    # The ttl starts when a terminal is first bound; the session needs the expiry already.
    if worker is not None and started is None:
        started = now
        builder.update(last_schedule_time=now)
        expires_at = now + timedelta(seconds=ttl) if ttl else None

    url: str | None = None
    needs_finalizer = False
    if worker is not None:
        ref = WorkerRef(
            worker, ident.namespace, image.port, service_name(ident.name), worker_selector(worker)
        )
        route = expose(exposure_backend, shell, ident, ref, cluster, settings)
        needs_finalizer = route.needs_finalizer
        work.wanted += route.owned
        work.wanted += route.shared
        url = route.exposure.url
        if url is None:
            waiting = route.exposure.waiting or Waiting(
                "RoutePending", "waiting for the route", transient=True
            )
            builder.condition(
                ROUTE_READY, False, waiting.reason, waiting.message, transient=waiting.transient
            )
        else:
            builder.condition(ROUTE_READY, True, "Routed", f"served at {url}")
        # While a credential is missing the worker keeps the session it has; a session built
        # without the credential would serve the wrong auth.
        if image.supports_warm_pool and dependencies_ready:
            session = _session(
                image, shell, ident, ref, kube.text, auth, route, expires_at, context
            )
            work.wanted.append(session)
        # The pod of a worker made here (created after its ServiceAccount, see Plan).
        if made_here and pod is None:
            if image.supports_warm_pool:
                base = _with_env(image.worker_pod(WorkerRequest(key, settings)), env_from)
            else:
                base = image.cold_pod(
                    ColdPodRequest(
                        shell=shell,
                        image=image_name,
                        port=image.port,
                        kubeconfig=kube.source,
                        auth=auth.setup,
                        base_path=route.exposure.base_path,
                        command=shell_command(shell),
                        settings=settings,
                    )
                )
            new_pod = shell_pod(base, ident, worker)
    if new_pod is not None:
        work.wanted.append(new_pod)
    if worker is not None and auth.setup.token_param is not None and auth.material.token:
        work.wanted.append(
            decorate(access_secret(ident, auth.material.token, url, auth.setup), ident)
        )

    # Worker status, conditions and phase.
    if worker != shell.status.worker:
        builder.update(worker=worker)
    builder.update(
        expires_at=expires_at,
        kubeconfig_secret=kube.secret_name,
        access_secret=auth.access_secret,
    )
    # A claimed idle worker is Ready already (the pool only offers Ready ones).
    worker_ready = pod is not None and new_pod is None and is_ready(pod)
    if worker is None:
        builder.condition(
            WORKER_READY, False, "WaitingForDependencies", "no worker bound yet", transient=True
        )
    elif worker_ready:
        builder.condition(WORKER_READY, True, "WorkerReady", f"worker {worker} is ready")
        if builder.can(Event.WORKER_BOUND) and builder.phase is not Phase.READY:
            builder.step(Event.WORKER_BOUND, f"worker {worker} serves the shell")
    else:
        builder.condition(
            WORKER_READY, False, "WorkerStarting", f"worker {worker} is starting", transient=True
        )
    if url is not None and worker_ready and dependencies_ready:
        if builder.phase is Phase.READY:
            builder.set_url(url)
        elif builder.can(Event.ROUTE_READY):
            builder.step(Event.ROUTE_READY, f"the terminal is served at {url}", url=url)
    elif builder.phase is Phase.READY:
        builder.step(Event.DEPENDENCY_MISSING, "the worker or its route is not ready")

    if needs_finalizer or settings.always_finalize:
        work.patches += _add_finalizer(ident)

    objects = list(context.hooks.adjust_objects(shell, work.wanted))
    if claiming is not None:
        # The claim: this pass's session (as the hooks adjusted it) written over the worker's
        # idle session Secret.
        wanted_session = session_secret_name(str(worker))
        for obj in objects:
            if obj.get("kind") == "Secret" and obj["metadata"].get("name") == wanted_session:
                work.updates.append(claim(claiming, obj, ident))
                objects.remove(obj)
                break
    if pod is not None and worker is not None and not made_here:
        # A pool worker serving the shell: the pool pass no longer looks at it, so its right
        # to read its session is kept here (added past the hooks: the objects are the pool's).
        objects += claimed_worker_grants(worker, ident.namespace, cluster)
    changes = diff_objects(cluster, objects)
    requeue = (expires_at - now).total_seconds() if expires_at is not None else None
    return Plan(
        creates=changes.creates,
        updates=(*work.updates, *changes.updates),
        patches=tuple(work.patches),
        deletes=tuple(dict.fromkeys(work.deletes)),
        status=builder.result(),
        events=tuple(builder.events),
        requeue_after=requeue,
        issue_kubeconfig=kube.issue,
    )


def _worker_refs(pod: Manifest, cluster: ClusterView) -> list[ObjectRef]:
    """A pod to delete, with its session Secret and its worker ServiceAccount (the account's
    Role and RoleBinding go with it by garbage collection)."""
    ref = ObjectRef.of(pod)
    session = session_ref(ref.name, ref.namespace or "")
    found = cluster.get(session.api_version, session.kind, session.namespace, session.name)
    account = account_ref(pod, cluster)
    return [
        *([account] if account is not None else []),
        ref,
        *([session] if found is not None else []),
    ]


def _refs_of(
    cluster: ClusterView, namespace: str, name: str, kinds: tuple[tuple[str, str], ...]
) -> list[ObjectRef]:
    """References of the objects of ``kinds`` named ``name`` that exist."""
    return [
        ObjectRef(api_version, kind, namespace, name)
        for api_version, kind in kinds
        if cluster.get(api_version, kind, namespace, name) is not None
    ]


def _identity_objects(worker: str, ident: ShellIdentity, reads_session: bool) -> list[Manifest]:
    """The ServiceAccount of a worker the shell makes itself and, when the worker reads its
    session, its Role and RoleBinding (owned by the shell, like the pod)."""
    ns = ident.namespace
    wanted = [decorate(worker_account(worker, ns, {}, reads_session=reads_session), ident)]
    if reads_session:
        wanted += [
            decorate(session_role(worker, ns, {}), ident),
            decorate(session_binding(worker, ns, {}), ident),
        ]
    return wanted


_BACKEND_FIELDS = {
    BackendKind.EXPOSURE: "spec.exposureMode",
    BackendKind.AUTH: "spec.auth.mode",
    BackendKind.IMAGE: "spec.imageBackend",
}
"""The spec field naming each kind of backend (conditions name the field to fix)."""


def _backends(shell: CloudShell, context: PlanContext) -> tuple[Any, list[BackendNotInstalled]]:
    wanted = (
        (BackendKind.EXPOSURE, shell.spec.exposure_mode),
        (BackendKind.AUTH, shell.spec.auth.mode),
        (BackendKind.IMAGE, shell.spec.image_backend),
    )
    found: list[AnyBackend] = []
    missing: list[BackendNotInstalled] = []
    for kind, name in wanted:
        try:
            found.append(context.registry.get(kind, name).backend)
        except BackendNotInstalled as error:
            missing.append(error)
    return tuple(found), missing


def _add_finalizer(ident: ShellIdentity) -> list[Patch]:
    if FINALIZER in ident.finalizers:
        return []
    patch = {
        "metadata": {
            "finalizers": [*ident.finalizers, FINALIZER],
            "resourceVersion": ident.resource_version,
        }
    }
    return [Patch(_shell_ref(ident), patch)]


def _session(
    image: ImageBackend,
    shell: CloudShell,
    ident: ShellIdentity,
    worker: WorkerRef,
    kubeconfig: str | None,
    auth: AuthOutcome,
    route: ExposureOutcome,
    expires_at: datetime | None,
    context: PlanContext,
) -> Manifest:
    """The Secret delivering the session to a warm worker (owned by the shell)."""
    request = SessionRequest(
        shell=shell,
        worker=worker,
        secret_name=session_secret_name(worker.name),
        kubeconfig=kubeconfig or "",
        command=shell_command(shell),
        auth=dict(auth.session),
        base_path=route.exposure.base_path,
        expires_at=expires_at,
        settings=context.settings,
    )
    return decorate(
        image.session(request),
        ident,
        name=request.secret_name,
        extra_labels=session_labels(worker.name),
    )


# ------------------------------------------------------------------------------------------
# Finished shells
# ------------------------------------------------------------------------------------------


def _record_ending(builder: StatusBuilder) -> Plan:
    """Only the new phase: the ended worker is the sole evidence that the session ended.

    Tearing the worker down in the same plan would lose that evidence whenever the status write
    after it fails (an API error, the operator killed in between): the next pass would see a
    lost worker and provision a new one. So the ending is recorded first, and the next pass --
    the shell is terminal then -- removes the worker (and, with ``cleanup``, the shell).
    """
    return Plan(status=builder.result(), events=tuple(builder.events), requeue_after=0.0)


def _finish(
    shell: CloudShell,
    ident: ShellIdentity,
    builder: StatusBuilder,
    cluster: ClusterView,
    context: PlanContext,
) -> Plan:
    """Completed or Failed: remove what the shell made; delete the shell if ``cleanup``."""
    updates, deletes, warning = teardown(shell, ident, cluster, context.registry, context.settings)
    if shell.status.worker is not None or builder.status.worker is not None:
        builder.update(worker=None)
        released = {"transient": True}  # the phase event tells why
        builder.condition(WORKER_READY, False, "Released", "the worker was released", **released)
        builder.condition(ROUTE_READY, False, "Released", "the route was removed", **released)
    events = list(builder.events)
    if warning and (updates or deletes):
        events.append(EventSpec("Warning", "ReleaseFailed", warning))
    cleanup = builder.phase is Phase.COMPLETED and shell.spec.cleanup
    # With cleanup the teardown above is all the deletion needs: drop our finalizer in the same
    # plan so the shell goes at once. No status write then: it would change the resourceVersion
    # the finalizer patch is conditioned on, and the shell is about to disappear anyway.
    final = plan_deletion(shell, ident, cluster, context).final_patches if cleanup else ()
    status = builder.result()
    return Plan(
        updates=updates,
        deletes=deletes,
        status=None if cleanup else status,
        events=tuple(events),
        final_patches=final,
        delete_shell=cleanup,
    )


def _env_from_sources(shell: CloudShell) -> list[Manifest]:
    """The shell's variables that take their value from elsewhere (``valueFrom``)."""
    return [
        {"name": var.name, "valueFrom": dict(var.value_from)}
        for var in shell.spec.env
        if var.value_from is not None
    ]


def _with_env(pod: Manifest, env: list[Manifest]) -> Manifest:
    """``pod`` with ``env`` added to each container: a worker made for one shell starts with
    the variables only the kubelet can resolve, and the terminal server hands its environment
    on to the shell. A variable the image backend sets itself keeps the backend's value (the
    worker needs it, as a session's HOME and KUBECONFIG stay the session's own)."""
    if not env:
        return pod
    spec = dict(pod.get("spec") or {})
    containers = []
    for container in spec.get("containers") or ():
        own = container.get("env") or []
        taken = {var.get("name") for var in own}
        containers.append({**container, "env": [*own, *(v for v in env if v["name"] not in taken)]})
    spec["containers"] = containers
    return {**pod, "spec": spec}
