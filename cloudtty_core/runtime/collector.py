"""How the operator's process collects cyclic garbage.

The caches keep hundreds of thousands of long-lived containers (the warm pool's objects stay
decoded), and a burst allocates a few dicts per field of every object it reads or writes.
With CPython's default thresholds (700, 10, 10) the collector ran about a hundred times a
second in a 1,000-shell burst and walked the whole heap every second or so: about 5 % of the
operator's CPU. Almost nothing the operator makes is cyclic (JSON objects are trees), so
collecting less often costs little memory.

Only :func:`~cloudtty_core.runtime.operator.run_operator` -- a process of its own -- tunes the
collector; an operator embedded in another program leaves that program's settings alone.
"""

from __future__ import annotations

import gc
from typing import Final

__all__ = ["THRESHOLDS", "collect_rarely", "set_aside_long_lived"]

THRESHOLDS: Final = (5000, 20, 100)
"""Allocations before a young collection; young collections before a middle one; middle
collections before a full one (which CPython also defers until a quarter of the old objects
is new)."""


def collect_rarely() -> None:
    """Set the process's collector to :data:`THRESHOLDS`."""
    gc.set_threshold(*THRESHOLDS)


def set_aside_long_lived() -> None:
    """Exclude everything alive now from future collections (the loaded plugins, the synced
    caches): they live as long as the process, and full collections no longer walk them."""
    gc.collect()
    gc.freeze()
