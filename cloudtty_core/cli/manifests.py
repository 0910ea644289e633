"""``cloudtty manifests``: everything the operator needs in a cluster, without Helm.

Prints the same objects as the Helm chart in ``deploy/helm/cloudtty`` rendered with the same
values: the CloudShell CRD, the operator's ServiceAccount, ClusterRole and binding, the
leader-election Role, the operator Deployment and its metrics Service. Terminal pods need
nothing installed beforehand: the operator gives each one a ServiceAccount, Role and
RoleBinding of its own. ``cloudtty manifests | kubectl apply -f -``
installs the operator. A test renders the chart and compares, so the two never drift apart.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from cloudtty_core.cli.errors import CliError
from cloudtty_core.crd import crd_manifest
from cloudtty_core.model import GROUP, PLURAL, Manifest

__all__ = [
    "CHART_VERSION",
    "INSTALL_ORDER",
    "DeployValues",
    "build_manifests",
    "chart_crd_template",
    "leader_election_rules",
    "operator_rules",
]

#: The chart's version and appVersion (deploy/helm/cloudtty/Chart.yaml).
CHART_VERSION = "0.1.0"
CHART_NAME = "cloudtty"

_RBAC = "rbac.authorization.k8s.io"
#: The Events API the operator is told to use (its ClusterRole allows that one).
EVENTS_API = "events.k8s.io/v1"
_CRD_KEEP_ANNOTATION = "helm.sh/resource-policy"


def _rule(group: str, resource: str, verbs: Sequence[str], names: Sequence[str] = ()) -> Manifest:
    rule: Manifest = {"apiGroups": [group], "resources": [resource], "verbs": list(verbs)}
    if names:
        rule["resourceNames"] = list(names)
    return rule


def operator_rules(cluster_role: str) -> list[Manifest]:
    """The operator's ClusterRole rules: exactly what the runtime does, no wildcard.

    ``bind`` is granted on ``cluster_role`` alone: the ClusterRole given to per-shell
    ServiceAccounts is the only one the operator can hand out. The Roles it writes itself --
    one per terminal pod, reading that pod's session Secret -- grant nothing it does not hold:
    the API server refuses to let anyone create a Role with rights they lack (no ``escalate``
    here), which is why the operator reads Secrets itself.
    """
    # The operator reads through list+watch caches, never with single gets -- except a
    # Secret it takes over (credentials.py). Every object it made is repaired (updated) when
    # someone changes it.
    cached = ("list", "watch")
    owned = (*cached, "create", "update", "delete")
    return [
        _rule(GROUP, PLURAL, (*cached, "patch", "delete")),
        _rule(GROUP, f"{PLURAL}/status", ("update",)),
        _rule(GROUP, f"{PLURAL}/finalizers", ("update",)),
        # Pods are made and deleted, never written: a claim writes the worker's session Secret.
        _rule("", "pods", (*cached, "create", "delete")),
        _rule("", "services", owned),
        _rule("", "secrets", ("get", *owned)),
        _rule("", "configmaps", cached),
        _rule("", "serviceaccounts", owned),
        _rule("", "serviceaccounts/token", ("create",)),
        _rule(_RBAC, "roles", owned),
        _rule(_RBAC, "rolebindings", owned),
        _rule(_RBAC, "clusterroles", ("bind",), (cluster_role,)),
        _rule("events.k8s.io", "events", ("create", "patch")),
        _rule("", "nodes", cached),
        _rule("networking.k8s.io", "ingresses", owned),
        _rule("networking.k8s.io", "ingressclasses", cached),
        _rule("networking.istio.io", "virtualservices", owned),
        _rule("networking.istio.io", "gateways", cached),
        _rule("apiextensions.k8s.io", "customresourcedefinitions", cached),
    ]


def leader_election_rules() -> list[Manifest]:
    """The leader-election Role's rules (the release namespace only)."""
    return [_rule("coordination.k8s.io", "leases", ("get", "create", "update"))]


#: Helm's install order of kinds (what depends on others comes later); others go last.
INSTALL_ORDER: tuple[str, ...] = (
    "Namespace",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "Deployment",
)


def _str_map(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return dict(sorted((value or {}).items()))


def _int_map(value: Mapping[str, int] | None) -> Mapping[str, int]:
    return dict(sorted((value or {}).items()))


def _default_resources() -> Manifest:
    return {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}


@attrs.frozen
class DeployValues:
    """The chart's values (``deploy/helm/cloudtty/values.yaml``), with the same defaults."""

    namespace: str = "cloudtty-system"
    release: str = CHART_NAME
    image_repository: str = "ghcr.io/cloudtty-py/operator"
    image_tag: str = ""
    image_pull_policy: str = "IfNotPresent"
    replicas: int = 1
    install_crd: bool = True
    keep_crd: bool = True
    log_level: str = "info"
    metrics_port: int = 8080
    cluster_role: str = "view"
    cluster_server: str = "https://kubernetes.default.svc"
    node_address: str = ""
    workers: int = 8
    extra_args: tuple[str, ...] = ()
    blocked_plugins: tuple[str, ...] = ()
    strict_plugins: bool = False
    min_idle: int = 1
    min_idle_per_namespace: Mapping[str, int] = attrs.field(factory=dict, converter=_int_map)
    worker_images: Mapping[str, str] = attrs.field(factory=dict, converter=_str_map)
    worker_namespaces: tuple[str, ...] = ("default",)
    leader_election: bool = True
    lease_name: str = "cloudtty-operator"
    resources: Manifest = attrs.field(factory=_default_resources)
    metrics_service: bool = True
    create_namespace: bool = False

    @property
    def fullname(self) -> str:
        """The release's base name, as the chart's ``cloudtty.fullname`` computes it."""
        name = self.release if CHART_NAME in self.release else f"{self.release}-{CHART_NAME}"
        return name[:52].rstrip("-")

    @property
    def operator_name(self) -> str:
        """Name of the Deployment, ServiceAccount, ClusterRole and ClusterRoleBinding."""
        return f"{self.fullname}-operator"

    @property
    def image(self) -> str:
        """The operator image with its tag (the chart's appVersion by default)."""
        return f"{self.image_repository}:{self.image_tag or CHART_VERSION}"

    def all_worker_namespaces(self) -> list[str]:
        """Namespaces whose warm pools are filled at start: listed ones and those with a
        pool size of their own."""
        return sorted({*self.worker_namespaces, *self.min_idle_per_namespace})


def _labels(values: DeployValues, component: str | None = None) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/name": CHART_NAME,
        "app.kubernetes.io/instance": values.release,
        "app.kubernetes.io/version": CHART_VERSION,
    }
    if component:
        labels["app.kubernetes.io/component"] = component
    return labels


def _selector(values: DeployValues) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": CHART_NAME,
        "app.kubernetes.io/instance": values.release,
        "app.kubernetes.io/component": "operator",
    }


def _meta(values: DeployValues, name: str, namespace: str | None, **extra: Any) -> Manifest:
    meta: Manifest = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = _labels(values, extra.pop("component", None))
    meta.update(extra)
    return meta


def _crd(values: DeployValues) -> Manifest:
    crd = crd_manifest()
    crd["metadata"] = {**crd["metadata"], "labels": _labels(values)}
    if values.keep_crd:
        crd["metadata"]["annotations"] = {_CRD_KEEP_ANNOTATION: "keep"}
    return crd


def _subject(values: DeployValues) -> Manifest:
    return {"kind": "ServiceAccount", "name": values.operator_name, "namespace": values.namespace}


def _operator_rbac(values: DeployValues) -> list[Manifest]:
    name = values.operator_name
    objects: list[Manifest] = [
        {
            "apiVersion": f"{_RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": _meta(values, name, None),
            "rules": operator_rules(values.cluster_role),
        },
        {
            "apiVersion": f"{_RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(values, name, None),
            "roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": name},
            "subjects": [_subject(values)],
        },
    ]
    if values.leader_election:
        role = f"{values.fullname}-leader-election"
        objects += [
            {
                "apiVersion": f"{_RBAC}/v1",
                "kind": "Role",
                "metadata": _meta(values, role, values.namespace),
                "rules": leader_election_rules(),
            },
            {
                "apiVersion": f"{_RBAC}/v1",
                "kind": "RoleBinding",
                "metadata": _meta(values, role, values.namespace),
                "roleRef": {"apiGroup": _RBAC, "kind": "Role", "name": role},
                "subjects": [_subject(values)],
            },
        ]
    return objects


def operator_args(values: DeployValues) -> list[str]:
    """The operator container's arguments: ``cloudtty run`` and its flags."""
    args = [
        "run",
        "--in-cluster",
        f"--log-level={values.log_level}",
        f"--metrics-port={values.metrics_port}",
        f"--workers={values.workers}",
        # Pinned so that the ClusterRole's events rule is the one the operator uses.
        f"--events-api={EVENTS_API}",
        f"--cluster-role={values.cluster_role}",
        f"--cluster-server={values.cluster_server}",
    ]
    if values.node_address:
        args.append(f"--node-address={values.node_address}")
    args += [f"--image={backend}={image}" for backend, image in values.worker_images.items()]
    args.append(f"--min-idle={values.min_idle}")
    args += [f"--min-idle-namespace={ns}={n}" for ns, n in values.min_idle_per_namespace.items()]
    args += [f"--pool-namespace={ns}" for ns in values.all_worker_namespaces()]
    if values.leader_election:
        args += [
            "--leader-elect",
            f"--lease-name={values.lease_name}",
            f"--lease-namespace={values.namespace}",
            "--identity=$(POD_NAME)",
        ]
    else:
        args.append("--no-leader-elect")
    args += [f"--block={name}" for name in values.blocked_plugins]
    if values.strict_plugins:
        args.append("--strict")
    args += values.extra_args
    return args


def _deployment(values: DeployValues) -> Manifest:
    restricted = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    field_env = [
        {"name": env, "valueFrom": {"fieldRef": {"fieldPath": f"metadata.{field}"}}}
        for env, field in (("POD_NAME", "name"), ("POD_NAMESPACE", "namespace"))
    ]
    container: Manifest = {
        "name": "operator",
        "image": values.image,
        "imagePullPolicy": values.image_pull_policy,
        "args": operator_args(values),
        "env": field_env,
        "ports": [{"name": "metrics", "containerPort": values.metrics_port, "protocol": "TCP"}],
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "metrics"},
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "metrics"},
            "periodSeconds": 5,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "resources": values.resources,
        "securityContext": restricted,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(values, values.operator_name, values.namespace, component="operator"),
        "spec": {
            "replicas": values.replicas,
            "selector": {"matchLabels": _selector(values)},
            "template": {
                "metadata": {"labels": _selector(values)},
                "spec": {
                    "serviceAccountName": values.operator_name,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }


def _metrics_service(values: DeployValues) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(
            values, f"{values.operator_name}-metrics", values.namespace, component="operator"
        ),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(values),
            "ports": [
                {
                    "name": "metrics",
                    "port": values.metrics_port,
                    "targetPort": "metrics",
                    "protocol": "TCP",
                }
            ],
        },
    }


def build_manifests(values: DeployValues | None = None) -> list[Manifest]:
    """Every object of an installation, in the order ``kubectl apply`` should create them."""
    values = values or DeployValues()
    objects: list[Manifest] = []
    if values.create_namespace:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": values.namespace, "labels": _labels(values)},
            }
        )
    if values.install_crd:
        objects.append(_crd(values))
    objects.append(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(values, values.operator_name, values.namespace),
        }
    )
    objects += _operator_rbac(values)
    if values.metrics_service:
        objects.append(_metrics_service(values))
    objects.append(_deployment(values))
    rank = {kind: i for i, kind in enumerate(INSTALL_ORDER)}
    return sorted(objects, key=lambda o: rank.get(str(o["kind"]), len(rank)))


# --------------------------------------------------------------------------------------------
# The chart's CRD template
# --------------------------------------------------------------------------------------------

_CRD_TEMPLATE_HEAD = """\
{{- /*
The CloudShell CRD, generated from the model: do not edit by hand. Regenerate with
  cloudtty manifests --chart-crd-template > deploy/helm/cloudtty/templates/crd.yaml
*/ -}}
{{- if .Values.crds.install }}
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %(name)s
  labels:
    {{- include "cloudtty.labels" . | nindent 4 }}
  {{- if .Values.crds.keep }}
  annotations:
    # Uninstalling the release keeps the CRD and so every CloudShell.
    helm.sh/resource-policy: keep
  {{- end }}
"""


def chart_crd_template() -> str:
    """The text of ``deploy/helm/cloudtty/templates/crd.yaml``: the CRD from the model, with
    the chart's labels and the keep annotation."""
    from cloudtty_core.cli.yamlio import dump_yaml

    crd = crd_manifest()
    body = dump_yaml({"spec": crd["spec"]})
    if "{{" in body or "}}" in body:
        raise CliError("the CRD contains '{{' or '}}', which the chart's template engine reads")
    head = _CRD_TEMPLATE_HEAD % {"name": crd["metadata"]["name"]}
    return head + body + "{{- end }}\n"


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add ``manifests`` to the command line."""
    defaults = DeployValues()
    parser = subparsers.add_parser(
        "manifests",
        help="print the objects that install the operator (the Helm chart, without Helm)",
        description=(
            "Print the CRD, RBAC, the operator Deployment and its "
            "metrics Service as YAML -- the objects of the Helm chart deploy/helm/cloudtty "
            "with the same values. Install with: cloudtty manifests | kubectl apply -f -"
        ),
    )
    parser.add_argument(
        "-n", "--namespace", default=defaults.namespace, help="the operator's namespace"
    )
    parser.add_argument(
        "--create-namespace",
        action="store_true",
        help="also print the operator's Namespace (as helm install --create-namespace)",
    )
    parser.add_argument("--release", default=defaults.release, help="the release (base) name")
    parser.add_argument(
        "--image",
        default=None,
        metavar="IMAGE[:TAG]",
        help=f"the operator image (default {defaults.image})",
    )
    parser.add_argument("--replicas", type=int, default=defaults.replicas)
    parser.add_argument(
        "--workers",
        type=int,
        default=defaults.workers,
        help="shells the operator reconciles at the same time",
    )
    parser.add_argument(
        "--worker-image",
        action="append",
        default=[],
        metavar="BACKEND=IMAGE",
        help="image of an image backend's terminal pods (repeatable)",
    )
    parser.add_argument("--min-idle", type=int, default=defaults.min_idle, metavar="N")
    parser.add_argument(
        "--min-idle-namespace",
        action="append",
        default=[],
        metavar="NAMESPACE=N",
        help="minIdle of one namespace (repeatable; its pools are filled at start)",
    )
    parser.add_argument(
        "--worker-namespace",
        action="append",
        default=None,
        metavar="NAMESPACE",
        help="namespace where terminal pods run (repeatable; default: default)",
    )
    parser.add_argument("--cluster-role", default=defaults.cluster_role, metavar="NAME")
    parser.add_argument("--cluster-server", default=defaults.cluster_server, metavar="URL")
    parser.add_argument("--node-address", default=defaults.node_address, metavar="ADDRESS")
    parser.add_argument("--log-level", default=defaults.log_level)
    parser.add_argument("--metrics-port", type=int, default=defaults.metrics_port)
    parser.add_argument(
        "--block",
        action="append",
        default=[],
        metavar="NAME",
        help="plugin or distribution the operator never loads (repeatable)",
    )
    parser.add_argument(
        "--no-leader-election", action="store_true", help="run without a Lease (one replica)"
    )
    parser.add_argument("--no-crd", action="store_true", help="leave the CRD out")
    parser.add_argument(
        "--chart-crd-template",
        action="store_true",
        help="print the chart's CRD template instead (for maintainers)",
    )
    parser.set_defaults(handler=run)


def _pairs(items: Sequence[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise CliError(f"{option} {item!r}: expected KEY=VALUE")
        pairs[key] = value
    return pairs


def _image(text: str | None, defaults: DeployValues) -> tuple[str, str]:
    if not text:
        return defaults.image_repository, defaults.image_tag
    repository, _, tag = text.rpartition(":")
    if not repository or "/" in tag:  # "host:5000/operator" has no tag
        return text, ""
    return repository, tag


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _check_args(args: argparse.Namespace) -> None:
    for option, value, low in (
        ("--replicas", args.replicas, 1),
        ("--workers", args.workers, 1),
        ("--min-idle", args.min_idle, 0),
        ("--metrics-port", args.metrics_port, 1),
    ):
        if value < low:
            raise CliError(f"{option} must be at least {low}, got {value}")
    if args.metrics_port > 65535:
        raise CliError(f"--metrics-port must be at most 65535, got {args.metrics_port}")
    for option, names in (
        ("--namespace", [args.namespace]),
        ("--worker-namespace", args.worker_namespace or []),
    ):
        for name in names:
            if not _DNS_LABEL.match(name):
                raise CliError(f"{option} {name!r}: not a valid namespace name (DNS label)")


def values_from_args(args: argparse.Namespace) -> DeployValues:
    """The values the command line asks for (a :class:`CliError` names a bad option)."""
    _check_args(args)
    defaults = DeployValues()
    sizes: dict[str, int] = {}
    for namespace, size in _pairs(args.min_idle_namespace, "--min-idle-namespace").items():
        try:
            sizes[namespace] = int(size)
        except ValueError:
            raise CliError(f"--min-idle-namespace {namespace}={size}: not a number") from None
        if sizes[namespace] < 0 or not _DNS_LABEL.match(namespace):
            raise CliError(f"--min-idle-namespace {namespace}={size}: bad namespace or size")
    repository, tag = _image(args.image, defaults)
    return DeployValues(
        namespace=args.namespace,
        create_namespace=args.create_namespace,
        release=args.release,
        image_repository=repository,
        image_tag=tag,
        replicas=args.replicas,
        workers=args.workers,
        install_crd=not args.no_crd,
        log_level=args.log_level,
        metrics_port=args.metrics_port,
        cluster_role=args.cluster_role,
        cluster_server=args.cluster_server,
        node_address=args.node_address,
        blocked_plugins=tuple(args.block),
        min_idle=args.min_idle,
        min_idle_per_namespace=sizes,
        worker_images=_pairs(args.worker_image, "--worker-image"),
        worker_namespaces=tuple(args.worker_namespace or defaults.worker_namespaces),
        leader_election=not args.no_leader_election,
    )


def run(args: argparse.Namespace) -> int:
    """Print the manifests (or the chart's CRD template)."""
    if args.chart_crd_template:
        sys.stdout.write(chart_crd_template())
        return 0
    from cloudtty_core.cli.yamlio import dump_yaml_all

    sys.stdout.write(dump_yaml_all(build_manifests(values_from_args(args))))
    return 0
