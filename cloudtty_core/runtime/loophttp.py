"""Requests to the API server written and read by the event loop, on kept-alive connections.

The official client is synchronous, so its requests run in threads. In a burst that costs the
operator more than the requests themselves: a request in a thread took about 630 µs of CPU,
against 380 - 485 µs for the same request alone, the difference being the interpreter lock
changing hands among the event loop and the request threads, and the loop's time is what
every shell waits for. Here the loop writes each request and reads its answer itself, like it
reads watches (:mod:`cloudtty_core.runtime.watchstream`): no thread, no hand-over.

What makes a request right stays the official client's: the server URL, TLS settings (CA,
client certificate, verification, server name), default headers and credentials (asked of it
through its refresh hook, in a thread, since an exec plugin may run a program) come from its
configuration, and the requests are the very ones the synchronous client sends
(:mod:`cloudtty_core.runtime.verbs`). :meth:`LoopHttp.for_client` returns None for what it
does not cover the way the official client would (a proxy, a hostname to assert other than
the server's); the runtime then sends through the official client in threads.

HTTP/1.1 as the API server speaks it: one request at a time per connection, answers framed
by Content-Length or chunked, kept alive unless the server says otherwise. Idempotent
requests on a reused connection that closed before answering are sent once more on a new one,
as urllib3 does for the official client.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import urlsplit

from cloudtty_core.model import Manifest

from .answer import Answer
from .client import KubeClient, TransportError, encode_body
from .verbs import ApiRequest
from .watchstream import ChunkedDecoder

__all__ = ["LoopHttp", "ResponseReader"]

MAX_HEAD_BYTES = 65536
"""An answer whose status line and headers are longer than this is refused."""

RETRIED_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
"""Methods sent once more when a reused connection closed before answering (urllib3's)."""

BlockingRunner = Callable[[Callable[[], Any]], Awaitable[Any]]


class ResponseReader:
    """One HTTP/1.1 answer fed in arbitrary pieces: status, headers and body.

    :meth:`feed` returns True once the answer is complete (:meth:`feed_eof` when the
    connection ended); bytes beyond it make the connection unfit to keep. Interim (1xx)
    answers are skipped. What is not HTTP/1.x raises ValueError.
    """

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.keep_alive = True
        self.received = False
        self._head = b""
        self._pieces: list[bytes] = []
        self._have = 0
        self._length: int | None = None
        self._chunks: ChunkedDecoder | None = None
        self._until_close = False
        self.complete = False

    def feed(self, data: bytes) -> bool:
        """Take ``data``; whether the answer is complete."""
        self.received = True
        if not self.status:
            data = self._take_head(data)
            if not self.status:
                return False
        if self._chunks is not None:
            payload = self._chunks.feed(data)
            if payload:
                self._pieces.append(payload)
            if self._chunks.complete:
                self.complete = True
                self.keep_alive = self.keep_alive and not self._chunks.rest
        elif self._length is not None:
            if data:
                self._pieces.append(data)
                self._have += len(data)
            if self._have >= self._length:
                self.complete = True
                self.keep_alive = self.keep_alive and self._have == self._length
        elif data:
            self._pieces.append(data)
        return self.complete

    def feed_eof(self) -> bool:
        """The connection ended: whether that completes the answer (a body framed by the
        end of the connection)."""
        if self.status and self._until_close:
            self.complete = True
        return self.complete

    def body(self) -> bytes:
        """The body, decoded from gzip or deflate where the server compressed it."""
        data = b"".join(self._pieces)
        if self._length is not None:
            data = data[: self._length]
        encoding = self.headers.get("content-encoding", "identity").lower()
        if encoding == "gzip":
            return zlib.decompress(data, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            return zlib.decompress(data)
        if encoding not in ("identity", ""):
            raise ValueError(f"content encoding {encoding!r} is not one this client reads")
        return data

    def _take_head(self, data: bytes) -> bytes:
        """Take the status line and headers (skipping interim answers); what follows them."""
        buffer = self._head + data if self._head else data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    raise ValueError("the answer's headers are too long")
                self._head = buffer
                return b""
            head, buffer = buffer[:end].decode("latin-1"), buffer[end + 4 :]
            status_line, *lines = head.split("\r\n")
            version, _, rest = status_line.partition(" ")
            if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
                raise ValueError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
            status = int(rest[:3])
            if 100 <= status < 200 and status != 101:
                continue
            break
        self._head = b""
        headers = self.headers
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon:
                raise ValueError(f"not a header line: {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        self.keep_alive = "close" not in connection and (
            version == "HTTP/1.1" or "keep-alive" in connection
        )
        if status in (101, 204, 304):
            self._length = 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunks = ChunkedDecoder()
        elif "content-length" in headers:
            length = headers["content-length"]
            if not length.isdigit():
                raise ValueError(f"not a Content-Length: {length[:40]!r}")
            self._length = int(length)
        else:
            self._until_close = True
            self.keep_alive = False
        self.status = status
        return buffer


class _Exchange:
    """A request on a connection: its answer, what of it has arrived, and its read timeout."""

    __slots__ = ("answer", "last_data", "read_timeout", "reader", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float) -> None:
        self.answer: Answer[ResponseReader] = Answer(loop)
        self.reader = ResponseReader()
        self.read_timeout = read_timeout
        self.last_data = 0.0
        self.timer: asyncio.TimerHandle | None = None


class _Connection(asyncio.Protocol):
    """One kept-alive connection to the API server, one request at a time."""

    def __init__(self, http: LoopHttp) -> None:
        self.http = http
        self.transport: asyncio.Transport | None = None
        self.exchange: _Exchange | None = None
        self.closed = False
        self.served = 0

    # Protocol ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though not necessarily a subclass of asyncio's (uvloop's is not).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:
            # Bytes nobody asked for: the connection is not one to send on again.
            self.close()
            return
        exchange.last_data = self.http.loop.time()
        try:
            complete = exchange.reader.feed(data)
        except Exception as error:
            self._fail(error)
            return
        if complete:
            self._answer()

    def eof_received(self) -> bool:
        exchange = self.exchange
        if exchange is not None and exchange.reader.feed_eof():
            self._answer()
        return False  # the transport closes; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.http._forget(self)
        if self.exchange is not None:
            self._fail(exc or ConnectionResetError("the server closed the connection"))

    # Requests ------------------------------------------------------------------------------

    def send(self, message: bytes, read_timeout: float) -> _Exchange:
        """Write one request; its exchange, whose answer is the answer's reader."""
        assert self.transport is not None
        assert self.exchange is None
        loop = self.http.loop
        exchange = self.exchange = _Exchange(loop, read_timeout)
        exchange.last_data = loop.time()
        exchange.timer = loop.call_later(read_timeout, self._time_out, exchange)
        self.transport.write(message)
        return exchange

    def closing(self) -> bool:
        transport = self.transport
        return self.closed or transport is None or transport.is_closing()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _answer(self) -> None:
        exchange = self.exchange
        assert exchange is not None
        self.exchange = None
        if exchange.timer is not None:
            exchange.timer.cancel()
        self.served += 1
        if exchange.reader.keep_alive and not self.closed:
            self.http._release(self)
        else:
            self.close()
        exchange.answer.give(exchange.reader)

    def _fail(self, error: BaseException) -> None:
        exchange = self.exchange
        self.exchange = None
        self.close()
        if exchange is None:
            return
        if exchange.timer is not None:
            exchange.timer.cancel()
        exchange.answer.give(error=error)

    def _time_out(self, exchange: _Exchange) -> None:
        # The read timeout bounds the wait between bytes, as urllib3's does, not the whole
        # answer: a large answer still arriving is not cut. One timer per request, pushed
        # back when it fires, costs less than one re-armed for every piece of data.
        if self.exchange is not exchange:
            return
        loop = self.http.loop
        silent = loop.time() - exchange.last_data
        if silent < exchange.read_timeout:
            exchange.timer = loop.call_later(
                exchange.read_timeout - silent, self._time_out, exchange
            )
            return
        exchange.timer = None
        self._fail(TimeoutError(f"nothing from the server for {silent:.1f}s"))


class LoopHttp:
    """The API server's connections for one event loop (see the module).

    :param client: the runtime's client, whose configuration and request building it uses.
    :param size: connections at most, and so requests in flight.
    :param run_blocking: runs a blocking call off the loop (asking for fresh credentials).
    :param host, port: where the API server listens.
    :param tls: the TLS context, None for plain HTTP.
    :param server_hostname: the name to present and verify, when not ``host``.
    """

    def __init__(
        self,
        client: KubeClient,
        size: int,
        run_blocking: BlockingRunner,
        *,
        host: str,
        port: int,
        tls: ssl.SSLContext | None,
        server_hostname: str | None = None,
        socket_options: list[tuple[int, int, int]] | None = None,
    ) -> None:
        self.client = client
        self.loop = asyncio.get_running_loop()
        self.size = max(size, 1)
        self._run_blocking = run_blocking
        self._host = host
        self._port = port
        self._tls = tls
        self._server_hostname = server_hostname
        self._socket_options = socket_options or []
        bracketed = f"[{host}]" if ":" in host else host
        default_port = 443 if tls is not None else 80
        self._host_header = bracketed if port == default_port else f"{bracketed}:{port}"
        self._slots = asyncio.Semaphore(self.size)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()

    @classmethod
    def for_client(
        cls, client: KubeClient, size: int, run_blocking: BlockingRunner
    ) -> LoopHttp | None:
        """(Event loop) Connections for ``client``'s server; None when its configuration asks
        for what only the official client's own path does (see the module)."""
        configuration = client.api_client.configuration
        if getattr(configuration, "proxy", None):
            return None
        assert_hostname = getattr(configuration, "assert_hostname", None)
        if assert_hostname not in (None, True, False):
            return None
        url = urlsplit(str(configuration.host))
        if url.scheme not in ("http", "https") or not url.hostname:
            return None
        tls = None
        if url.scheme == "https":
            tls = _tls_context(configuration, verify_hostname=assert_hostname is not False)
        return cls(
            client,
            size,
            run_blocking,
            host=url.hostname,
            port=url.port or (443 if tls is not None else 80),
            tls=tls,
            server_hostname=getattr(configuration, "tls_server_name", None) or None,
            socket_options=_socket_options(configuration),
        )

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self._open)

    async def send(self, request: ApiRequest) -> Manifest:
        """Send ``request``; the decoded JSON answer, or an
        :class:`~cloudtty_core.runtime.client.ApiError`.

        A caller cancelled meanwhile still waits for a request it has written to be answered
        (bounded by the read timeout), so a write is never abandoned half-sent.
        """
        client = self.client
        started = self.loop.time()
        headers = client.headers(request)
        payload = encode_body(request.body) if request.body is not None else None
        credentials = client.cached_credentials()
        reused = credentials is not None
        if credentials is None:
            credentials = await self._run_blocking(client.fresh_credentials)
        status, data, retry_after = await self._exchange(request, headers, credentials, payload)
        if status == 401 and reused:
            # Reused credentials that expired meanwhile: ask the official client again.
            credentials = await self._run_blocking(client.fresh_credentials)
            status, data, retry_after = await self._exchange(request, headers, credentials, payload)
        client.observe(request, status, self.loop.time() - started)
        if isinstance(data, Exception):
            raise TransportError.of(request, data) from None
        return client.answer(status, data, retry_after)

    def close(self) -> None:
        """Close every connection (answers still awaited fail). On a loop closed already
        nothing can run any more: the connections are only let go (their transports close
        their sockets when collected)."""
        for connection in list(self._open):
            if not self.loop.is_closed():
                connection.close()
        self._open.clear()
        self._idle.clear()

    # Exchanges -----------------------------------------------------------------------------

    async def _exchange(
        self,
        request: ApiRequest,
        headers: dict[str, str],
        credentials: dict[str, str],
        payload: bytes | None,
    ) -> tuple[int, bytes | Exception, str | None]:
        """(status, body, Retry-After); status 0 and the exception when no answer came."""
        try:
            message = self._message(request, {**headers, **credentials}, payload)
        except ValueError as error:
            return 0, error, None
        timeout = self.client.timeout_of(request)
        connect_timeout, read_timeout = (
            timeout if isinstance(timeout, tuple) else (timeout, timeout)
        )
        async with self._slots:
            for attempt in (1, 2):
                connection = self._idle.pop() if self._idle else None
                if connection is not None and connection.closing():
                    connection = None
                if connection is None:
                    try:
                        connection = await self._connect(connect_timeout)
                    except Exception as error:
                        return 0, error, None
                reused = connection.served > 0
                exchange = connection.send(message, read_timeout)
                try:
                    reader = await exchange.answer.wait()
                    return reader.status, reader.body(), reader.headers.get("retry-after")
                except TimeoutError as error:  # an OSError, but never sent again
                    return 0, error, None
                except (ConnectionError, OSError) as error:
                    if (
                        attempt == 1
                        and reused
                        and not exchange.reader.received
                        and request.method in RETRIED_METHODS
                    ):
                        continue
                    return 0, error, None
                except Exception as error:
                    return 0, error, None
        raise AssertionError("unreachable")  # pragma: no cover

    def _message(
        self, request: ApiRequest, headers: dict[str, str], payload: bytes | None
    ) -> bytes:
        """The request as bytes: request line, headers, body."""
        lines = [
            f"{request.method} {self.client.target(request)} HTTP/1.1",
            f"Host: {self._host_header}",
        ]
        for name, value in headers.items():
            value = str(value)
            if "\r" in value or "\n" in value:
                raise ValueError(f"the value of header {name!r} holds a line break")
            lines.append(f"{name}: {value}")
        if payload is not None:
            lines.append(f"Content-Length: {len(payload)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head + payload if payload else head

    async def _connect(self, timeout: float) -> _Connection:
        connection = _Connection(self)
        self._open.add(connection)
        try:
            async with asyncio.timeout(timeout):
                await self.loop.create_connection(
                    lambda: connection,
                    self._host,
                    self._port,
                    ssl=self._tls,
                    server_hostname=(self._server_hostname or self._host) if self._tls else None,
                )
        except BaseException:
            self._open.discard(connection)
            connection.close()
            raise
        sock = connection.transport.get_extra_info("socket") if connection.transport else None
        if sock is not None:
            for level, option, value in self._socket_options:
                sock.setsockopt(level, option, value)
        return connection

    def _release(self, connection: _Connection) -> None:
        self._idle.append(connection)

    def _forget(self, connection: _Connection) -> None:
        self._open.discard(connection)
        if connection in self._idle:
            self._idle.remove(connection)


def _tls_context(configuration: Any, *, verify_hostname: bool) -> ssl.SSLContext:
    """The TLS context the official client's connection pool would use (urllib3's defaults,
    the configuration's CA, client certificate and verification)."""
    from urllib3.util.ssl_ import create_urllib3_context

    verify = bool(getattr(configuration, "verify_ssl", True))
    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
    if verify:
        ca_file = getattr(configuration, "ssl_ca_cert", None)
        ca_data = getattr(configuration, "ca_cert_data", None)
        if ca_file or ca_data:
            context.load_verify_locations(cafile=ca_file, cadata=ca_data)
        else:
            context.load_default_certs()
        context.check_hostname = verify_hostname
    cert_file = getattr(configuration, "cert_file", None)
    if cert_file:
        context.load_cert_chain(cert_file, getattr(configuration, "key_file", None))
    return context


def _socket_options(configuration: Any) -> list[tuple[int, int, int]]:
    """Socket options the official client sets on its connections beyond urllib3's own."""
    options = getattr(configuration, "socket_options", None)
    if options is not None:
        return list(options)
    if getattr(configuration, "keep_alive", False):
        from kubernetes.client import rest

        return list(rest.tcp_keepalive_socket_options())  # type: ignore[attr-defined]
    return []
