"""The threads that run the operator's blocking requests: answers and refusals come back to
the caller, no more than ``size`` run at once, the caller's context goes along, a cancelled
caller still waits for its request to finish, and idle threads end."""

from __future__ import annotations

import contextvars
import threading
import time

import anyio
import pytest

from cloudtty_core.runtime.threads import RequestThreads

pytestmark = pytest.mark.anyio

shell_var: contextvars.ContextVar[str] = contextvars.ContextVar("shell_var", default="none")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_answers_and_refusals_come_back_to_their_caller() -> None:
    threads = RequestThreads(4)

    def refuse() -> None:
        raise LookupError("no such shell")

    assert await threads.call(lambda: 6 * 7) == 42
    with pytest.raises(LookupError, match="no such shell"):
        await threads.call(refuse)
    results: list[int] = []

    async def one(i: int) -> None:
        results.append(await threads.call(lambda: i * i))

    async with anyio.create_task_group() as group:
        for i in range(50):
            group.start_soon(one, i)
    assert sorted(results) == [i * i for i in range(50)]


async def test_no_more_than_size_calls_run_at_once() -> None:
    threads = RequestThreads(3)
    running = 0
    most = 0
    lock = threading.Lock()

    def slow() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    async with anyio.create_task_group() as group:
        for _ in range(12):
            group.start_soon(threads.call, slow)
    assert most == 3
    assert threads.threads <= 3


async def test_the_callers_context_goes_along() -> None:
    threads = RequestThreads(2)
    shell_var.set("team-a/alice")
    assert await threads.call(shell_var.get) == "team-a/alice"


async def test_a_cancelled_caller_waits_for_its_request_to_finish() -> None:
    threads = RequestThreads(1)
    finished = threading.Event()

    def request() -> str:
        time.sleep(0.2)
        finished.set()
        return "written"

    with anyio.move_on_after(0.05) as scope:
        await threads.call(request)
    assert scope.cancelled_caught
    # The caller came back only once the request was done: never half-sent.
    assert finished.is_set()


async def test_idle_threads_end() -> None:
    threads = RequestThreads(4, idle_seconds=0.05)
    async with anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(threads.call, lambda: time.sleep(0.01))
    assert threads.threads > 0
    deadline = time.monotonic() + 5
    while threads.threads and time.monotonic() < deadline:
        await anyio.sleep(0.02)
    assert threads.threads == 0
    assert await threads.call(lambda: "again") == "again"  # and come back when needed
