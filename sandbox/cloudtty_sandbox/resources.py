"""What the API serves: resource types (built-in and CRD-defined) and their lookup tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@attrs.frozen
class PrinterColumn:
    """A column of ``kubectl get`` (Table) output."""

    name: str
    type: str
    json_path: str = ""
    description: str = ""
    priority: int = 0
    format: str = ""


@attrs.frozen
class ResourceType:
    """One served resource (``pods``, ``cloudshells.cloudshell.cloudtty.io``) at one version.

    ``storage`` names the shared storage of every version of the resource (``plural.group``),
    so each object exists once whatever version a client reads it at.
    """

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = ALL_VERBS
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    has_status: bool = False
    columns: tuple[PrinterColumn, ...] = ()
    # Strategic merge patch meta: list field name -> merge key (None when SMP is unsupported).
    merge_keys: Callable[[tuple[str, ...]], str | None] | None = None
    field_labels: frozenset[str] = frozenset()
    name_rule: str = "subdomain"
    crd_name: str | None = None
    # For CRDs: validate-and-default callable (object -> list of causes), see schema.py.
    schema: Any = None
    openapi_schema: dict[str, Any] | None = None
    served_versions: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def is_crd(self) -> bool:
        return self.crd_name is not None

    def qualified(self) -> str:
        return self.storage


class Registry:
    """Lookup of served resource types by group/version/plural and by kind.

    CRDs register and unregister types at run time; ``generation`` changes on each so
    discovery and OpenAPI documents can be cached until it moves.
    """

    def __init__(self) -> None:
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self._by_kind: dict[tuple[str, str, str], ResourceType] = {}
        self._group_versions: dict[str, list[str]] = {}
        self._preferred: dict[str, str] = {}
        self.generation = 0

    def add(self, rtype: ResourceType, *, preferred: bool = False) -> None:
        self._by_path[(rtype.group, rtype.version, rtype.plural)] = rtype
        self._by_kind[(rtype.group, rtype.version, rtype.kind)] = rtype
        versions = self._group_versions.setdefault(rtype.group, [])
        if rtype.version not in versions:
            versions.append(rtype.version)
        if preferred or rtype.group not in self._preferred:
            self._preferred[rtype.group] = rtype.version
        self.generation += 1

    def remove_storage(self, storage: str) -> None:
        """Stop serving every version of one resource (a CRD was deleted)."""
        for key, rtype in list(self._by_path.items()):
            if rtype.storage == storage:
                del self._by_path[key]
                self._by_kind.pop((rtype.group, rtype.version, rtype.kind), None)
        self._rebuild_groups()
        self.generation += 1

    def _rebuild_groups(self) -> None:
        groups: dict[str, list[str]] = {}
        for group, version, _ in self._by_path:
            versions = groups.setdefault(group, [])
            if version not in versions:
                versions.append(version)
        self._group_versions = groups
        self._preferred = {
            g: (self._preferred[g] if self._preferred.get(g) in v else v[0])
            for g, v in groups.items()
        }

    def set_preferred(self, group: str, version: str) -> None:
        self._preferred[group] = version
        self.generation += 1

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        return self._by_kind.get((group, version, kind))

    def any_version(self, storage: str) -> ResourceType | None:
        """The preferred served version of a resource, by storage name."""
        found = None
        for rtype in self._by_path.values():
            if rtype.storage == storage:
                if self._preferred.get(rtype.group) == rtype.version:
                    return rtype
                found = found or rtype
        return found

    def kind_of_storage(self, group: str, kind: str) -> ResourceType | None:
        for rtype in self._by_path.values():
            if rtype.group == group and rtype.kind == kind:
                return rtype
        return None

    def groups(self) -> list[str]:
        return list(self._group_versions)

    def versions(self, group: str) -> list[str]:
        return list(self._group_versions.get(group, ()))

    def preferred_version(self, group: str) -> str | None:
        return self._preferred.get(group)

    def resources(self, group: str, version: str) -> list[ResourceType]:
        return [r for (g, v, _), r in self._by_path.items() if g == group and v == version]

    def all(self) -> Iterable[ResourceType]:
        return list(self._by_path.values())
