"""apps/v1 Deployments and ReplicaSets as the API server stores them: defaults, validation
(selector required, matching the template's labels, immutable), the pod-template hash, label
selector objects, and the autoscaling/v1 ``Scale`` view of the scale subresource."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from .errors import Cause
from .pods import _container_defaults
from .strategy import Strategy

if TYPE_CHECKING:
    from .cluster import Cluster
    from .resources import ResourceType

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
SCALABLE = ("deployments.apps", "replicasets.apps")
_SAFE_ALPHABET = "bcdfghjkmnpqrstvwxz2456789"


# ---------------------------------------------------------------------- label selectors
def selector_matches(selector: Any, labels: Mapping[str, str]) -> bool:
    """Whether a ``LabelSelector`` object selects ``labels`` (an empty selector selects all)."""
    if not isinstance(selector, dict):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or ():
        key, op = expr.get("key"), expr.get("operator")
        values = expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def selector_string(selector: Any) -> str:
    """A ``LabelSelector`` object in the string form of ``?labelSelector=``."""
    if not isinstance(selector, dict):
        return ""
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or ():
        key, op = expr.get("key"), expr.get("operator")
        values = ",".join(sorted(expr.get("values") or []))
        terms.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": f"{key}",
                "DoesNotExist": f"!{key}",
            }.get(str(op), "")
        )
    return ",".join(t for t in terms if t)


# ---------------------------------------------------------------------- templates
def template_hash(template: Any, collision_count: int = 0) -> str:
    """The ``pod-template-hash`` of a pod template: FNV-1a over its canonical JSON, written
    with the API server's "safe" alphabet (no vowels, no look-alike digits)."""
    data = orjson.dumps(template, option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += str(collision_count).encode()
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_ALPHABET[ord(c) % len(_SAFE_ALPHABET)] for c in str(value))


def without_hash(template: Any) -> Any:
    """A ReplicaSet's pod template minus the ``pod-template-hash`` label its Deployment added."""
    if not isinstance(template, dict):
        return template
    meta = dict(template.get("metadata") or {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != HASH_LABEL}
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    out = {**template}
    if meta:
        out["metadata"] = meta
    else:
        out.pop("metadata", None)
    return out


def resolve_percent(value: Any, total: int, *, round_up: bool) -> int:
    """An int-or-percent field (``maxUnavailable: 25%``) as a count of ``total`` replicas."""
    if isinstance(value, str) and value.endswith("%"):
        try:
            share = total * float(value[:-1]) / 100
        except ValueError:
            return 0
        return math.ceil(share) if round_up else math.floor(share)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def max_unavailable(deployment: dict[str, Any]) -> int:
    spec = deployment.get("spec") or {}
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    rolling = strategy.get("rollingUpdate") or {}
    desired = int(spec.get("replicas", 1))
    return min(
        desired, resolve_percent(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    )


def replicas_of(obj: dict[str, Any]) -> int:
    value = (obj.get("spec") or {}).get("replicas", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def scale_view(rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 ``Scale`` of a Deployment or ReplicaSet."""
    m = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"],
            "namespace": m.get("namespace", ""),
            "uid": m["uid"],
            "resourceVersion": m["resourceVersion"],
            "creationTimestamp": m.get("creationTimestamp"),
        },
        "spec": {"replicas": replicas_of(obj)},
        "status": {
            "replicas": int((obj.get("status") or {}).get("replicas") or 0),
            "selector": selector_string((obj.get("spec") or {}).get("selector")),
        },
    }


# ---------------------------------------------------------------------- strategies
def _template_defaults(template: Any) -> None:
    spec = template.get("spec") if isinstance(template, dict) else None
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or ():
            if isinstance(container, dict):
                _container_defaults(container)


class ReplicaSetStrategy(Strategy):
    """Defaults and validation of apps/v1 ReplicaSets (and the shared part of Deployments)."""

    def prepare_create(self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any]) -> None:
        obj.pop("status", None)  # status is the controller's, as on a real API server
        spec = obj.get("spec")
        if isinstance(spec, dict):
            spec.setdefault("replicas", 1)
            _template_defaults(spec.get("template"))

    def prepare_update(
        self, cluster: Cluster, rtype: ResourceType, new: dict[str, Any], old: dict[str, Any]
    ) -> None:
        spec = new.get("spec")
        if isinstance(spec, dict):
            spec.setdefault("replicas", 1)
            _template_defaults(spec.get("template"))

    def validate(
        self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("spec", "Required value", "FieldValueRequired")]
        causes: list[Cause] = []
        replicas = spec.get("replicas", 1)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            causes.append(
                Cause(
                    "spec.replicas",
                    f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                )
            )
        selector = spec.get("selector")
        template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        if not isinstance(selector, dict):
            causes.append(Cause("spec.selector", "Required value", "FieldValueRequired"))
        elif not selector.get("matchLabels") and not selector.get("matchExpressions"):
            causes.append(Cause("spec.selector", "Invalid value: {}: empty selector is invalid"))
        elif not selector_matches(selector, labels):
            causes.append(
                Cause(
                    "spec.template.metadata.labels",
                    f"Invalid value: {orjson.dumps(labels).decode()}: "
                    "`selector` does not match template `labels`",
                )
            )
        if not isinstance((template.get("spec") or {}).get("containers"), list) or not (
            template.get("spec") or {}
        ).get("containers"):
            causes.append(
                Cause("spec.template.spec.containers", "Required value", "FieldValueRequired")
            )
        if old is not None and selector != (old.get("spec") or {}).get("selector"):
            causes.append(
                Cause(
                    "spec.selector",
                    f"Invalid value: {orjson.dumps(selector).decode()}: field is immutable",
                )
            )
        return causes


class DeploymentStrategy(ReplicaSetStrategy):
    """Defaults of apps/v1 Deployments on top of the ReplicaSet rules."""

    def prepare_create(self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any]) -> None:
        super().prepare_create(cluster, rtype, obj)
        self._defaults(obj)

    def prepare_update(
        self, cluster: Cluster, rtype: ResourceType, new: dict[str, Any], old: dict[str, Any]
    ) -> None:
        super().prepare_update(cluster, rtype, new, old)
        self._defaults(new)

    @staticmethod
    def _defaults(obj: dict[str, Any]) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        if isinstance(strategy, dict):
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                rolling = strategy.setdefault("rollingUpdate", {})
                if isinstance(rolling, dict):
                    rolling.setdefault("maxUnavailable", "25%")
                    rolling.setdefault("maxSurge", "25%")
