"""``exposureMode: ClusterIP``: a ClusterIP Service in front of the shell's worker.

The terminal is reachable only from inside the cluster (another pod, ``kubectl port-forward``,
a proxy the platform team runs). Unlike CloudTTY, which leaves ``accessUrl`` empty in this mode,
the shell reports the in-cluster URL of its Service.
"""

from __future__ import annotations

import attrs

from cloudtty_core import (
    Exposure,
    ExposureRequest,
    KindRef,
    Manifest,
    WorkerRef,
    worker_service,
)

__all__ = ["ClusterIPBackend", "cluster_url"]


def cluster_url(worker: WorkerRef, path: str = "/") -> str:
    """``http://<service>.<namespace>.svc.cluster.local:<port><path>``."""
    return f"http://{worker.service_name}.{worker.namespace}.svc.cluster.local:{worker.port}{path}"


@attrs.frozen
class ClusterIPBackend:
    """Exposes a shell through a ClusterIP Service; the URL is known at once (cluster DNS)."""

    name: str = "ClusterIP"

    @property
    def watched_kinds(self) -> tuple[KindRef, ...]:
        """Nothing beyond the Services the runtime always observes."""
        return ()

    def expose(self, request: ExposureRequest) -> Exposure:
        """The Service, and its cluster-DNS URL. The terminal serves at ``/``."""
        return Exposure(
            owned=(worker_service(request.worker, "ClusterIP"),),
            url=cluster_url(request.worker),
            base_path="/",
        )

    def release(self, request: ExposureRequest) -> tuple[Manifest, ...]:
        """Nothing is shared: the Service goes with the shell."""
        return ()
