"""The operator's configuration: what the planner needs (:class:`~cloudtty_core.OperatorSettings`)
plus the runtime's own knobs, and the command-line flags that set them.

``cloudtty run`` builds its parser with :func:`add_arguments` (plus the CLI's plugin options
``--block``/``--no-autoload``/``--strict``) and turns the parsed arguments into a
:class:`RuntimeConfig` with :func:`config_from_args`; embedders build a :class:`RuntimeConfig`
directly.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from cloudtty_core.backends import OperatorSettings

__all__ = [
    "EVENTS_APIS",
    "RuntimeConfig",
    "add_arguments",
    "config_from_args",
    "parse_pairs",
]

EVENTS_APIS = ("auto", "events.k8s.io/v1", "v1")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("json", "text")


def _at_least(minimum: int) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and value < minimum:
            raise ValueError(f"{attribute.name} must be at least {minimum}, got {value}")

    return check


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _optional_names(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return tuple(value) if value is not None else None


@attrs.frozen
class RuntimeConfig:
    """Everything the operator runtime is configured with.

    Connection:
        kubeconfig / context: the cluster to use (default: in the cluster when
        ``KUBERNETES_SERVICE_HOST`` is set, else ``$KUBECONFIG`` / ``~/.kube/config``).
        in_cluster: force the pod's ServiceAccount.

    Scope and concurrency:
        namespace: watch and reconcile only this namespace (None: all namespaces).
        workers: keys reconciled at the same time (never two on one key).
        api_concurrency: API requests in flight at most.
        backoff_base / backoff_cap: per-key retry delays after a failure (seconds).
        watch_timeout: seconds after which the API server ends a watch (it is resumed).

    Planner and pool:
        settings: what the planner and backends read (ClusterRole, node address, min idle...).
        pool_namespaces: namespaces whose warm pools are filled before any shell asks (pools
            of namespaces where shells appear are kept filled from then on). Default: the
            namespaces of ``settings.min_idle_per_namespace`` and the watched namespace.

    Plugins:
        blocked_plugins / autoload / strict_plugins: as :func:`~cloudtty_core.load_plugins`.

    Other:
        events_api: ``auto``, ``events.k8s.io/v1`` or ``v1``.
        install_crd: create (or update) the CloudShell CRD at start.
        leader_election / lease_name / lease_namespace / identity: one active replica;
            lease_duration / renew_deadline / retry_period: client-go's timing (15/10/2 s);
            release_lease: give the Lease up on a graceful stop (a standby takes over at once).
        metrics_port / metrics_host: where /metrics, /healthz and /readyz are served
            (``metrics_port=None``: not served).
        log_level / log_format: logging.
    """

    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    namespace: str | None = None
    workers: int = attrs.field(default=8, validator=_at_least(1))
    api_concurrency: int = attrs.field(default=16, validator=_at_least(1))
    backoff_base: float = attrs.field(default=0.005, validator=_positive)
    backoff_cap: float = attrs.field(default=60.0, validator=_positive)
    watch_timeout: int = attrs.field(default=300, validator=_at_least(1))
    settings: OperatorSettings = attrs.field(factory=OperatorSettings)
    pool_namespaces: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_names)
    blocked_plugins: tuple[str, ...] = attrs.field(default=(), converter=_names)
    autoload: bool = True
    strict_plugins: bool = False
    events_api: str = attrs.field(default="auto")
    install_crd: bool = False
    leader_election: bool = False
    lease_name: str = "cloudtty-operator"
    lease_namespace: str | None = None
    identity: str | None = None
    lease_duration: float = attrs.field(default=15.0, validator=_positive)
    renew_deadline: float = attrs.field(default=10.0, validator=_positive)
    retry_period: float = attrs.field(default=2.0, validator=_positive)
    release_lease: bool = True
    metrics_port: int | None = attrs.field(default=8080, validator=_at_least(0))
    metrics_host: str = "0.0.0.0"
    log_level: str = "info"
    log_format: str = "json"

    def __attrs_post_init__(self) -> None:
        if self.events_api not in EVENTS_APIS:
            raise ValueError(f"events_api must be one of {', '.join(EVENTS_APIS)}")
        if self.backoff_cap < self.backoff_base:
            raise ValueError("backoff_cap must not be smaller than backoff_base")
        if self.log_level.lower() not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"log_format must be one of {', '.join(LOG_FORMATS)}")

    def effective_pool_namespaces(self) -> tuple[str, ...]:
        """The namespaces whose pools are filled at start."""
        if self.pool_namespaces is not None:
            return self.pool_namespaces
        found = [ns for ns, n in self.settings.min_idle_per_namespace.items() if n > 0]
        if self.namespace is not None and self.namespace not in found:
            found.append(self.namespace)
        return tuple(found)

    def effective_lease_namespace(self) -> str:
        """Where the leader-election Lease lives (the watched namespace, else ``default``)."""
        return self.lease_namespace or self.namespace or "default"


# --------------------------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------------------------


def parse_pairs(values: Iterable[str], what: str, convert: Any = str) -> dict[str, Any]:
    """``["a=1", "b=2"]`` as ``{"a": convert("1"), ...}``; a clear error naming ``what``."""
    out: dict[str, Any] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what}: expected KEY=VALUE, got {value!r}")
        try:
            out[key.strip()] = convert(raw.strip())
        except ValueError:
            raise ValueError(f"{what}: bad value in {value!r}") from None
    return out


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the operator's flags to ``parser`` (plugin options come from the CLI)."""
    defaults = RuntimeConfig()
    settings = defaults.settings
    conn = parser.add_argument_group("cluster connection")
    conn.add_argument(
        "--kubeconfig", default=_env("KUBECONFIG"), help="kubeconfig file (default: $KUBECONFIG)"
    )
    conn.add_argument("--context", help="kubeconfig context (default: the current one)")
    conn.add_argument(
        "--in-cluster", action="store_true", help="use the pod's ServiceAccount (in a cluster)"
    )
    scope = parser.add_argument_group("scope and concurrency")
    scope.add_argument(
        "--namespace",
        default=_env("CLOUDTTY_NAMESPACE"),
        help="watch only this namespace (default: all; also CLOUDTTY_NAMESPACE)",
    )
    scope.add_argument(
        "--workers",
        type=int,
        default=defaults.workers,
        help=f"shells reconciled at the same time (default {defaults.workers})",
    )
    scope.add_argument(
        "--api-concurrency",
        type=int,
        default=defaults.api_concurrency,
        help=f"API requests in flight at most (default {defaults.api_concurrency})",
    )
    scope.add_argument(
        "--watch-timeout",
        type=int,
        default=defaults.watch_timeout,
        help=f"seconds before a watch is renewed (default {defaults.watch_timeout})",
    )
    shells = parser.add_argument_group("shells")
    shells.add_argument(
        "--cluster-role",
        default=settings.cluster_role,
        help="ClusterRole bound to each shell's own ServiceAccount "
        f"(default {settings.cluster_role!r})",
    )
    shells.add_argument(
        "--cluster-server",
        default=settings.cluster_server,
        help=f"API server URL in generated kubeconfigs (default {settings.cluster_server})",
    )
    shells.add_argument(
        "--node-address", help="host name or address for NodePort URLs (default: a Ready node's)"
    )
    shells.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="BACKEND=IMAGE",
        help="image of an image backend (repeatable)",
    )
    shells.add_argument(
        "--default-token-seconds",
        type=int,
        default=settings.default_token_seconds,
        help="lifetime of generated credentials of shells without a ttl "
        f"(default {settings.default_token_seconds})",
    )
    shells.add_argument(
        "--finalize-always",
        action=argparse.BooleanOptionalAction,
        default=settings.always_finalize,
        help="put the finalizer on every shell, not only on those with shared routes (default off)",
    )
    shells.add_argument(
        "--events-api",
        choices=EVENTS_APIS,
        default=defaults.events_api,
        help="API for Kubernetes Events (default: auto)",
    )
    shells.add_argument(
        "--install-crd", action="store_true", help="create or update the CloudShell CRD at start"
    )
    pool = parser.add_argument_group("warm pool")
    pool.add_argument(
        "--min-idle",
        type=int,
        default=settings.min_idle,
        help=f"idle warm workers per pool (default {settings.min_idle})",
    )
    pool.add_argument(
        "--min-idle-namespace",
        action="append",
        default=[],
        metavar="NAMESPACE=N",
        help="idle warm workers per pool in one namespace (repeatable)",
    )
    pool.add_argument(
        "--pool-namespace",
        action="append",
        default=None,
        metavar="NAMESPACE",
        help="fill the pools of this namespace at start (repeatable; default: the namespaces "
        "of --min-idle-namespace and --namespace)",
    )
    election = parser.add_argument_group("leader election")
    election.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=defaults.leader_election,
        help="run one active replica, the others standing by (default off)",
    )
    election.add_argument("--lease-name", default=defaults.lease_name, help="Lease name")
    election.add_argument(
        "--lease-namespace", help="Lease namespace (default: --namespace, else default)"
    )
    election.add_argument("--identity", help="holder identity (default: host name + uuid)")
    election.add_argument(
        "--lease-duration",
        type=float,
        default=defaults.lease_duration,
        help="seconds a standby waits before taking over a Lease that is not renewed",
    )
    election.add_argument(
        "--renew-deadline",
        type=float,
        default=defaults.renew_deadline,
        help="seconds the leader keeps trying to renew before it steps down",
    )
    election.add_argument(
        "--retry-period",
        type=float,
        default=defaults.retry_period,
        help="seconds between attempts to acquire or renew the Lease",
    )
    obs = parser.add_argument_group("observability")
    obs.add_argument(
        "--metrics-port",
        type=int,
        default=defaults.metrics_port,
        help="port of /metrics, /healthz, /readyz (0: any free port; default 8080)",
    )
    obs.add_argument("--no-metrics", action="store_true", help="serve no metrics or probes")
    obs.add_argument("--metrics-host", default=defaults.metrics_host, help="address to bind")
    obs.add_argument("--log-level", choices=LOG_LEVELS, default=defaults.log_level)
    obs.add_argument("--log-format", choices=LOG_FORMATS, default=defaults.log_format)


def config_from_args(args: argparse.Namespace) -> RuntimeConfig:
    """The :class:`RuntimeConfig` the parsed flags describe (a ``ValueError`` names the flag).

    Reads the CLI's plugin options ``block``, ``no_autoload`` and ``strict`` when present.
    """
    min_idle_ns = parse_pairs(args.min_idle_namespace, "--min-idle-namespace", int)
    images = parse_pairs(args.image, "--image")
    settings = OperatorSettings(
        node_address=args.node_address,
        cluster_role=args.cluster_role,
        cluster_server=args.cluster_server,
        min_idle=args.min_idle,
        min_idle_per_namespace=min_idle_ns,
        images=images,
        default_token_seconds=args.default_token_seconds,
        always_finalize=args.finalize_always,
    )
    if settings.min_idle < 0 or any(n < 0 for n in min_idle_ns.values()):
        raise ValueError("--min-idle and --min-idle-namespace must not be negative")
    blocked: Sequence[str] = getattr(args, "block", None) or ()
    return RuntimeConfig(
        kubeconfig=args.kubeconfig,
        context=args.context,
        in_cluster=args.in_cluster,
        namespace=args.namespace,
        workers=args.workers,
        api_concurrency=args.api_concurrency,
        watch_timeout=args.watch_timeout,
        settings=settings,
        pool_namespaces=args.pool_namespace,
        blocked_plugins=tuple(blocked),
        autoload=not getattr(args, "no_autoload", False),
        strict_plugins=bool(getattr(args, "strict", False)),
        events_api=args.events_api,
        install_crd=args.install_crd,
        leader_election=args.leader_elect,
        lease_name=args.lease_name,
        lease_namespace=args.lease_namespace,
        identity=args.identity,
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
        metrics_port=None if args.no_metrics else args.metrics_port,
        metrics_host=args.metrics_host,
        log_level=args.log_level,
        log_format=args.log_format,
    )


def settings_summary(config: RuntimeConfig) -> Mapping[str, Any]:
    """The configuration as a log-friendly mapping (it holds no secret)."""
    return {
        "namespace": config.namespace or "(all)",
        "workers": config.workers,
        "apiConcurrency": config.api_concurrency,
        "minIdle": config.settings.min_idle,
        "poolNamespaces": list(config.effective_pool_namespaces()),
        "clusterRole": config.settings.cluster_role,
        "leaderElection": config.leader_election,
    }
