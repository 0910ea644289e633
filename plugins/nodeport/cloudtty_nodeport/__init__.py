"""cloudtty-nodeport: the ``NodePort`` exposure backend (CloudTTY's default mode)."""

from cloudtty_nodeport.backend import NodePortBackend, node_address, node_port

__all__ = ["NodePortBackend", "node_address", "node_port"]
