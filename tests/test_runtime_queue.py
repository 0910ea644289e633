"""The work queue: per-key dedup, never two workers on one key, bounded concurrency, per-key
exponential backoff with a cap, requeue-after timers (earliest wins), shutdown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudtty_core.runtime.queue import Backoff, QueueShutDown, WorkQueue, run_workers


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    return anyio.run(main)


def test_a_key_added_many_times_before_it_is_taken_is_processed_once() -> None:
    async def main() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        for key in ("a", "b", "a", "a", "b", "c"):
            queue.add(key)
        assert len(queue) == 3
        taken = [await queue.get() for _ in range(3)]
        for key in taken:
            queue.done(key)
        return taken

    assert run(main) == ["a", "b", "c"]


def test_a_key_added_while_processed_waits_for_done_and_is_not_lost() -> None:
    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        key = await queue.get()
        queue.add("a")  # changed while a worker holds it
        assert len(queue) == 0  # not handed to a second worker
        assert queue.is_busy("a")
        queue.done(key)
        assert len(queue) == 1
        assert await queue.get() == "a"

    run(main)


@settings(max_examples=30, deadline=None)
@given(
    adds=st.lists(st.sampled_from("abcde"), min_size=1, max_size=60),
    workers=st.integers(1, 6),
)
def test_never_two_workers_on_one_key_and_at_most_n_at_once(adds: list[str], workers: int) -> None:
    active: set[str] = set()
    peak = {"keys": 0}
    processed: list[str] = []

    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue()

        async def process(key: str) -> None:
            assert key not in active, f"{key} processed twice at once"
            active.add(key)
            peak["keys"] = max(peak["keys"], len(active))
            await anyio.sleep(0.001)
            if len(processed) < 200 and len(processed) % 3 == 0:
                queue.add(key)  # changes arriving while it is processed
            processed.append(key)
            active.discard(key)

        async with anyio.create_task_group() as group:
            group.start_soon(run_workers, queue, process, workers)
            for key in adds:
                queue.add(key)
                await anyio.sleep(0)
            with anyio.fail_after(10):
                while len(queue) or queue.processing:
                    await anyio.sleep(0.005)
            queue.shut_down()

    run(main)
    assert peak["keys"] <= workers
    assert set(processed) == set(adds)


def test_backoff_doubles_per_key_up_to_the_cap_and_resets_on_success() -> None:
    backoff = Backoff(base=0.01, cap=0.08, jitter=0.0)
    delays = [backoff.next_delay("a") for _ in range(6)]
    assert delays == [0.01, 0.02, 0.04, 0.08, 0.08, 0.08]
    assert backoff.next_delay("b") == 0.01  # per key
    backoff.forget("a")
    assert backoff.failures("a") == 0
    assert backoff.next_delay("a") == 0.01
    with pytest.raises(ValueError, match="base"):
        Backoff(base=0.0)


def test_timers_queue_keys_when_due_and_the_earliest_pending_timer_wins() -> None:
    async def main() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        order: list[str] = []
        async with anyio.create_task_group() as group:
            group.start_soon(queue.run_timers)
            queue.add_after("late", 0.2)
            queue.add_after("soon", 0.05)
            queue.add_after("late", 0.1)  # earlier than its pending timer: replaces it
            queue.add_after("soon", 5.0)  # later than its pending timer: ignored
            assert len(queue) == 0
            assert queue.waiting == 2
            with anyio.fail_after(5):
                for _ in range(2):
                    key = await queue.get()
                    order.append(key)
                    queue.done(key)
            assert queue.waiting == 0
            group.cancel_scope.cancel()
        return order

    assert run(main) == ["soon", "late"]


def test_retry_requeues_after_the_backoff_and_at_least_what_the_server_asked() -> None:
    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue(Backoff(base=0.01, cap=1.0, jitter=0.0))
        assert queue.retry("a") == 0.01
        assert queue.retry("a") == 0.02
        assert queue.retry("b", at_least=0.5) == 0.5
        queue.forget("a")
        assert queue.backoff.failures("a") == 0

    run(main)


def test_a_shut_down_queue_releases_its_workers() -> None:
    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue()
        async with anyio.create_task_group() as group:
            group.start_soon(run_workers, queue, _noop, 3)
            await anyio.sleep(0.01)
            queue.shut_down()
        queue.add("ignored")
        assert len(queue) == 0
        with pytest.raises(QueueShutDown):
            await queue.get()

    run(main)


async def _noop(key: str) -> None:
    pass


def test_keys_added_one_by_one_to_waiting_workers_are_each_processed_once() -> None:
    async def main() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        processed: list[str] = []

        async def process(key: str) -> None:
            processed.append(key)
            await anyio.sleep(0)

        async with anyio.create_task_group() as group:
            group.start_soon(run_workers, queue, process, 8)
            for i in range(500):
                queue.add(f"k{i}")
                if i % 7 == 0:
                    await anyio.sleep(0)  # let workers wait again between some of the keys
            with anyio.fail_after(5):
                while len(processed) < 500:
                    await anyio.sleep(0.01)
            queue.shut_down()
        return processed

    assert sorted(run(main)) == sorted(f"k{i}" for i in range(500))
