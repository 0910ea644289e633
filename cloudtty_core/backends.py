"""What a backend is: the typed objects plugins register, and what they are given to work with.

Three kinds of backends turn a CloudShell into Kubernetes objects:

* an :class:`ExposureBackend` makes the worker reachable (a Service, an Ingress, an Istio
  VirtualService, ...) and says the access URL once the observed objects allow it;
* an :class:`AuthBackend` says what the terminal server enforces (none, basic, token, header);
* an :class:`ImageBackend` says how the terminal pod looks (warm worker, cold pod) and how a
  claimed warm worker receives its session.

Backends are pure: they read the cluster only through a :class:`ClusterView` (the runtime's
caches, or an in-memory :class:`Snapshot` in tests and ``cloudtty render``) and return plain
manifests. They never talk to the API server; the planner decides what to create, update or
delete from what they return.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, runtime_checkable

import attrs

from .model import Manifest

if TYPE_CHECKING:
    from .model import CloudShell

_T = TypeVar("_T")

__all__ = [
    "BUILTIN_APIS",
    "SHELL_PATH_PREFIX",
    "AuthBackend",
    "AuthMaterial",
    "AuthRequest",
    "AuthSetup",
    "ClusterView",
    "ColdPodRequest",
    "Exposure",
    "ExposureBackend",
    "ExposureRequest",
    "ImageBackend",
    "KindRef",
    "KubeconfigSource",
    "Manifest",
    "ObjectRef",
    "OperatorSettings",
    "PoolKey",
    "SecretKeyRef",
    "SessionRequest",
    "Snapshot",
    "Waiting",
    "WorkerRef",
    "WorkerRequest",
    "copy_json",
    "decode_secret_value",
    "dns_label",
    "label_value",
    "shell_command",
    "shell_path",
    "worker_service",
]

# --------------------------------------------------------------------------------------------
# References and names
# --------------------------------------------------------------------------------------------


@attrs.frozen
class KindRef:
    """A kind the runtime must watch for a backend (e.g. Ingress, or Istio's VirtualService)."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True


@attrs.frozen(order=True)
class ObjectRef:
    """Identifies one object: what the planner deletes, and how a :class:`Snapshot` keys objects."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    @classmethod
    def of(cls, manifest: Mapping[str, Any]) -> ObjectRef:
        """The reference of ``manifest`` (which must carry apiVersion, kind and metadata.name)."""
        meta = manifest.get("metadata") or {}
        name = meta.get("name")
        if not name:
            raise ValueError(f"{manifest.get('kind', 'object')} has no metadata.name")
        return cls(
            api_version=str(manifest["apiVersion"]),
            kind=str(manifest["kind"]),
            namespace=meta.get("namespace") or None,
            name=str(name),
        )

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


@attrs.frozen
class SecretKeyRef:
    """One key of one Secret (credential material, a kubeconfig)."""

    namespace: str
    name: str
    key: str

    def __str__(self) -> str:
        return f"Secret {self.namespace}/{self.name} key {self.key!r}"


@attrs.frozen
class KubeconfigSource:
    """Where a shell's kubeconfig lives: a Secret or (CloudTTY v0.1) a ConfigMap, and the key."""

    kind: str  # "Secret" or "ConfigMap"
    namespace: str
    name: str
    key: str = "config"

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name} key {self.key!r}"


def label_value(text: str) -> str:
    """``text`` made usable as a label value (at most 63 characters; long ones keep a hash)."""
    if len(text) <= 63:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{text[:54].rstrip('-._')}-{digest}"


@functools.lru_cache(maxsize=4096)  # names are derived from the same shell names every pass
def dns_label(text: str) -> str:
    """``text`` made a valid DNS-1035 label (a Service name): lower case, at most 63 characters."""
    cleaned = "".join(c if c.isalnum() and c.isascii() else "-" for c in text.lower()).strip("-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"x-{cleaned}".rstrip("-")
    if len(cleaned) <= 63:
        return cleaned
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{cleaned[:54].rstrip('-')}-{digest}"


# --------------------------------------------------------------------------------------------
# Operator settings
# --------------------------------------------------------------------------------------------


def _frozen_str_map(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return dict(value or {})


def _frozen_int_map(value: Mapping[str, int] | None) -> Mapping[str, int]:
    return dict(value or {})


@attrs.frozen
class OperatorSettings:
    """How the operator is configured (flags / Helm values); read by the planner and backends.

    Attributes:
        node_address: host name or address used in NodePort URLs instead of a node's address.
        cluster_role: ClusterRole bound to the per-shell ServiceAccount of shells that bring
            no kubeconfig of their own (never the operator's own rights).
        cluster_server: API server URL written into generated kubeconfigs.
        min_idle: idle warm workers kept per pool key (namespace, image backend, image).
        min_idle_per_namespace: overrides of ``min_idle`` by namespace.
        images: image per image backend name, overriding the backend's ``default_image``.
        default_token_seconds: lifetime of generated credentials for shells without a TTL.
        always_finalize: put the finalizer on every shell. Off by default: only shells whose
            objects need explicit cleanup (shared routes, objects in other namespaces) get it;
            everything else a shell makes is owned by it (directly, or through a claimed
            worker's session Secret) and goes by garbage collection, which saves one API write
            per shell.
    """

    node_address: str | None = None
    cluster_role: str = "view"
    cluster_server: str = "https://kubernetes.default.svc"
    min_idle: int = 1
    min_idle_per_namespace: Mapping[str, int] = attrs.field(factory=dict, converter=_frozen_int_map)
    images: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_str_map)
    default_token_seconds: int = 3600
    always_finalize: bool = False

    def min_idle_for(self, namespace: str) -> int:
        """Idle warm workers to keep in ``namespace`` for each pool key."""
        return self.min_idle_per_namespace.get(namespace, self.min_idle)

    def image_for(self, backend: ImageBackend) -> str:
        """The image to run for ``backend`` when the shell does not name one."""
        return self.images.get(backend.name, backend.default_image)


# --------------------------------------------------------------------------------------------
# The cluster as backends and the planner see it
# --------------------------------------------------------------------------------------------


@runtime_checkable
class ClusterView(Protocol):
    """A read-only view of the cluster (the runtime's caches). Never mutate what it returns."""

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Manifest | None:
        """The object, or None when it does not exist (or its kind is not served)."""
        ...

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: Mapping[str, str] | None = None,
    ) -> Sequence[Manifest]:
        """Objects of a kind, in one namespace (or all when None), whose labels match exactly."""
        ...

    def has_api(self, api_version: str, kind: str) -> bool:
        """Whether the cluster serves this kind (e.g. whether the Istio CRDs are installed)."""
        ...


BUILTIN_APIS: frozenset[tuple[str, str]] = frozenset(
    {
        ("v1", "Pod"),
        ("v1", "Service"),
        ("v1", "Secret"),
        ("v1", "ConfigMap"),
        ("v1", "ServiceAccount"),
        ("v1", "Node"),
        ("v1", "Namespace"),
        ("v1", "Event"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("networking.k8s.io/v1", "Ingress"),
        ("networking.k8s.io/v1", "IngressClass"),
        ("coordination.k8s.io/v1", "Lease"),
        ("cloudshell.cloudtty.io/v1alpha1", "CloudShell"),
    }
)
"""Kinds every cluster serves (plus the CloudShell CRD, which the operator installs)."""


def _labels_match(manifest: Mapping[str, Any], selector: Mapping[str, str] | None) -> bool:
    if not selector:
        return True
    labels = (manifest.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def copy_json(value: _T) -> _T:
    """A deep copy of JSON-like data (dicts, lists, scalars) -- much faster than deepcopy."""
    return cast(_T, _copy(value))


_IMMUTABLE_JSON = frozenset({str, int, float, bool, type(None)})
"""JSON's scalar types, exactly (subclasses take the ``isinstance`` path)."""


def _copy(value: Any) -> Any:
    # Exact types first, and scalars kept without a call: this runs for every value of every
    # object a plan builds, and plain dicts, lists and strings are nearly all of them.
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _IMMUTABLE_JSON else _copy(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _IMMUTABLE_JSON else _copy(v) for v in value]
    if kind in _IMMUTABLE_JSON:
        return value
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, str | int | float | bool | None):
        return value
    return copy.deepcopy(value)


def _index(objects: Mapping[ObjectRef, Manifest]) -> dict[tuple[str, str], list[ObjectRef]]:
    index: dict[tuple[str, str], list[ObjectRef]] = {}
    for ref in sorted(objects):
        index.setdefault((ref.api_version, ref.kind), []).append(ref)
    return index


@attrs.frozen
class Snapshot:
    """An immutable, in-memory :class:`ClusterView`: for tests, ``cloudtty render`` and embedders.

    Objects are stored as given; ``get``/``list`` hand out copies so a careless caller cannot
    change the snapshot. ``apis`` are the kinds served; a kind is also served when the snapshot
    holds an object of it.
    """

    objects: Mapping[ObjectRef, Manifest] = attrs.field(factory=dict)
    apis: frozenset[tuple[str, str]] = BUILTIN_APIS
    _by_kind: dict[tuple[str, str], list[ObjectRef]] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_by_kind", _index(self.objects))

    @classmethod
    def of(cls, *manifests: Manifest, apis: Iterable[tuple[str, str]] = BUILTIN_APIS) -> Snapshot:
        """A snapshot holding ``manifests`` and serving ``apis``."""
        return cls({ObjectRef.of(m): copy_json(m) for m in manifests}, frozenset(apis))

    @classmethod
    def with_default_node(cls, *manifests: Manifest, address: str = "127.0.0.1") -> Snapshot:
        """A snapshot with one Ready node whose ExternalIP is ``address``, plus ``manifests``."""
        node: Manifest = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
            "status": {
                "addresses": [
                    {"type": "ExternalIP", "address": address},
                    {"type": "InternalIP", "address": address},
                    {"type": "Hostname", "address": "node-1"},
                ],
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
        return cls.of(node, *manifests)

    # ClusterView ---------------------------------------------------------------------------

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Manifest | None:
        """See :meth:`ClusterView.get`."""
        found = self.objects.get(ObjectRef(api_version, kind, namespace or None, name))
        return copy_json(found) if found is not None else None

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: Mapping[str, str] | None = None,
    ) -> Sequence[Manifest]:
        """See :meth:`ClusterView.list`; results are sorted by namespace and name."""
        return [
            copy_json(self.objects[ref])
            for ref in self._by_kind.get((api_version, kind), ())
            if (namespace is None or ref.namespace == namespace)
            and _labels_match(self.objects[ref], label_selector)
        ]

    def has_api(self, api_version: str, kind: str) -> bool:
        """See :meth:`ClusterView.has_api`."""
        return (api_version, kind) in self.apis or (api_version, kind) in self._by_kind

    # Building new snapshots ----------------------------------------------------------------

    def put(self, *manifests: Manifest) -> Snapshot:
        """A new snapshot with ``manifests`` added or replaced (as given, no API defaults)."""
        objects = dict(self.objects)
        for m in manifests:
            objects[ObjectRef.of(m)] = copy_json(m)
        return attrs.evolve(self, objects=objects)

    def remove(self, *refs: ObjectRef) -> Snapshot:
        """A new snapshot without the objects ``refs`` name (missing ones are ignored)."""
        objects = dict(self.objects)
        for ref in refs:
            objects.pop(ref, None)
        return attrs.evolve(self, objects=objects)

    def with_apis(self, *apis: tuple[str, str]) -> Snapshot:
        """A new snapshot that also serves ``apis`` (e.g. a CRD was installed)."""
        return attrs.evolve(self, apis=self.apis | frozenset(apis))

    def __iter__(self) -> Iterator[Manifest]:
        for refs in self._by_kind.values():
            for ref in refs:
                yield copy_json(self.objects[ref])

    def __len__(self) -> int:
        return len(self.objects)


# --------------------------------------------------------------------------------------------
# Exposure
# --------------------------------------------------------------------------------------------


@attrs.frozen
class WorkerRef:
    """The terminal pod a shell is bound to, as an exposure backend needs it.

    ``labels`` select exactly this shell's worker (a Service's ``spec.selector``); they stay
    the same when the shell is re-bound to another worker, so the Service never changes.
    """

    name: str
    namespace: str
    port: int
    service_name: str
    labels: Mapping[str, str] = attrs.field(converter=_frozen_str_map)


@attrs.frozen
class ExposureRequest:
    """What an exposure backend is given for one shell."""

    shell: CloudShell
    worker: WorkerRef
    cluster: ClusterView
    settings: OperatorSettings


@attrs.frozen
class Waiting:
    """Why something cannot be ready yet: ``reason`` is CamelCase (a condition reason).

    ``transient`` marks states that resolve by themselves in a moment (a port being allocated,
    a load balancer being provisioned): they show in the condition but record no Warning event.
    """

    reason: str
    message: str
    transient: bool = False


@attrs.frozen
class Exposure:
    """What an exposure backend wants for one shell.

    Attributes:
        owned: objects the shell owns (its Service, a per-shell Ingress/VirtualService). The
            planner adds ownerReferences and the operator's labels; give only the fields you
            care about (server-filled fields such as ``clusterIP`` are left to the server).
        shared: full updated copies of shared objects (a shared Ingress with this shell's path
            added), carrying ``metadata.resourceVersion`` of the observed object for optimistic
            concurrency (none when the object does not exist yet) -- only when they differ from
            what is observed, so that re-planning is idempotent.
        url: the access URL, once the observed objects allow it (e.g. the NodePort is known).
        waiting: why there is no URL yet, when that is worth a condition (no Ready node,
            IngressClass missing, VirtualService CRD missing, ...).
        base_path: the path the terminal server serves under (the route forwards it unchanged).
    """

    owned: tuple[Manifest, ...] = ()
    shared: tuple[Manifest, ...] = ()
    url: str | None = None
    waiting: Waiting | None = None
    base_path: str = "/"


@runtime_checkable
class ExposureBackend(Protocol):
    """Makes a shell's worker reachable. Registered under ``name``, the ``exposureMode`` value."""

    @property
    def name(self) -> str:
        """The ``spec.exposureMode`` this backend serves, e.g. ``"NodePort"``."""
        ...

    @property
    def watched_kinds(self) -> tuple[KindRef, ...]:
        """Kinds beyond Pods, Services and Secrets the runtime must observe for this backend."""
        ...

    def expose(self, request: ExposureRequest) -> Exposure:
        """The objects and URL for the shell, given what the cluster view shows now. Pure."""
        ...

    def release(self, request: ExposureRequest) -> tuple[Manifest, ...]:
        """Updated copies of SHARED objects with this shell's entries removed (empty if none)."""
        ...


SHELL_PATH_PREFIX = "/apis/v1alpha1/cloudshell"
"""CloudTTY's fixed path segment of a routed shell, kept so existing links and proxy rules keep
working."""


def shell_path(shell: CloudShell) -> str:
    """The path a route (Ingress, VirtualService) serves a shell at, as CloudTTY builds it:
    ``<pathPrefix>/apis/v1alpha1/cloudshell/<name>[/<pathSuffix>]``, without a trailing slash
    and without repeated slashes (invalid in an Ingress path of type Prefix). The terminal
    serves under this path, so a route forwards it unchanged."""
    prefix = (shell.spec.path_prefix or "").rstrip("/")
    parts = [f"{prefix}{SHELL_PATH_PREFIX}", shell.name]
    suffix = (shell.spec.path_suffix or "").strip("/")
    if suffix:
        parts.append(suffix)
    return re.sub(r"/{2,}", "/", "/".join(parts))


def worker_service(worker: WorkerRef, service_type: str = "ClusterIP") -> Manifest:
    """The Service in front of ``worker``: the usual owned object of an exposure backend."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": worker.service_name, "namespace": worker.namespace},
        "spec": {
            "type": service_type,
            "selector": dict(worker.labels),
            "ports": [
                {"name": "http", "port": worker.port, "targetPort": worker.port, "protocol": "TCP"}
            ],
        },
    }


# --------------------------------------------------------------------------------------------
# Auth
# --------------------------------------------------------------------------------------------


@attrs.frozen
class AuthRequest:
    """What an auth backend is given for one shell."""

    shell: CloudShell
    settings: OperatorSettings


@attrs.frozen
class AuthSetup:
    """What the terminal server enforces for a shell -- nothing secret in here.

    Attributes:
        mode: the auth mode the server runs (``"none"``, ``"basic"``, ``"token"``, ``"header"``).
        params: non-secret parameters, JSON-able (allowedUsers, userHeader, ...).
        secret_refs: Secret keys holding credential material the server needs; the planner
            waits (condition naming the Secret) until they all exist.
        token_param: when set, the planner generates a random per-shell token, keeps it in a
            Secret the shell owns, and the login URL is ``<accessUrl>?<token_param>=<token>``.
    """

    mode: str
    params: Mapping[str, Any] = attrs.field(factory=dict)
    secret_refs: tuple[SecretKeyRef, ...] = ()
    token_param: str | None = None


@attrs.frozen
class AuthMaterial:
    """Secret values an auth backend turns into a session's ``auth`` object. Never logged."""

    secrets: Mapping[SecretKeyRef, str] = attrs.field(factory=dict, repr=False)
    token: str | None = attrs.field(default=None, repr=False)


@runtime_checkable
class AuthBackend(Protocol):
    """Says how the terminal server authenticates users. Registered under ``name`` (auth.mode)."""

    @property
    def name(self) -> str:
        """The ``spec.auth.mode`` this backend serves, e.g. ``"token"``."""
        ...

    def configure(self, request: AuthRequest) -> AuthSetup:
        """What the server must enforce for the shell. Pure; reads no secrets."""
        ...

    def session_auth(self, setup: AuthSetup, material: AuthMaterial) -> Mapping[str, Any]:
        """The ``auth`` object of a warm worker's ``session.json`` (hashes, never plain secrets
        where a hash will do), from ``setup`` and the values of its Secrets / the token."""
        ...


# --------------------------------------------------------------------------------------------
# Image
# --------------------------------------------------------------------------------------------


@attrs.frozen
class PoolKey:
    """The warm pool a worker belongs to: workers are interchangeable only within one key."""

    namespace: str
    image_backend: str
    image: str

    @property
    def hash(self) -> str:
        """A short stable label value for this key (``cloudtty.io/pool``)."""
        return _pool_hash(self.namespace, self.image_backend, self.image)


@functools.lru_cache(maxsize=1024)
def _pool_hash(namespace: str, image_backend: str, image: str) -> str:
    # Read for every pool worker a pass looks at; a process serves a handful of pools.
    text = f"{namespace}\0{image_backend}\0{image}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@attrs.frozen
class WorkerRequest:
    """What an image backend is given to describe an idle warm worker (no session yet).

    The planner sets the pod's name (or generateName), namespace, labels and ownerReferences.
    """

    pool: PoolKey
    settings: OperatorSettings


@attrs.frozen
class ColdPodRequest:
    """What an image backend is given to describe a pod serving exactly one shell.

    The kubeconfig is mounted read-only from ``kubeconfig``; ``auth`` names the Secrets holding
    credential material. The planner sets name, namespace, labels and ownerReferences.
    """

    shell: CloudShell
    image: str
    port: int
    kubeconfig: KubeconfigSource
    auth: AuthSetup
    base_path: str
    command: tuple[str, ...]
    settings: OperatorSettings


@attrs.frozen
class SessionRequest:
    """What an image backend is given to build the Secret delivering a session to a worker.

    The Secret must be named ``secret_name`` (``<pod-name>-session``) with key ``session.json``
    (see the worker contract). Secret values are excluded from ``repr``.
    """

    shell: CloudShell
    worker: WorkerRef
    secret_name: str
    kubeconfig: str = attrs.field(repr=False)
    command: tuple[str, ...]
    auth: Mapping[str, Any] = attrs.field(repr=False)
    base_path: str
    expires_at: datetime | None
    settings: OperatorSettings


@runtime_checkable
class ImageBackend(Protocol):
    """Describes the terminal pod. Registered under ``name`` (``spec.imageBackend``)."""

    @property
    def name(self) -> str:
        """The ``spec.imageBackend`` this backend serves, e.g. ``"webterm"``."""
        ...

    @property
    def default_image(self) -> str:
        """The image used when neither the shell nor the operator settings name one."""
        ...

    @property
    def port(self) -> int:
        """The container port the terminal server listens on."""
        ...

    @property
    def supports_warm_pool(self) -> bool:
        """Whether idle workers can be started before a shell exists and given a session later."""
        ...

    @property
    def supported_auth(self) -> frozenset[str]:
        """The auth modes this image's terminal server can enforce."""
        ...

    def worker_pod(self, request: WorkerRequest) -> Manifest:
        """An idle warm worker pod (only called when ``supports_warm_pool``)."""
        ...

    def cold_pod(self, request: ColdPodRequest) -> Manifest:
        """A pod for one shell, configured from files (only when not ``supports_warm_pool``)."""
        ...

    def session(self, request: SessionRequest) -> Manifest:
        """The Secret that hands a claimed warm worker its session."""
        ...


def shell_command(shell: CloudShell) -> tuple[str, ...]:
    """The command a shell's terminal runs, from ``spec.commandAction`` (default ``bash``).

    Shell syntax (pipes, ``&&``) or unbalanced quotes run through ``bash -c``.
    """
    return _command_of((shell.spec.command_action or "bash").strip() or "bash")


@functools.lru_cache(maxsize=1024)
def _command_of(action: str) -> tuple[str, ...]:
    # Every planning pass asks, and most shells run the same few commands: a tokenizer per
    # pass cost more than the rest of building a session.
    if any(c in action for c in "|&;<>()$`\\*?[]{}~\n"):
        return ("bash", "-c", action)
    try:
        return tuple(shlex.split(action))
    except ValueError:
        return ("bash", "-c", action)


def decode_secret_value(secret: Mapping[str, Any], key: str) -> str | None:
    """The text of ``key`` in an observed Secret (``data`` is base64; ``stringData`` as written)."""
    string_data = secret.get("stringData") or {}
    if key in string_data:
        return str(string_data[key])
    data = secret.get("data") or {}
    if key not in data:
        return None
    try:
        return base64.b64decode(str(data[key]), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
