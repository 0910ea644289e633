"""cloudtty-ingress: the ``Ingress`` exposure backend (per-shell or shared Ingress)."""

from cloudtty_ingress.backend import IngressBackend
from cloudtty_ingress.classes import DEFAULT_CLASS_ANNOTATION, resolve_ingress_class
from cloudtty_ingress.routing import DEFAULT_PATH_PREFIX, concrete_host, route_path
from cloudtty_ingress.shared import shell_paths, with_entry, without_entries

__all__ = [
    "DEFAULT_CLASS_ANNOTATION",
    "DEFAULT_PATH_PREFIX",
    "IngressBackend",
    "concrete_host",
    "resolve_ingress_class",
    "route_path",
    "shell_paths",
    "with_entry",
    "without_entries",
]
