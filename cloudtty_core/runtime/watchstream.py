"""Reading a watch: the body of an open watch answer, as batches of decoded events.

The official client opens the watch (request, TLS, credentials, status and headers); what
follows is an HTTP/1.1 chunked body of newline-delimited JSON events, read here in one of two
ways:

- **on the event loop** (:meth:`WatchStream.follow`): the connection's socket joins the loop's
  selector and the loop reads whatever arrived, de-frames it, decodes the events and hands them
  to the cache directly. No thread waits on the stream, so an event costs no hand-over and no
  switch of the interpreter lock: in a burst a thread per watch, each woken for every event,
  cost the operator about as much CPU as decoding the events;
- **in a thread** (iterating the stream): for bodies the loop cannot read so (compressed, or
  not chunked), and for callers without an asyncio loop. A plain chunked body is still read
  from the socket several chunks a read; anything else takes urllib3's reader.

Either way a stream that ends inside its body, or that says nothing for longer than its idle
timeout, is a :class:`~cloudtty_core.runtime.client.TransportError`.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from cloudtty_core.model import Manifest

__all__ = ["ChunkedDecoder", "EventLines", "WatchStream"]

READ_SIZE = 65536
"""Bytes asked of the socket at a time."""

Batch = list[Manifest]


class ChunkedDecoder:
    """De-frames an HTTP/1.1 chunked body fed in arbitrary pieces.

    :meth:`feed` returns the payload the pieces so far complete. :attr:`finished` is set at
    the last (empty) chunk; :attr:`complete` once the trailer section after it has ended too,
    and :attr:`rest` then holds what was fed beyond the body (on a kept-alive connection, the
    start of whatever comes next). Framing that is not chunked encoding raises ValueError.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self.finished = False
        self.complete = False
        self.rest = b""

    def feed(self, data: bytes) -> bytes:
        """The payload that ``data`` completes (often several chunks; b"" for none)."""
        buffer = self._buffer + data if self._buffer else data
        payload: list[bytes] = []
        position = 0
        while not self.finished:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                break
            size = int(buffer[position:line_end].split(b";", 1)[0], 16)
            if size == 0:
                self.finished = True
                position = line_end + 2
                break
            start = line_end + 2
            end = start + size
            if len(buffer) < end + 2:
                break
            payload.append(buffer[start:end])
            position = end + 2
        while self.finished and not self.complete:
            # Trailer fields, if any, up to an empty line: none of them matters here.
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                break
            self.complete = line_end == position
            position = line_end + 2
        if self.complete:
            self._buffer, self.rest = b"", buffer[position:]
        else:
            self._buffer = buffer[position:]
        return b"".join(payload)


class EventLines:
    """Splits a payload fed in pieces into newline-delimited JSON events, decoded."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, payload: bytes) -> Batch:
        """The events whose line ``payload`` completes."""
        if b"\n" not in payload:
            self._pending += payload
            return []
        *lines, self._pending = (self._pending + payload).split(b"\n")
        return [decode_json(line) for line in lines if line.strip()]

    def rest(self) -> Batch:
        """At the end of the body: an event without a final newline, if any."""
        pending, self._pending = self._pending, b""
        return [decode_json(pending)] if pending.strip() else []


def decode_json(data: bytes) -> Any:
    """JSON (``orjson``, and the standard library for what it refuses, such as an integer
    beyond 64 bits)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


class WatchStream:
    """An open watch: iterate it (in a thread) or :meth:`follow` it (on the event loop) to
    get batches of events, each a decoded ``{type, object}``.

    A batch holds the events that arrived together. :meth:`close` may be called from any
    thread; it unblocks a pending read.

    :param response: the official client's urllib3 answer, its body not read yet.
    :param broken: makes the error for a stream that breaks (given the reason).
    """

    def __init__(self, response: Any, broken: Callable[[str], Exception]) -> None:
        self._response = response
        self._broken = broken
        self._closed = False
        self._reader: _LoopReader | None = None

    # In a thread ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Batch]:
        lines = EventLines()
        socket_file = _plain_chunked_body(self._response)
        pieces: Iterator[bytes] = (
            _dechunked(socket_file.read1)
            if socket_file is not None
            else self._response.stream(None, decode_content=True)
        )
        try:
            for piece in pieces:
                if self._closed:
                    return
                batch = lines.feed(piece)
                if batch:
                    yield batch
            batch = lines.rest()
            if batch and not self._closed:
                yield batch
        except Exception as error:
            if self._closed:
                return
            raise self._broken(f"{type(error).__name__}: {error}") from None
        finally:
            self.close()

    # On the event loop ---------------------------------------------------------------------

    def follow(
        self, on_batch: Callable[[Batch], None], idle_timeout: float
    ) -> asyncio.Future[None] | None:
        """(Event loop) Read the stream on the running loop, calling ``on_batch`` with each
        batch as it arrives.

        Returns a future done when the stream ends (None), is closed (None), breaks or says
        nothing for ``idle_timeout`` seconds (the ``broken`` error), or ``on_batch`` raises
        (its error); the stream is closed then. Returns None, and reads nothing, when the body
        is not one the loop can read (see the module), or the loop has no selector: iterate
        the stream in a thread then.
        """
        loop = asyncio.get_running_loop()
        if not isinstance(loop, asyncio.SelectorEventLoop):
            return None  # a loop without add_reader (Windows' proactor, say)
        socket_file = _plain_chunked_body(self._response)
        sock = getattr(getattr(self._response, "_connection", None), "sock", None)
        if socket_file is None or sock is None or self._closed:
            return None
        sock.setblocking(False)
        try:
            # What the official client's header parsing read ahead stays in its buffer; with
            # the socket non-blocking, peeking takes it without waiting for more.
            buffered = socket_file.peek(READ_SIZE)
        except (BlockingIOError, ssl.SSLWantReadError):
            buffered = b""
        if buffered:
            socket_file.read(len(buffered))
        reader = self._reader = _LoopReader(self, loop, sock, on_batch, idle_timeout)
        reader.start(buffered)
        return reader.done

    # Either way ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the stream (idempotent, thread-safe)."""
        reader = self._reader
        if reader is not None and not reader.on_loop_thread():
            # The socket is the loop's: it leaves the selector before it is closed (so its
            # descriptor number, once reused, is never mistaken for this stream's).
            self._closed = True
            reader.loop.call_soon_threadsafe(self._close_now)
            return
        self._close_now()

    def _close_now(self) -> None:
        reader = self._reader
        if reader is not None:
            reader.detach()
        if self._closed and reader is None:
            return
        self._closed = True
        self._reader = None
        response = self._response
        try:
            # Unblock a read in progress in another thread, then close the connection (so
            # the server sees the stream end; it never goes back to the pool half-read).
            shutdown = getattr(response, "shutdown", None)
            if shutdown is not None and reader is None:
                shutdown()
        except Exception:  # the socket may be gone already
            pass
        try:
            response.close()
        except Exception:  # idem
            pass


class _LoopReader:
    """A watch body read by the event loop: its socket in the loop's selector."""

    def __init__(
        self,
        stream: WatchStream,
        loop: asyncio.AbstractEventLoop,
        sock: Any,
        on_batch: Callable[[Batch], None],
        idle_timeout: float,
    ) -> None:
        self.stream = stream
        self.loop = loop
        self.done: asyncio.Future[None] = loop.create_future()
        self._sock = sock
        self._fd = sock.fileno()
        self._tls = isinstance(sock, ssl.SSLSocket)
        self._on_batch = on_batch
        self._decoder = ChunkedDecoder()
        self._lines = EventLines()
        self._idle_timeout = idle_timeout
        self._last_data = loop.time()
        self._timer: asyncio.TimerHandle | None = loop.call_later(idle_timeout, self._check_idle)
        self._thread = threading.get_ident()
        self._reading = False

    def on_loop_thread(self) -> bool:
        return threading.get_ident() == self._thread

    def start(self, buffered: bytes) -> None:
        if buffered:
            self._take(buffered)
        if not self.done.done():
            self.loop.add_reader(self._fd, self._readable)
            self._reading = True
            if self._tls and self._sock.pending():
                self._readable()  # TLS records decrypted already wake no selector

    def _readable(self) -> None:
        try:
            while not self.done.done():
                data = self._sock.recv(READ_SIZE)
                if not data:
                    self._end(ConnectionError("the server closed the connection"))
                    return
                self._take(data)
                if not (self._tls and self._sock.pending()):
                    return
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
            return
        except Exception as error:
            self._end(error)

    def _take(self, data: bytes) -> None:
        self._last_data = self.loop.time()
        try:
            batch = self._lines.feed(self._decoder.feed(data))
            if self._decoder.finished:
                batch += self._lines.rest()
        except Exception as error:  # framing or JSON that is not what a watch sends
            self._end(error)
            return
        if batch:
            try:
                self._on_batch(batch)
            except BaseException as error:
                self._finish(error)
                return
        if self._decoder.finished:
            self._finish(None)

    def _end(self, error: BaseException) -> None:
        """The stream broke (not at its last chunk)."""
        if self._decoder.finished:
            self._finish(None)
        else:
            self._finish(self.stream._broken(f"{type(error).__name__}: {error}"))

    def _check_idle(self) -> None:
        self._timer = None
        silent = self.loop.time() - self._last_data
        if silent >= self._idle_timeout:
            self._end(TimeoutError(f"nothing for {silent:.0f}s"))
        elif not self.done.done():
            self._timer = self.loop.call_later(self._idle_timeout - silent, self._check_idle)

    def _finish(self, error: BaseException | None) -> None:
        done = self.done
        if not done.done():
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
        self.stream.close()  # detaches this reader

    def detach(self) -> None:
        """Leave the loop's selector and stop the idle timer; the future ends (None) if it
        had not."""
        if self._reading:
            self._reading = False
            self.loop.remove_reader(self._fd)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.done.done():
            self.done.set_result(None)


def _plain_chunked_body(response: Any) -> Any:
    """The buffered socket file of ``response`` when its body is chunked, not compressed and
    not read yet; None otherwise."""
    encoding = str(response.headers.get("Content-Encoding") or "identity").lower()
    original = getattr(response, "_fp", None)
    socket_file = getattr(original, "fp", None)
    if (
        not getattr(response, "chunked", False)
        or encoding != "identity"
        or getattr(original, "chunk_left", None) is not None
        or not hasattr(socket_file, "read1")
    ):
        return None
    return socket_file


def _dechunked(read: Callable[[int], bytes]) -> Iterator[bytes]:
    """The payload of a chunked body read with ``read``: each item is what one read brought,
    less the framing. Raises ConnectionError when the connection ends before the last
    chunk."""
    decoder = ChunkedDecoder()
    while not decoder.finished:
        data = read(READ_SIZE)
        if not data:
            raise ConnectionError("the connection ended inside the chunked body")
        payload = decoder.feed(data)
        if payload:
            yield payload
