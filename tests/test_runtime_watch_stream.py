"""The watch stream's reader: chunked bodies de-framed as they arrive, events decoded in the
order the server sent them, a broken stream reported as such."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudtty_core.runtime.client import (
    KubeClient,
    Resource,
    TransportError,
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
