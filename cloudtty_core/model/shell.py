"""The CloudShell resource: metadata, spec and status, and the names of its API."""

from __future__ import annotations

import attrs

from cloudtty_core.model.fields import meta
from cloudtty_core.model.objectmeta import ObjectMeta
from cloudtty_core.model.spec import CloudShellSpec
from cloudtty_core.model.status import CloudShellStatus

GROUP = "cloudshell.cloudtty.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "CloudShell"
PLURAL = "cloudshells"
SINGULAR = "cloudshell"
# Not "cs": kubectl already resolves that to componentstatuses.
SHORT_NAMES = ("csh",)


@attrs.frozen
class CloudShell:
    """A request for a browser terminal, as stored in the API server."""

    metadata: ObjectMeta = attrs.field(metadata=meta("Standard object metadata.", required=True))
    spec: CloudShellSpec = attrs.field(
        factory=CloudShellSpec, metadata=meta("What the user asks for.")
    )
    status: CloudShellStatus = attrs.field(
        factory=CloudShellStatus, metadata=meta("What the operator observed.")
    )

    @property
    def name(self) -> str:
        """metadata.name."""
        return self.metadata.name

    @property
    def namespace(self) -> str:
        """metadata.namespace."""
        return self.metadata.namespace
