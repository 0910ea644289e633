"""The operator process's garbage collector settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from cloudtty_core.runtime.collector import THRESHOLDS, collect_rarely, set_aside_long_lived


@pytest.fixture
def restored_collector() -> Iterator[None]:
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_collect_rarely_raises_every_threshold(restored_collector: None) -> None:
    defaults = gc.get_threshold()
    collect_rarely()
    assert gc.get_threshold() == THRESHOLDS
    assert all(new >= old for new, old in zip(THRESHOLDS, defaults, strict=True))


def test_what_lives_when_the_caches_synced_is_set_aside(restored_collector: None) -> None:
    cache = [{"metadata": {"name": f"shell-{i}"}} for i in range(1000)]
    gc.unfreeze()
    set_aside_long_lived()
    assert gc.get_freeze_count() >= len(cache)
    # Frozen: no generation holds it, so no collection walks it again.
    assert all(tracked is not cache for tracked in gc.get_objects(generation=2))
