"""``kubectl get`` output: Table (meta.k8s.io) conversion with printer columns, and
PartialObjectMetadata for metadata-only clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from . import meta
from .apps import selector_string
from .jsonpath import evaluate
from .resources import PrinterColumn, ResourceType

Row = Callable[[dict[str, Any]], list[Any]]


def wants_table(accept: str) -> str | None:
    """The Table version kubectl asks for in ``Accept`` (``v1``/``v1beta1``), if any."""
    for part in accept.split(","):
        params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return params.get("v", "v1")
    return None


def wants_partial_metadata(accept: str) -> str | None:
    for part in accept.split(","):
        params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
        if params.get("as") in ("PartialObjectMetadata", "PartialObjectMetadataList") and (
            params.get("g") == "meta.k8s.io"
        ):
            return params.get("v", "v1")
    return None


def partial(obj: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": obj["metadata"],
    }


def _none(value: Any) -> Any:
    return "<none>" if value in (None, "", []) else value


def _pod_row(pod: dict[str, Any]) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len(spec.get("containers") or [])
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for s in statuses:
        state = s.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state and state["terminated"].get("reason"):
            reason = state["terminated"]["reason"]
    if status.get("phase") == "Pending" and not statuses and spec.get("nodeName"):
        reason = "ContainerCreating"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return [
        f"{ready}/{total}",
        reason,
        str(restarts),
        meta.age(pod["metadata"].get("creationTimestamp")),
        _none(status.get("podIP")),
        _none(spec.get("nodeName")),
    ]


def _service_row(svc: dict[str, Any]) -> list[Any]:
    spec = svc.get("spec") or {}
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    external = [i.get("ip") or i.get("hostname") for i in ingress] + list(
        spec.get("externalIPs") or []
    )
    if spec.get("type") == "LoadBalancer" and not external:
        ext = "<pending>"
    elif spec.get("type") == "ExternalName":
        ext = spec.get("externalName", "<none>")
    else:
        ext = ",".join(str(e) for e in external) or "<none>"
    ports = (
        ",".join(
            f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}"
            if p.get("nodePort")
            else f"{p.get('port')}/{p.get('protocol', 'TCP')}"
            for p in spec.get("ports") or ()
        )
        or "<none>"
    )
    selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items()) or "<none>"
    return [
        spec.get("type", "ClusterIP"),
        _none(spec.get("clusterIP")),
        ext,
        ports,
        meta.age(svc["metadata"].get("creationTimestamp")),
        selector,
    ]


def _node_row(node: dict[str, Any]) -> list[Any]:
    status = node.get("status") or {}
    ready = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), {})
    state = "Ready" if ready.get("status") == "True" else "NotReady"
    roles = sorted(
        k.split("/", 1)[1]
        for k in node["metadata"].get("labels") or {}
        if k.startswith("node-role.kubernetes.io/")
    )
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or ()}
    return [
        state,
        ",".join(roles) or "<none>",
        meta.age(node["metadata"].get("creationTimestamp")),
        (status.get("nodeInfo") or {}).get("kubeletVersion", ""),
        _none(addresses.get("InternalIP")),
        _none(addresses.get("ExternalIP")),
    ]


def _endpoints_row(ep: dict[str, Any]) -> list[Any]:
    pairs = [
        f"{a.get('ip')}:{p.get('port')}"
        for s in ep.get("subsets") or ()
        for p in s.get("ports") or ()
        for a in s.get("addresses") or ()
    ]
    shown = ",".join(pairs[:3]) + (f" + {len(pairs) - 3} more..." if len(pairs) > 3 else "")
    return [shown or "<none>", meta.age(ep["metadata"].get("creationTimestamp"))]


def _event_row(ev: dict[str, Any]) -> list[Any]:
    obj = ev.get("involvedObject") or ev.get("regarding") or {}
    when = ev.get("lastTimestamp") or ev.get("eventTime") or ev["metadata"].get("creationTimestamp")
    return [
        meta.age(when),
        ev.get("type", ""),
        ev.get("reason", ""),
        f"{str(obj.get('kind', '')).lower()}/{obj.get('name', '')}",
        ev.get("message") or ev.get("note") or "",
    ]


def _job_row(job: dict[str, Any]) -> list[Any]:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or ()}
    state = (
        "Complete"
        if conditions.get("Complete") == "True"
        else "Failed"
        if conditions.get("Failed") == "True"
        else "Running"
    )
    return [
        state,
        f"{status.get('succeeded', 0)}/{spec.get('completions', 1)}",
        "",
        meta.age(job["metadata"].get("creationTimestamp")),
    ]


def _ingress_row(ing: dict[str, Any]) -> list[Any]:
    spec = ing.get("spec") or {}
    hosts = ",".join(r.get("host") or "*" for r in spec.get("rules") or ()) or "*"
    ingress = ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    address = ",".join(i.get("ip") or i.get("hostname") or "" for i in ingress)
    ports = "80, 443" if spec.get("tls") else "80"
    return [
        _none(spec.get("ingressClassName")),
        hosts,
        address,
        ports,
        meta.age(ing["metadata"].get("creationTimestamp")),
    ]


def _workload_extra(obj: dict[str, Any]) -> list[Any]:
    spec = obj.get("spec") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [
        ",".join(str(c.get("name", "")) for c in containers),
        ",".join(str(c.get("image", "")) for c in containers),
        selector_string(spec.get("selector")) or "<none>",
    ]


def _deployment_row(deploy: dict[str, Any]) -> list[Any]:
    spec, status = deploy.get("spec") or {}, deploy.get("status") or {}
    return [
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        meta.age(deploy["metadata"].get("creationTimestamp")),
        *_workload_extra(deploy),
    ]


def _replicaset_row(rs: dict[str, Any]) -> list[Any]:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    return [
        spec.get("replicas", 1),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        meta.age(rs["metadata"].get("creationTimestamp")),
        *_workload_extra(rs),
    ]


def _age(obj: dict[str, Any]) -> str:
    return meta.age(obj["metadata"].get("creationTimestamp"))


_BUILTIN_ROWS: dict[str, Row] = {
    "pods": _pod_row,
    "services": _service_row,
    "nodes": _node_row,
    "endpoints": _endpoints_row,
    "events": _event_row,
    "events.events.k8s.io": _event_row,
    "jobs.batch": _job_row,
    "deployments.apps": _deployment_row,
    "replicasets.apps": _replicaset_row,
    "ingresses.networking.k8s.io": _ingress_row,
    "namespaces": lambda o: [(o.get("status") or {}).get("phase", ""), _age(o)],
    "secrets": lambda o: [o.get("type", "Opaque"), len(o.get("data") or {}), _age(o)],
    "configmaps": lambda o: [len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o)],
    "leases.coordination.k8s.io": lambda o: [
        _none((o.get("spec") or {}).get("holderIdentity")),
        _age(o),
    ],
    "ingressclasses.networking.k8s.io": lambda o: [
        (o.get("spec") or {}).get("controller", ""),
        "<none>",
        _age(o),
    ],
    "rolebindings.rbac.authorization.k8s.io": lambda o: [
        f"{(o.get('roleRef') or {}).get('kind')}/{(o.get('roleRef') or {}).get('name')}",
        _age(o),
    ],
    "clusterrolebindings.rbac.authorization.k8s.io": lambda o: [
        f"{(o.get('roleRef') or {}).get('kind')}/{(o.get('roleRef') or {}).get('name')}",
        _age(o),
    ],
    "roles.rbac.authorization.k8s.io": lambda o: [o["metadata"].get("creationTimestamp")],
    "clusterroles.rbac.authorization.k8s.io": lambda o: [o["metadata"].get("creationTimestamp")],
    "customresourcedefinitions.apiextensions.k8s.io": lambda o: [
        o["metadata"].get("creationTimestamp")
    ],
}


def _column_cell(column: PrinterColumn, obj: dict[str, Any]) -> Any:
    values = evaluate(column.json_path, obj)
    if not values:
        return None
    value = values[0]
    if column.type == "date" and isinstance(value, str):
        return meta.age(value)
    if column.type == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if column.type == "number" and isinstance(value, (int, float)):
        return value
    if column.type == "boolean" and isinstance(value, bool):
        return value
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return value if len(values) == 1 else ",".join(str(v) for v in values)


def row_cells(rtype: ResourceType, obj: dict[str, Any]) -> list[Any]:
    name = obj["metadata"].get("name", "")
    builtin = None if rtype.is_crd else _BUILTIN_ROWS.get(rtype.storage)
    if builtin is not None:
        cells = builtin(obj)
        if rtype.storage in ("events", "events.events.k8s.io"):
            return cells
        return [name, *cells]
    if rtype.is_crd:
        return [name, *(_column_cell(c, obj) for c in rtype.columns[1:])]
    return [name, _age(obj)]


def column_definitions(rtype: ResourceType) -> list[dict[str, Any]]:
    return [
        {
            "name": c.name,
            "type": "string" if c.type == "date" else c.type,
            "format": c.format,
            "description": c.description,
            "priority": c.priority,
        }
        for c in rtype.columns
    ]


def table(
    rtype: ResourceType,
    objects: list[dict[str, Any]],
    list_meta: dict[str, Any],
    include_object: str = "Metadata",
    version: str = "v1",
) -> dict[str, Any]:
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": row_cells(rtype, obj)}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = partial(obj, version)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": list_meta,
        "columnDefinitions": column_definitions(rtype),
        "rows": rows,
    }
