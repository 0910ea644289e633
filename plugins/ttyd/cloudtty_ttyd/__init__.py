"""cloudtty's ``ttyd`` image backend: the upstream cloudshell image, one cold pod per shell."""

from cloudtty_ttyd.backend import DEFAULT_IMAGE, TtydBackend, ttyd_args

__all__ = ["DEFAULT_IMAGE", "TtydBackend", "ttyd_args"]
