"""The built-in resource types the sandbox serves: columns, merge keys and field labels."""

from __future__ import annotations

from .resources import ALL_VERBS, PrinterColumn, Registry, ResourceType

PRIMITIVE_SET = "$set"  # merge strategy of primitive lists such as metadata.finalizers

# List fields merged by key in strategic merge patches (field name -> merge key), as declared by
# the `patchMergeKey` tags of the Kubernetes API types.
_KEYED_LISTS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "ownerReferences": "uid",
    "conditions": "type",
    "addresses": "type",
    "secrets": "name",
    "ports": "containerPort",
}


def builtin_merge_keys(path: tuple[str, ...]) -> str | None:
    """Strategic-merge key of the list at ``path`` (field names from the object root)."""
    field = path[-1] if path else ""
    if path == ("metadata", "finalizers"):
        return PRIMITIVE_SET
    if field == "ports" and path[:2] == ("spec", "ports"):
        return "port"  # Service ports merge by port number
    if field == "addresses" and path[:1] != ("status",):
        return None  # Endpoints addresses are atomic
    if field == "conditions" and path[:1] != ("status",):
        return None
    return _KEYED_LISTS.get(field)


_NAME = PrinterColumn(
    "Name", "string", format="name", description="Name must be unique within a namespace."
)
_AGE = PrinterColumn("Age", "string", description="Time since the object was created.")

_BASE_LABELS = frozenset({"metadata.name", "metadata.namespace"})


def _rt(
    group: str,
    version: str,
    plural: str,
    kind: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    status: bool = False,
    columns: tuple[PrinterColumn, ...] = (_NAME, _AGE),
    subresources: tuple[str, ...] = (),
    fields: tuple[str, ...] = (),
    verbs: tuple[str, ...] = ALL_VERBS,
    name_rule: str = "subdomain",
    categories: tuple[str, ...] = (),
) -> ResourceType:
    subs = (("status",) if status else ()) + subresources
    return ResourceType(
        group=group,
        version=version,
        plural=plural,
        singular=kind.lower(),
        kind=kind,
        namespaced=namespaced,
        verbs=verbs,
        short_names=short,
        categories=categories,
        subresources=subs,
        has_status=status,
        columns=columns,
        merge_keys=builtin_merge_keys,
        field_labels=_BASE_LABELS | frozenset(fields),
        name_rule=name_rule,
    )


def _col(
    name: str, type_: str = "string", priority: int = 0, description: str = ""
) -> PrinterColumn:
    return PrinterColumn(name, type_, priority=priority, description=description)


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _rt(
        "",
        "v1",
        "namespaces",
        "Namespace",
        namespaced=False,
        short=("ns",),
        status=True,
        columns=(_NAME, _col("Status"), _AGE),
        fields=("status.phase",),
        subresources=("finalize",),
        name_rule="label",
    ),
    _rt(
        "",
        "v1",
        "nodes",
        "Node",
        namespaced=False,
        short=("no",),
        status=True,
        columns=(
            _NAME,
            _col("Status"),
            _col("Roles"),
            _AGE,
            _col("Version"),
            _col("Internal-IP", priority=1),
            _col("External-IP", priority=1),
        ),
        fields=("spec.unschedulable",),
    ),
    _rt(
        "",
        "v1",
        "pods",
        "Pod",
        short=("po",),
        status=True,
        categories=("all",),
        columns=(
            _NAME,
            _col("Ready"),
            _col("Status"),
            _col("Restarts", "string"),
            _AGE,
            _col("IP", priority=1),
            _col("Node", priority=1),
        ),
        subresources=("log", "exec", "binding", "eviction"),
        fields=(
            "status.phase",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.podIP",
            "status.nominatedNodeName",
            "spec.hostNetwork",
        ),
    ),
    _rt(
        "",
        "v1",
        "services",
        "Service",
        short=("svc",),
        status=True,
        categories=("all",),
        columns=(
            _NAME,
            _col("Type"),
            _col("Cluster-IP"),
            _col("External-IP"),
            _col("Port(s)"),
            _AGE,
            _col("Selector", priority=1),
        ),
        fields=("spec.clusterIP", "spec.type"),
        name_rule="label",
    ),
    _rt(
        "", "v1", "endpoints", "Endpoints", short=("ep",), columns=(_NAME, _col("Endpoints"), _AGE)
    ),
    _rt(
        "",
        "v1",
        "secrets",
        "Secret",
        columns=(_NAME, _col("Type"), _col("Data", "integer"), _AGE),
        fields=("type",),
    ),
    _rt(
        "",
        "v1",
        "configmaps",
        "ConfigMap",
        short=("cm",),
        columns=(_NAME, _col("Data", "integer"), _AGE),
    ),
    _rt(
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        short=("sa",),
        subresources=("token",),
        columns=(_NAME, _AGE),
    ),
    _rt(
        "",
        "v1",
        "events",
        "Event",
        short=("ev",),
        columns=(_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")),
        fields=(
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ),
        name_rule="path",
    ),
    _rt(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        short=("ev",),
        columns=(_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")),
        fields=(
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "reason",
            "reportingController",
            "type",
        ),
        name_rule="path",
    ),
    _rt("coordination.k8s.io", "v1", "leases", "Lease", columns=(_NAME, _col("Holder"), _AGE)),
    _rt(
        "batch",
        "v1",
        "jobs",
        "Job",
        status=True,
        categories=("all",),
        columns=(_NAME, _col("Status"), _col("Completions"), _col("Duration"), _AGE),
        fields=("status.successful",),
    ),
    _rt(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        short=("deploy",),
        status=True,
        categories=("all",),
        subresources=("scale",),
        columns=(
            _NAME,
            _col("Ready"),
            _col("Up-to-date", "integer"),
            _col("Available", "integer"),
            _AGE,
            _col("Containers", priority=1),
            _col("Images", priority=1),
            _col("Selector", priority=1),
        ),
    ),
    _rt(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        short=("rs",),
        status=True,
        categories=("all",),
        subresources=("scale",),
        columns=(
            _NAME,
            _col("Desired", "integer"),
            _col("Current", "integer"),
            _col("Ready", "integer"),
            _AGE,
            _col("Containers", priority=1),
            _col("Images", priority=1),
            _col("Selector", priority=1),
        ),
    ),
    _rt(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        short=("ing",),
        status=True,
        columns=(_NAME, _col("Class"), _col("Hosts"), _col("Address"), _col("Ports"), _AGE),
    ),
    _rt(
        "networking.k8s.io",
        "v1",
        "ingressclasses",
        "IngressClass",
        namespaced=False,
        columns=(_NAME, _col("Controller"), _col("Parameters"), _AGE),
    ),
    _rt(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        columns=(_NAME, _col("Created At")),
        name_rule="path",
    ),
    _rt(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        columns=(_NAME, _col("Role"), _AGE),
        name_rule="path",
    ),
    _rt(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        namespaced=False,
        columns=(_NAME, _col("Created At")),
        name_rule="path",
    ),
    _rt(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        namespaced=False,
        columns=(_NAME, _col("Role"), _AGE),
        name_rule="path",
    ),
    _rt(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        namespaced=False,
        verbs=("create",),
    ),
    _rt(
        "authorization.k8s.io",
        "v1",
        "subjectaccessreviews",
        "SubjectAccessReview",
        namespaced=False,
        verbs=("create",),
    ),
    _rt(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short=("crd", "crds"),
        status=True,
        columns=(_NAME, _col("Created At")),
    ),
)


def register_builtins(registry: Registry) -> None:
    for rtype in BUILTIN_TYPES:
        registry.add(rtype)
