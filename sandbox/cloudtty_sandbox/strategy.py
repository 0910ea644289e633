"""Per-kind behaviour hooks (defaults, validation, allocation, graceful deletion), like the
API server's REST strategies. Each kind with special rules subclasses ``Strategy``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import Cause

if TYPE_CHECKING:
    from .cluster import Cluster, DeleteOptions
    from .resources import ResourceType


class Strategy:
    """No special rules: the behaviour of ConfigMaps, Leases, Roles and custom resources."""

    def prepare_create(self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any]) -> None:
        """Fill defaults and allocate resources on a new object (mutates ``obj``)."""

    def prepare_update(
        self, cluster: Cluster, rtype: ResourceType, new: dict[str, Any], old: dict[str, Any]
    ) -> None:
        """Carry over or re-allocate what the client may not change (mutates ``new``)."""

    def validate(
        self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> list[Cause]:
        """Field problems of ``obj`` (``old`` is the stored object on update)."""
        return []

    def rollback_create(self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any]) -> None:
        """Undo allocations of a create that was refused or was a dry run."""

    def begin_delete(
        self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any], options: DeleteOptions
    ) -> dict[str, Any] | None:
        """Return a replacement object to store instead of removing it (graceful deletion)."""
        return None

    def after_create(self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any]) -> None:
        """React to a committed create (e.g. create dependent defaults)."""

    def after_update(
        self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any]
    ) -> None:
        """React to a committed update."""

    def after_remove(self, cluster: Cluster, rtype: ResourceType, obj: dict[str, Any]) -> None:
        """Release what the object held once it is gone."""
