"""The one-line termination message the operator reads from the pod's container status."""

from __future__ import annotations

import enum
import logging
import os

from cloudtty_webterm.paths import pod_path

log = logging.getLogger(__name__)

TERMINATION_LOG_ENV = "CLOUDTTY_TERMINATION_LOG"
DEFAULT_TERMINATION_LOG = "/dev/termination-log"


class ExitReason(enum.StrEnum):
    """Why the terminal server ended; the value is the termination message."""

    ONCE = "once"
    IDLE = "idle"
    TTL = "ttl"
    EXIT = "exit"
    SIGNAL = "signal"


def termination_log_path(environ: dict[str, str] | None = None) -> str:
    """The termination-message file: ``$CLOUDTTY_TERMINATION_LOG`` or ``/dev/termination-log``."""
    env = os.environ if environ is None else environ
    return str(pod_path(env.get(TERMINATION_LOG_ENV) or DEFAULT_TERMINATION_LOG, env))


def write_termination_message(reason: ExitReason, path: str | None = None) -> bool:
    """Write ``reason`` as the termination message; return False when there is nowhere to write.

    Outside a pod the file usually does not exist and cannot be created: that is not an error.
    """
    target = path or termination_log_path()
    try:
        with open(target, "w", encoding="utf-8") as f:
            f.write(reason.value + "\n")
    except OSError as exc:
        log.debug("no termination log at %s: %s", target, exc)
        return False
    return True
