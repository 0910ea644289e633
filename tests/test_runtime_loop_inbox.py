"""The loop inbox: calls posted from threads run on the event loop, in order, in batches."""

from __future__ import annotations

import asyncio
import threading

from cloudtty_core.runtime.inbox import LoopInbox, inbox_of


def test_calls_from_many_threads_all_run_on_the_loop_in_each_threads_order() -> None:
    threads, calls_each = 8, 500
    seen: list[tuple[int, int]] = []
    loop_threads: set[int] = set()

    def record(thread: int, call: int) -> None:
        loop_threads.add(threading.get_ident())
        seen.append((thread, call))

    async def main() -> int:
        inbox = inbox_of(asyncio.get_running_loop())
        assert inbox_of(asyncio.get_running_loop()) is inbox  # one inbox per loop
        done = asyncio.Event()
        loop = asyncio.get_running_loop()

        def post_all(thread: int) -> None:
            for call in range(calls_each):
                inbox.post(record, thread, call)

        workers = [threading.Thread(target=post_all, args=(t,)) for t in range(threads)]
        for worker in workers:
            worker.start()

        def check() -> None:
            if len(seen) == threads * calls_each:
                done.set()
            else:
                loop.call_later(0.01, check)

        check()
        await asyncio.wait_for(done.wait(), 30)
        for worker in workers:
            worker.join()
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert loop_threads == {loop_thread}
    for thread in range(threads):
        assert [c for t, c in seen if t == thread] == list(range(calls_each))


def test_calls_posted_while_the_loop_is_busy_share_one_wake_up() -> None:
    ran: list[int] = []

    async def main() -> int:
        loop = asyncio.get_running_loop()
        inbox = LoopInbox(loop)
        wake_ups = 0
        original = loop.call_soon_threadsafe

        def counting(*args: object) -> asyncio.Handle:
            nonlocal wake_ups
            wake_ups += 1
            return original(*args)  # type: ignore[arg-type]

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        try:
            # The loop does not run while this coroutine holds it: a burst of posts from a
            # thread finds the wake-up already pending.
            poster = threading.Thread(
                target=lambda: [inbox.post(ran.append, i) for i in range(100)]
            )
            poster.start()
            poster.join()
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        finally:
            loop.call_soon_threadsafe = original  # type: ignore[method-assign]
        return wake_ups

    assert asyncio.run(main()) == 1
    assert ran == list(range(100))


def test_a_failing_call_does_not_strand_the_calls_behind_it() -> None:
    ran: list[str] = []

    def broken() -> None:
        raise ValueError("broken on purpose")

    async def main() -> None:
        inbox = LoopInbox(asyncio.get_running_loop())
        thread = threading.Thread(
            target=lambda: (inbox.post(broken), inbox.post(ran.append, "after"))
        )
        thread.start()
        thread.join()
        for _ in range(3):
            await asyncio.sleep(0)

    asyncio.run(main())
    assert ran == ["after"]


def test_posting_to_a_closed_loop_is_dropped_quietly() -> None:
    loop = asyncio.new_event_loop()
    inbox = LoopInbox(loop)
    loop.close()
    inbox.post(print, "never")  # no exception: the operator is gone, nobody waits
