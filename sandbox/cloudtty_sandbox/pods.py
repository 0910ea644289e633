"""Pods: defaults, ServiceAccount admission (token volume), validation, update rules and
graceful deletion."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from . import errors, meta
from .errors import Cause
from .strategy import Strategy

if TYPE_CHECKING:
    from .cluster import Cluster, DeleteOptions
    from .resources import ResourceType

SA_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
TERMINAL_PHASES = ("Succeeded", "Failed")
_MUTABLE_SPEC = (
    "activeDeadlineSeconds",
    "tolerations",
    "terminationGracePeriodSeconds",
    "schedulingGates",
)


def _container_defaults(container: dict[str, Any]) -> None:
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    image = str(container.get("image") or "")
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
    container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    container.setdefault("resources", {})
    for port in container.get("ports") or ():
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def _masked_spec(spec: Any) -> Any:
    """The pod spec minus what may change after creation (images, deadlines, tolerations)."""
    if not isinstance(spec, dict):
        return spec
    out = {k: v for k, v in spec.items() if k not in _MUTABLE_SPEC}
    for field in ("containers", "initContainers"):
        if isinstance(out.get(field), list):
            out[field] = [
                {k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c
                for c in out[field]
            ]
    return out


class PodStrategy(Strategy):
    """What the API server's pod registry and admission plugins do to pods."""

    def prepare_create(self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any]) -> None:
        spec = obj.get("spec")
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        if not isinstance(spec, dict):
            return
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("securityContext", {})
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        sa_name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        spec["serviceAccountName"] = spec["serviceAccount"] = sa_name
        for field in ("containers", "initContainers"):
            for container in spec.get(field) or ():
                if isinstance(container, dict):
                    _container_defaults(container)
        namespace = obj["metadata"]["namespace"]
        sa = cluster.find("serviceaccounts", namespace, sa_name)
        if sa is None:
            name = obj["metadata"].get("name", "")
            raise errors.forbidden(
                f'pods "{name}" is forbidden: error looking up service account '
                f'{namespace}/{sa_name}: serviceaccount "{sa_name}" not found'
            )
        if spec.get("automountServiceAccountToken", sa.get("automountServiceAccountToken", True)):
            self._mount_token(spec, with_ca=cluster.ca_pem is not None)

    @staticmethod
    def _mount_token(spec: dict[str, Any], with_ca: bool) -> None:
        containers = [
            c
            for f in ("containers", "initContainers")
            for c in spec.get(f) or ()
            if isinstance(c, dict)
        ]
        if any(
            m.get("mountPath") == SA_MOUNT_PATH
            for c in containers
            for m in c.get("volumeMounts") or ()
            if isinstance(m, dict)
        ):
            return
        volume_name = f"kube-api-access-{meta.generate_suffix()}"
        spec.setdefault("volumes", []).append(
            {
                "name": volume_name,
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        *(
                            [
                                {
                                    "configMap": {
                                        "name": "kube-root-ca.crt",
                                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                    }
                                }
                            ]
                            if with_ca
                            else []
                        ),
                        {
                            "downwardAPI": {
                                "items": [
                                    {
                                        "path": "namespace",
                                        "fieldRef": {
                                            "apiVersion": "v1",
                                            "fieldPath": "metadata.namespace",
                                        },
                                    }
                                ]
                            }
                        },
                    ],
                },
            }
        )
        for container in containers:
            container.setdefault("volumeMounts", []).append(
                {"name": volume_name, "readOnly": True, "mountPath": SA_MOUNT_PATH}
            )

    def validate(
        self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("spec", "Required value", "FieldValueRequired")]
        if old is not None:
            old_spec = old.get("spec") or {}
            if not old_spec.get("nodeName") and spec.get("nodeName"):
                # Binding: an unscheduled pod gets its node once.
                old_spec = {**old_spec, "nodeName": spec.get("nodeName")}
            if _masked_spec(spec) != _masked_spec(old_spec):
                return [
                    Cause(
                        "spec",
                        "Forbidden: pod updates may not change fields other than "
                        "`spec.containers[*].image`, `spec.initContainers[*].image`, "
                        "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions "
                        "to existing tolerations) or `spec.terminationGracePeriodSeconds`",
                        "FieldValueForbidden",
                    )
                ]
            return []
        causes: list[Cause] = []
        containers = spec.get("containers")
        if not isinstance(containers, list) or not containers:
            return [Cause("spec.containers", "Required value", "FieldValueRequired")]
        volumes = {v.get("name") for v in spec.get("volumes") or () if isinstance(v, dict)}
        seen: set[str] = set()
        for field in ("initContainers", "containers"):
            for i, container in enumerate(spec.get(field) or ()):
                where = f"spec.{field}[{i}]"
                if not isinstance(container, dict):
                    causes.append(Cause(where, "Invalid value: must be an object"))
                    continue
                name = container.get("name")
                if not isinstance(name, str) or not name:
                    causes.append(Cause(f"{where}.name", "Required value", "FieldValueRequired"))
                elif not meta.is_dns_label(name):
                    causes.append(
                        Cause(
                            f"{where}.name",
                            f'Invalid value: "{name[:80]}": a '
                            "lowercase RFC 1123 label must consist of lower case "
                            "alphanumeric characters or '-'",
                        )
                    )
                elif name in seen:
                    causes.append(
                        Cause(f"{where}.name", f'Duplicate value: "{name}"', "FieldValueDuplicate")
                    )
                else:
                    seen.add(name)
                if not isinstance(container.get("image"), str) or not container["image"].strip():
                    causes.append(Cause(f"{where}.image", "Required value", "FieldValueRequired"))
                for j, port in enumerate(container.get("ports") or ()):
                    number = port.get("containerPort") if isinstance(port, dict) else None
                    if not isinstance(number, int) or not 1 <= number <= 65535:
                        causes.append(
                            Cause(
                                f"{where}.ports[{j}].containerPort",
                                f"Invalid value: {number!r}: must be between 1 and "
                                "65535, inclusive",
                            )
                        )
                for j, mount in enumerate(container.get("volumeMounts") or ()):
                    if isinstance(mount, dict) and mount.get("name") not in volumes:
                        causes.append(
                            Cause(
                                f"{where}.volumeMounts[{j}].name",
                                f'Not found: "{mount.get("name")}"',
                                "FieldValueNotFound",
                            )
                        )
        policy = spec.get("restartPolicy")
        if policy not in ("Always", "OnFailure", "Never"):
            causes.append(
                Cause(
                    "spec.restartPolicy",
                    f'Unsupported value: "{policy}": supported '
                    'values: "Always", "OnFailure", "Never"',
                    "FieldValueNotSupported",
                )
            )
        return causes

    def prepare_update(
        self, cluster: Cluster, rtype: ResourceType, new: dict[str, Any], old: dict[str, Any]
    ) -> None:
        # nodeName is set once, through binding or by the scheduler.
        old_node = (old.get("spec") or {}).get("nodeName")
        if old_node and isinstance(new.get("spec"), dict):
            new["spec"]["nodeName"] = old_node

    def begin_delete(
        self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any], options: DeleteOptions
    ) -> dict[str, Any] | None:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        grace = options.grace_period_seconds
        if grace is None:
            grace = int(spec.get("terminationGracePeriodSeconds", 30))
        if grace <= 0 or not spec.get("nodeName") or status.get("phase") in TERMINAL_PHASES:
            return None
        current = obj["metadata"].get("deletionGracePeriodSeconds")
        if obj["metadata"].get("deletionTimestamp") and current is not None and current <= grace:
            return obj
        deadline = meta.now() + dt.timedelta(seconds=grace)
        return {
            **obj,
            "metadata": {
                **obj["metadata"],
                "deletionTimestamp": meta.rfc3339(deadline),
                "deletionGracePeriodSeconds": grace,
            },
        }
