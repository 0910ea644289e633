"""The watch stream's reader: chunked bodies de-framed as they arrive, events decoded in the
order the server sent them, a broken stream reported as such."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from typing import Any

import anyio
import anyio.to_thread
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudtty_core.runtime.api import AsyncApi
from cloudtty_core.runtime.client import KubeClient, Resource, TransportError
from cloudtty_core.runtime.informer import Informer
from cloudtty_core.runtime.watchstream import (
    ChunkedDecoder,
    WatchStream,
    _dechunked,
    _plain_chunked_body,
)

CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps")


def _framed(chunks: list[bytes], extension: bool) -> bytes:
    body = b""
    for chunk in chunks:
        size = f"{len(chunk):x}".encode() + (b";name=value" if extension else b"")
        body += size + b"\r\n" + chunk + b"\r\n"
    return body + b"0\r\n\r\n"


def _reader(data: bytes, sizes: list[int]) -> Any:
    """A ``read(n)`` that hands ``data`` out in pieces of the given sizes (a socket's reads)."""
    position, turn = 0, 0

    def read(n: int) -> bytes:
        nonlocal position, turn
        size = min(n, sizes[turn % len(sizes)])
        turn += 1
        piece = data[position : position + size]
        position += len(piece)
        return piece

    return read


@given(
    chunks=st.lists(st.binary(min_size=1, max_size=300), max_size=30),
    sizes=st.lists(st.integers(min_value=1, max_value=500), min_size=1, max_size=10),
    extension=st.booleans(),
)
def test_dechunking_gives_the_payload_whatever_the_reads(
    chunks: list[bytes], sizes: list[int], extension: bool
) -> None:
    pieces = list(_dechunked(_reader(_framed(chunks, extension), sizes)))
    assert b"".join(pieces) == b"".join(chunks)
    assert all(pieces)  # no empty item: each one is worth a look for whole lines


def test_a_connection_that_ends_inside_the_body_is_an_error() -> None:
    cut = _framed([b'{"type":"ADDED"}\n', b"more"], False)[:-5]
    with pytest.raises(ConnectionError):
        list(_dechunked(_reader(cut, [7])))


def test_framing_that_is_not_chunked_is_an_error() -> None:
    with pytest.raises(ValueError):
        list(_dechunked(_reader(b"HTTP/1.1 200 OK\r\n\r\n", [100])))


def test_a_watch_on_the_sandbox_reads_its_socket_and_sees_every_event_in_order(
    sandbox: Any,
) -> None:
    kube = KubeClient.for_url(sandbox.url, sandbox.admin_token)
    start = kube.list(CONFIGMAPS, "default")["metadata"]["resourceVersion"]
    stream = kube.watch(CONFIGMAPS, "default", start, timeout_seconds=30)
    # The fast path is taken: the server's watch answer is a plain chunked body.
    assert _plain_chunked_body(stream._response) is not None
    names = [f"cm-{i}" for i in range(60)]

    def write() -> None:
        for name in names:
            kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": "default"},
                    "data": {"text": json.dumps({"line": "a\nb", "name": name})},
                }
            )

    writer = threading.Thread(target=write)
    writer.start()
    seen: list[str] = []
    try:
        for batch in stream:
            seen += [e["object"]["metadata"]["name"] for e in batch if e["type"] == "ADDED"]
            if len(seen) >= len(names):
                break
    finally:
        stream.close()
        writer.join()
    assert seen == names


def test_a_watch_whose_connection_is_cut_reports_a_broken_stream(sandbox: Any) -> None:
    kube = KubeClient.for_url(sandbox.url, sandbox.admin_token)
    start = kube.list(CONFIGMAPS, "default")["metadata"]["resourceVersion"]
    stream = kube.watch(CONFIGMAPS, "default", start, timeout_seconds=30)
    stream._response.shutdown()  # as a dying server or network would, not through close()
    with pytest.raises(TransportError, match="watch stream broke"):
        for _ in stream:
            pass


# On the event loop ---------------------------------------------------------------------------


def _configmap(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"text": "a\nb"},
    }


def _follow(kube: KubeClient, body: Any, *, timeout_seconds: int = 30, idle: float = 30) -> Any:
    """Open a ConfigMap watch, follow it on an event loop, run ``body(stream, batches)`` in a
    thread meanwhile; return what ``done`` ended with and the batches with their threads."""
    start = kube.list(CONFIGMAPS, "default")["metadata"]["resourceVersion"]
    stream = kube.watch(CONFIGMAPS, "default", start, timeout_seconds=timeout_seconds)
    batches: list[tuple[int, list[str]]] = []

    def on_batch(batch: list[dict[str, Any]]) -> None:
        names = [e["object"]["metadata"]["name"] for e in batch if e["type"] == "ADDED"]
        batches.append((threading.get_ident(), names))

    async def main() -> tuple[int, BaseException | None]:
        done = stream.follow(on_batch, idle_timeout=idle)
        assert done is not None  # the sandbox's watch answer is a plain chunked body
        loop = asyncio.get_running_loop()
        worker = loop.run_in_executor(None, body, stream, batches)
        try:
            await asyncio.wait_for(asyncio.shield(done), 30)
            ended: BaseException | None = None
        except TransportError as error:
            ended = error
        await worker
        return threading.get_ident(), ended

    loop_thread, ended = asyncio.run(main())
    return loop_thread, ended, batches


def test_a_followed_watch_delivers_every_event_in_order_on_the_loop(sandbox: Any) -> None:
    kube = KubeClient.for_url(sandbox.url, sandbox.admin_token)
    names = [f"loop-{i}" for i in range(80)]

    def body(stream: Any, batches: list[tuple[int, list[str]]]) -> None:
        for name in names:
            kube.create(_configmap(name))
        deadline = time.monotonic() + 30
        while sum(len(b) for _, b in batches) < len(names) and time.monotonic() < deadline:
            time.sleep(0.01)
        stream.close()  # from another thread: the loop detaches the socket, then closes it

    loop_thread, ended, batches = _follow(kube, body)
    assert ended is None
    assert [name for _, batch in batches for name in batch] == names
    assert {thread for thread, _ in batches} == {loop_thread}


def test_a_watch_the_server_ends_ends_without_error(sandbox: Any) -> None:
    kube = KubeClient.for_url(sandbox.url, sandbox.admin_token)
    _, ended, _ = _follow(kube, lambda stream, batches: None, timeout_seconds=1)
    assert ended is None


def test_a_followed_watch_whose_connection_is_cut_is_broken(sandbox: Any) -> None:
    kube = KubeClient.for_url(sandbox.url, sandbox.admin_token)

    def cut(stream: Any, batches: Any) -> None:
        time.sleep(0.2)
        stream._response._connection.sock.shutdown(socket.SHUT_RDWR)

    _, ended, _ = _follow(kube, cut)
    assert isinstance(ended, TransportError)
    assert "watch stream broke" in str(ended)


def test_a_followed_watch_silent_past_its_idle_timeout_is_broken(sandbox: Any) -> None:
    kube = KubeClient.for_url(sandbox.url, sandbox.admin_token)
    _, ended, _ = _follow(kube, lambda stream, batches: None, idle=0.5)
    assert isinstance(ended, TransportError)
    assert "nothing for" in str(ended)


def test_a_body_the_loop_cannot_read_is_left_to_a_thread() -> None:
    class Compressed:
        headers = {"Content-Encoding": "gzip"}
        chunked = True

    async def main() -> Any:
        return WatchStream(Compressed(), TransportError).follow(lambda batch: None, 1.0)

    assert asyncio.run(main()) is None


def test_an_informer_reads_in_a_thread_when_the_loop_cannot(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WatchStream, "follow", lambda self, on_batch, idle_timeout: None)
    kube = KubeClient.for_url(sandbox.url, sandbox.admin_token)

    async def main() -> list[str]:
        informer = Informer(CONFIGMAPS, kube, AsyncApi(kube), namespace="default")
        seen: list[str] = []
        informer.add_handler(lambda t, obj, old: seen.append(obj["metadata"]["name"]))
        async with anyio.create_task_group() as group:
            group.start_soon(informer.run)
            await informer.synced.wait()
            for i in range(20):
                await anyio.to_thread.run_sync(kube.create, _configmap(f"threaded-{i}"))
            with anyio.fail_after(30):
                while len(seen) < 20:
                    await anyio.sleep(0.02)
            group.cancel_scope.cancel()
        return seen

    assert asyncio.run(main()) == [f"threaded-{i}" for i in range(20)]


@given(
    chunks=st.lists(st.binary(min_size=1, max_size=200), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=12),
)
def test_the_decoder_fed_in_any_pieces_gives_the_payload(
    chunks: list[bytes], cuts: list[int]
) -> None:
    framed = _framed(chunks, False)
    bounds = sorted({min(c, len(framed)) for c in cuts} | {0, len(framed)})
    decoder = ChunkedDecoder()
    payload = b"".join(decoder.feed(framed[a:b]) for a, b in itertools.pairwise(bounds))
    assert payload == b"".join(chunks)
    assert decoder.finished
