"""The Kubernetes object metadata the operator reads and writes on a CloudShell."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs

from cloudtty_core.model.fields import meta


@attrs.frozen
class OwnerReference:
    """An object that owns this one (garbage collection follows these)."""

    api_version: str = attrs.field(metadata=meta("API version of the owner.", required=True))
    kind: str = attrs.field(metadata=meta("Kind of the owner.", required=True))
    name: str = attrs.field(metadata=meta("Name of the owner.", required=True))
    uid: str = attrs.field(metadata=meta("UID of the owner.", required=True))
    controller: bool | None = attrs.field(
        default=None, metadata=meta("True when the owner is the managing controller.")
    )
    block_owner_deletion: bool | None = attrs.field(
        default=None, metadata=meta("Foreground deletion waits for this object.")
    )


@attrs.frozen
class ObjectMeta:
    """Standard object metadata (the subset a controller needs)."""

    name: str = attrs.field(
        metadata=meta("Name, unique in the namespace.", rule="dns1123-subdomain", required=True)
    )
    namespace: str = attrs.field(
        default="default", metadata=meta("Namespace of the shell.", rule="dns1123-label")
    )
    generate_name: str | None = attrs.field(
        default=None, metadata=meta("Prefix the API server completes into a unique name.")
    )
    uid: str = attrs.field(default="", metadata=meta("Set by the API server.", omit_default=True))
    resource_version: str = attrs.field(
        default="", metadata=meta("Set by the API server.", omit_default=True)
    )
    generation: int = attrs.field(
        default=0, metadata=meta("Set by the API server; grows on spec changes.", omit_default=True)
    )
    labels: Mapping[str, str] = attrs.field(factory=dict, metadata=meta("Labels."))
    annotations: Mapping[str, str] = attrs.field(factory=dict, metadata=meta("Annotations."))
    finalizers: tuple[str, ...] = attrs.field(
        default=(), metadata=meta("Finalizers that block deletion.")
    )
    deletion_timestamp: datetime | None = attrs.field(
        default=None, metadata=meta("Set when deletion was requested.")
    )
    creation_timestamp: datetime | None = attrs.field(
        default=None, metadata=meta("Set by the API server at creation.")
    )
    owner_references: tuple[OwnerReference, ...] = attrs.field(
        default=(), metadata=meta("Objects that own this one.")
    )


#: Metadata the API server adds that the operator never needs: accepted and dropped, not reported.
SERVER_MANAGED_METADATA = frozenset({"managedFields", "selfLink", "deletionGracePeriodSeconds"})
