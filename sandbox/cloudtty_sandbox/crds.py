"""CustomResourceDefinitions: validation of the definition and serving its resource dynamically."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from . import meta
from .errors import Cause
from .resources import PrinterColumn, ResourceType
from .schema import CrdSchema, structural_problems
from .strategy import Strategy

if TYPE_CHECKING:
    from .cluster import Cluster

_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes version ordering: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > anything else."""
    m = _VERSION.match(version)
    if not m:
        return (0, 0, 0, version)
    major, level, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    rank = {"alpha": 1, "beta": 2, None: 3}[level]
    return (rank, major, minor, "")


def types_of(crd: dict[str, Any]) -> list[ResourceType]:
    """One ``ResourceType`` per served version of a CRD."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec["group"]
    served = [v for v in spec.get("versions") or () if v.get("served", True)]
    served_names = tuple(v["name"] for v in served)
    out = []
    for version in served:
        schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or None
        subresources = version.get("subresources") or {}
        columns = [
            PrinterColumn(
                "Name",
                "string",
                format="name",
                description="Name must be unique within a namespace.",
            )
        ]
        printer = version.get("additionalPrinterColumns")
        if printer:
            columns.extend(
                PrinterColumn(
                    c["name"],
                    c.get("type", "string"),
                    c.get("jsonPath", ""),
                    c.get("description", ""),
                    int(c.get("priority", 0)),
                    c.get("format", ""),
                )
                for c in printer
            )
        else:
            columns.append(PrinterColumn("Age", "date", ".metadata.creationTimestamp"))
        selectable = frozenset(
            str(f.get("jsonPath", "")).lstrip(".") for f in version.get("selectableFields") or ()
        )
        subs = tuple(s for s in ("status", "scale") if s in subresources)
        out.append(
            ResourceType(
                group=group,
                version=version["name"],
                plural=names["plural"],
                singular=names.get("singular") or names["kind"].lower(),
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=subs,
                has_status="status" in subresources,
                columns=tuple(columns),
                merge_keys=None,
                field_labels=frozenset({"metadata.name", "metadata.namespace"}) | selectable,
                crd_name=crd["metadata"]["name"],
                schema=CrdSchema(schema, names["kind"]),
                openapi_schema=schema,
                served_versions=served_names,
            )
        )
    return out


class CrdStrategy(Strategy):
    """Defaults and validation of CRDs; registers and unregisters the resources they define."""

    def prepare_create(self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any]) -> None:
        self._defaults(obj)
        spec = obj.get("spec") or {}
        storage = [
            v["name"]
            for v in spec.get("versions") or ()
            if isinstance(v, dict) and v.get("storage")
        ]
        now = meta.rfc3339()
        obj["status"] = {
            "acceptedNames": spec.get("names") or {},
            "storedVersions": storage[:1],
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": now,
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": now,
                },
            ],
        }

    def prepare_update(
        self, cluster: Cluster, rtype: ResourceType, new: dict[str, Any], old: dict[str, Any]
    ) -> None:
        self._defaults(new)

    @staticmethod
    def _defaults(obj: dict[str, Any]) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        names = spec.get("names")
        if isinstance(names, dict) and isinstance(names.get("kind"), str):
            names.setdefault("singular", names["kind"].lower())
            names.setdefault("listKind", names["kind"] + "List")
        spec.setdefault("scope", "Namespaced")
        spec.setdefault("conversion", {"strategy": "None"})

    def validate(
        self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [Cause("spec", "Required value", "FieldValueRequired")]
        causes: list[Cause] = []
        group = spec.get("group")
        names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
        if not isinstance(group, str) or not meta.is_dns_subdomain(group) or "." not in group:
            causes.append(
                Cause(
                    "spec.group",
                    f"Invalid value: {group!r}: should be a domain with at least one dot",
                )
            )
        for key in ("plural", "kind"):
            if not isinstance(names.get(key), str) or not names.get(key):
                causes.append(Cause(f"spec.names.{key}", "Required value", "FieldValueRequired"))
        plural = names.get("plural")
        if isinstance(plural, str) and isinstance(group, str):
            expected = f"{plural}.{group}"
            if obj["metadata"].get("name") != expected:
                causes.append(
                    Cause(
                        "metadata.name",
                        f'Invalid value: "{obj["metadata"].get("name")}":'
                        f' must be spec.names.plural+"."+spec.group',
                    )
                )
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            causes.append(
                Cause(
                    "spec.scope",
                    f'Unsupported value: "{spec.get("scope")}": '
                    'supported values: "Cluster", "Namespaced"',
                    "FieldValueNotSupported",
                )
            )
        versions = spec.get("versions")
        if not isinstance(versions, list) or not versions:
            causes.append(
                Cause(
                    "spec.versions",
                    "Invalid value: must have exactly one version marked as storage version",
                )
            )
            return causes
        if sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
            causes.append(
                Cause(
                    "spec.versions",
                    "Invalid value: must have exactly one version marked as storage version",
                )
            )
        for i, version in enumerate(versions):
            if not isinstance(version, dict) or not isinstance(version.get("name"), str):
                causes.append(
                    Cause(f"spec.versions[{i}].name", "Required value", "FieldValueRequired")
                )
                continue
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if schema is None:
                causes.append(
                    Cause(
                        f"spec.versions[{i}].schema.openAPIV3Schema",
                        "Required value: schemas are required",
                        "FieldValueRequired",
                    )
                )
            else:
                for cause in structural_problems(
                    schema, f"spec.versions[{i}].schema.openAPIV3Schema"
                ):
                    causes.append(cause)
            for j, column in enumerate(version.get("additionalPrinterColumns") or ()):
                if (
                    not isinstance(column, dict)
                    or not column.get("name")
                    or not column.get("jsonPath")
                ):
                    causes.append(
                        Cause(
                            f"spec.versions[{i}].additionalPrinterColumns[{j}]",
                            "Required value: name and jsonPath are required",
                            "FieldValueRequired",
                        )
                    )
        return causes

    def _register(self, cluster: Cluster, obj: dict[str, Any]) -> None:
        types = types_of(obj)
        if not types:
            return
        cluster.registry.remove_storage(types[0].storage)
        preferred = max(types, key=lambda t: version_priority(t.version))
        for rtype in types:
            cluster.registry.add(rtype, preferred=rtype is preferred)

    def after_create(self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any]) -> None:
        self._register(cluster, obj)

    def after_update(
        self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any]
    ) -> None:
        if obj.get("spec") != old.get("spec"):
            self._register(cluster, obj)

    def after_remove(self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any]) -> None:
        spec = obj.get("spec") or {}
        plural, group = (spec.get("names") or {}).get("plural"), spec.get("group")
        if not plural or not group:
            return
        storage = f"{plural}.{group}"
        served = cluster.registry.any_version(storage)
        if served is not None:
            for item in cluster.store.items(storage, None):
                cluster.remove_now(served, item)
        cluster.store.cache(storage).close_all()
        cluster.store.drop_storage(storage)
        cluster.registry.remove_storage(storage)
