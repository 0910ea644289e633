"""Processes that die with the sandbox, even when the sandbox is killed with SIGKILL.

A graceful stop sends SIGTERM, then SIGKILL, to every process group the sandbox started; a
SIGKILL of the sandbox itself (or of the program that embeds it, such as the demo) runs no code,
so the kernel must do it: each child asks, between fork and exec, for ``PR_SET_PDEATHSIG`` — a
signal delivered when the thread that started it exits. The sandbox starts processes from its
event-loop thread, which lives exactly as long as the sandbox.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import sys
import termios
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1


def _load_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Resolved once in the parent: the child runs only this foreign call between fork and exec.
_PRCTL = _load_prctl()


def die_with_parent(
    sig: signal.Signals = signal.SIGKILL, *, controlling_tty: bool = False
) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``sig`` when its parent thread exits.

    With ``controlling_tty`` the child (a new session's leader, its stdin a terminal) also takes
    that terminal as its controlling terminal, so job control and Ctrl-C work in it. ``None``
    where there is nothing to do (no ``prctl``: the graceful stop still applies there).
    """
    if _PRCTL is None and not controlling_tty:
        return None
    parent = os.getpid()
    prctl = _PRCTL
    number = int(sig)
    ioctl, set_ctty = fcntl.ioctl, termios.TIOCSCTTY

    def arm() -> None:
        if controlling_tty:
            ioctl(0, set_ctty, 0)
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, number, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before the request was made
                os.kill(os.getpid(), number)

    return arm
