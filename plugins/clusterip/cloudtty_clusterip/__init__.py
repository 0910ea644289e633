"""cloudtty-clusterip: the ``ClusterIP`` exposure backend (in-cluster URL, no external route)."""

from cloudtty_clusterip.backend import ClusterIPBackend, cluster_url

__all__ = ["ClusterIPBackend", "cluster_url"]
