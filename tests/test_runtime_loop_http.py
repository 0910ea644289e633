"""The event loop's own connections to the API server (runtime.loophttp): the answers and
refusals of the synchronous client, kept-alive connections, TLS as configured, HTTP/1.1 as
servers really write it (chunks cut anywhere, interim answers, compressed bodies, connections
that close or never answer), credentials asked again once on a 401, and cancelled callers that
neither abandon a request half-sent nor leave a slot taken."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import itertools
import json
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtty_core.backends import ObjectRef
from cloudtty_core.runtime.api import AsyncApi
from cloudtty_core.runtime.client import (
    AlreadyExists,
    ApiError,
    Conflict,
    Invalid,
    KubeClient,
    NotFound,
    Resource,
    TransportError,
)
from cloudtty_core.runtime.loophttp import LoopHttp, ResponseReader
from cloudtty_core.runtime.testing import client_with_refresh_hook

client = pytest.importorskip("kubernetes.client")
sandbox_module = pytest.importorskip("cloudtty_sandbox")

CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps")
NAMESPACES = Resource("v1", "Namespace", "namespaces", namespaced=False)
TLS_SANDBOX = sandbox_module.SandboxConfig(pod_start_delay=0.05, rbac=True)
GUARD_SECONDS = 30
"""No test waits longer than this for its event loop to finish: a stuck request fails it."""


def run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    async def guarded() -> Any:
        return await asyncio.wait_for(main(), GUARD_SECONDS)

    return asyncio.run(guarded())


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "labels": {"set": "verbs"}},
        "data": data,
    }


# --------------------------------------------------------------------------------------------
# A hand-written HTTP/1.1 server on 127.0.0.1, for the protocol's edge cases
# --------------------------------------------------------------------------------------------


@attrs.define
class Seen:
    """A request as the server read it."""

    method: str
    target: str
    headers: dict[str, str]
    connection: int
    position: int
    body: bytes = b""


Answer = bytes | list[bytes | float | None] | None
"""What the server writes: bytes, or pieces written apart (a number: wait that many seconds
before the next piece; None: close the connection there), or None to close without answering."""


class ScriptedServer:
    """Reads requests (Content-Length bodies) and writes what ``respond`` returns; an answer
    saying ``Connection: close`` closes the connection after it (unless ``close_when_said``
    is False). ``on_head`` runs once a request's head is read, before its body."""

    def __init__(
        self,
        respond: Callable[[Seen], Awaitable[Answer]],
        on_head: Callable[[Seen], Awaitable[None]] | None = None,
        *,
        close_when_said: bool = True,
    ) -> None:
        self.respond = respond
        self.on_head = on_head
        self.close_when_said = close_when_said
        self.requests: list[Seen] = []
        self.connections = 0
        self.url = ""
        self._handlers: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for handler in list(self._handlers):
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        self._writers.add(writer)
        number = self.connections
        self.connections += 1
        try:
            await self._requests(reader, writer, number)
        except asyncio.CancelledError:
            pass  # stopped with the server: a handler asyncio's streams expect to end, not fail
        finally:
            self._writers.discard(writer)
            writer.close()
            self._handlers.discard(handler)

    async def _requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int
    ) -> None:
        position = 0
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            request_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
            method, target, _ = request_line.split(" ", 2)
            headers = {}
            for line in lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            seen = Seen(method, target, headers, number, position)
            position += 1
            if self.on_head is not None:
                await self.on_head(seen)
            seen.body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(seen)
            answer = await self.respond(seen)
            if answer is None:
                return
            pieces = [answer] if isinstance(answer, bytes) else answer
            written = b""
            for index, piece in enumerate(pieces):
                if piece is None:
                    return
                if isinstance(piece, float):
                    await asyncio.sleep(piece)
                    continue
                if index:
                    await asyncio.sleep(0.01)
                writer.write(piece)
                await writer.drain()
                written += piece
            if self.close_when_said and b"\r\nconnection: close\r\n" in written.lower():
                return


def json_answer(
    document: Mapping[str, Any],
    *,
    status: str = "200 OK",
    headers: Mapping[str, str] | None = None,
) -> bytes:
    body = json.dumps(document).encode()
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json"]
    head += [f"Content-Length: {len(body)}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def chunked(payload: bytes, sizes: list[int], *, trailers: bool = False) -> bytes:
    """``payload`` in chunks of ``sizes`` (the rest in one more), a chunk extension on the
    first, optionally trailer fields after the last chunk."""
    out: list[bytes] = []
    position = 0
    for size in [*sizes, len(payload)]:
        piece = payload[position : position + max(size, 1)]
        if not piece:
            break
        extension = b";note=first" if not out else b""
        out.append(b"%x%s\r\n%s\r\n" % (len(piece), extension, piece))
        position += len(piece)
    out.append(b"0\r\n")
    if trailers:
        out.append(b"X-Checksum: abc\r\nX-More: 1\r\n")
    out.append(b"\r\n")
    return b"".join(out)


def chunked_answer(payload: bytes, sizes: list[int], *, trailers: bool = False) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    return head + chunked(payload, sizes, trailers=trailers)


def status_answer(code: int, reason: str, message: str) -> bytes:
    document = {"kind": "Status", "status": "Failure", "reason": reason, "message": message}
    return json_answer(document, status=f"{code} {reason}", headers=None)


def the_configmap(seen: Seen) -> bytes:
    """An answer naming the request's target (so each caller can tell its own answer)."""
    return json_answer(configmap(seen.target.rsplit("/", 1)[-1], method=seen.method))


async def answer_every_request(seen: Seen) -> Answer:
    return the_configmap(seen)


def loop_api(url: str, concurrency: int = 4, **kwargs: Any) -> AsyncApi:
    """An AsyncApi whose requests the event loop sends (call on the loop)."""
    api = AsyncApi(KubeClient.for_url(url, "secret-token", **kwargs), concurrency)
    assert api._loop_http() is not None
    return api


def ref(name: str) -> ObjectRef:
    return ObjectRef("v1", "ConfigMap", "default", name)


# --------------------------------------------------------------------------------------------
# 1. Against the sandbox over plain HTTP
# --------------------------------------------------------------------------------------------


class BlockingVerbs:
    """The synchronous client behind the async verbs' signatures (it blocks the loop, which
    only waits for it here)."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        verb = getattr(self.kube, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return verb(*args, **kwargs)

        return call


async def verbs_scenario(api: Any) -> list[tuple[str, Any]]:
    """Every verb, with answers and refusals: (step, what came back)."""
    outcomes: list[tuple[str, Any]] = []

    async def step(name: str, call: Awaitable[Any]) -> Any:
        try:
            result = await call
        except ApiError as error:
            outcomes.append((name, (type(error).__name__, error.status, error.reason)))
            return None
        outcomes.append((name, result))
        return result

    created = await step("create", api.create(configmap("a", color="red")))
    await step("create again", api.create(configmap("a", color="blue")))
    await step("create invalid", api.create(configmap("Not_A_Name")))
    await step("get", api.get(CONFIGMAPS, "default", "a"))
    await step("get missing", api.get(CONFIGMAPS, "default", "missing"))
    await step("create b", api.create(configmap("b", color="green")))
    await step("list", api.list(CONFIGMAPS, "default", labels={"set": "verbs"}))
    await step("list one", api.list(CONFIGMAPS, "default", labels={"set": "verbs"}, limit=1))
    replaced = await step("replace", api.replace({**created, "data": {"color": "teal"}}))
    await step("replace stale", api.replace({**created, "data": {"color": "gray"}}))
    stale = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}}
    await step("patch stale", api.patch(ref("a"), {**stale, "data": {"size": "l"}}))
    await step("patch", api.patch(ref("a"), {"data": {"size": "xl"}}))
    await step("patch missing", api.patch(ref("missing"), {"data": {"size": "s"}}))
    assert replaced is not None
    await step("delete other uid", api.delete(ref("a"), uid="not-" + replaced["metadata"]["uid"]))
    await step("delete", api.delete(ref("a")))
    await step("delete again", api.delete(ref("a")))
    await step("delete b", api.delete(ref("b")))
    service_account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "robot", "namespace": "default"},
    }
    await step("create account", api.create(service_account))
    await step("token", api.request_token("default", "robot", 600, ["api"]))
    await step("token missing", api.request_token("default", "nobody", 600))
    await step("delete account", api.delete(ObjectRef("v1", "ServiceAccount", "default", "robot")))
    return outcomes


VOLATILE = {"uid", "resourceVersion", "creationTimestamp", "managedFields", "continue"}


def comparable(value: Any) -> Any:
    """``value`` without what differs between two runs of the same steps (server-assigned
    identities and versions, token contents)."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, str) and value.count(".") == 2 and len(value) > 40:
        return "<token>"
    return value


def test_every_verb_answers_and_refuses_as_the_synchronous_client(sandbox: Any) -> None:
    kube = KubeClient.for_url(sandbox.url, sandbox.admin_token)
    sandbox.reset_counters()

    async def synchronous() -> list[tuple[str, Any]]:
        return await verbs_scenario(BlockingVerbs(kube))

    expected = run(synchronous)
    expected_counts = sandbox.counters()["byResource"]
    sandbox.reset_counters()

    async def on_the_loop() -> list[tuple[str, Any]]:
        api = AsyncApi(kube, 4)
        assert api._loop_http() is not None
        try:
            return await verbs_scenario(api)
        finally:
            api.close()

    seen = run(on_the_loop)
    # The refusals are the ones a caller branches on, not just any ApiError.
    refusals = {name: outcome[0] for name, outcome in expected if isinstance(outcome, tuple)}
    assert refusals == {
        "create again": AlreadyExists.__name__,
        "create invalid": Invalid.__name__,
        "get missing": NotFound.__name__,
        "replace stale": Conflict.__name__,
        "patch stale": Conflict.__name__,
        "patch missing": NotFound.__name__,
        "delete other uid": Conflict.__name__,
        "delete again": NotFound.__name__,
        "token missing": NotFound.__name__,
    }
    assert [name for name, _ in seen] == [name for name, _ in expected]
    for (name, loop_outcome), (_, sync_outcome) in zip(seen, expected, strict=True):
        assert comparable(loop_outcome) == comparable(sync_outcome), name
    token = dict(seen)["token"]
    assert isinstance(token, str)
    assert token
    # Each request reached the server once, as the synchronous client's did.
    assert sandbox.counters()["byResource"] == expected_counts


def test_concurrent_requests_share_a_few_kept_alive_connections(sandbox: Any) -> None:
    kube = KubeClient.for_url(sandbox.url, sandbox.admin_token)
    names = [f"cm-{i}" for i in range(20)]
    for name in names:
        kube.create(configmap(name, index=name))
    sandbox.reset_counters()

    async def main() -> tuple[list[str], int]:
        api = AsyncApi(kube, 4)
        try:
            answers = await asyncio.gather(
                *(api.get(CONFIGMAPS, "default", names[i % 20]) for i in range(200))
            )
            http = api._loop_http()
            assert http is not None
            return [a["data"]["index"] for a in answers], http.connections
        finally:
            api.close()

    indexes, connections = run(main)
    assert indexes == [names[i % 20] for i in range(200)]
    assert 1 <= connections <= 4
    assert sandbox.counters()["byResource"]["configmaps"] == {"get": 200}


# --------------------------------------------------------------------------------------------
# 2. Over TLS
# --------------------------------------------------------------------------------------------


def tls_client(sandbox: Any, ca: str | None, **settings_: Any) -> KubeClient:
    configuration = client.Configuration()
    configuration.host = sandbox.url
    configuration.ssl_ca_cert = ca
    configuration.api_key = {"BearerToken": sandbox.admin_token}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    for name, value in settings_.items():
        setattr(configuration, name, value)
    return KubeClient(client.ApiClient(configuration), timeout=(5, 10))


def write_foreign_ca(path: Path) -> str:
    """A self-signed CA that signed nothing the sandbox serves."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the sandbox CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return str(path)


async def loop_outcome(kube: KubeClient, call: Callable[[AsyncApi], Awaitable[Any]]) -> Any:
    """What ``call`` gives on the loop's connections: its answer or its ApiError."""
    api = AsyncApi(kube, 2)
    assert api._loop_http() is not None
    try:
        return await call(api)
    except ApiError as error:
        return error
    finally:
        api.close()


@pytest.mark.parametrize("sandbox_config", [TLS_SANDBOX], ids=["https"])
def test_requests_over_tls_are_verified_with_the_configured_ca(sandbox: Any) -> None:
    assert sandbox.url.startswith("https://")
    ca = str(sandbox.ca_path)

    async def main() -> None:
        trusted = tls_client(sandbox, ca)
        made = await loop_outcome(trusted, lambda api: api.create(configmap("over-tls", a="1")))
        assert made["metadata"]["name"] == "over-tls"
        got = await loop_outcome(trusted, lambda api: api.get(CONFIGMAPS, "default", "over-tls"))
        assert got["data"] == {"a": "1"}
        # The name to verify may be another of the certificate's names.
        by_name = tls_client(sandbox, ca, tls_server_name="localhost")
        listed = await loop_outcome(by_name, lambda api: api.list(NAMESPACES))
        assert "default" in [n["metadata"]["name"] for n in listed["items"]]
        unchecked = tls_client(sandbox, None, verify_ssl=False)
        got = await loop_outcome(unchecked, lambda api: api.get(CONFIGMAPS, "default", "over-tls"))
        assert got["data"] == {"a": "1"}

    run(main)


@pytest.mark.parametrize("sandbox_config", [TLS_SANDBOX], ids=["https"])
def test_a_server_the_configuration_does_not_trust_gets_no_request(
    sandbox: Any, tmp_path: Path
) -> None:
    sandbox.reset_counters()
    untrusted = {
        "foreign CA": tls_client(sandbox, write_foreign_ca(tmp_path / "foreign.pem")),
        "system CAs": tls_client(sandbox, None),
        "other name": tls_client(sandbox, str(sandbox.ca_path), tls_server_name="elsewhere.test"),
    }

    async def main() -> dict[str, Any]:
        return {
            name: await loop_outcome(kube, lambda api: api.list(NAMESPACES))
            for name, kube in untrusted.items()
        }

    outcomes = run(main)
    for name, outcome in outcomes.items():
        assert isinstance(outcome, TransportError), (name, outcome)
        assert sandbox.admin_token not in str(outcome)
    assert sandbox.counters()["total"] == 0


# --------------------------------------------------------------------------------------------
# 3. HTTP/1.1 as servers write it
# --------------------------------------------------------------------------------------------

FRAMINGS = ("chunked", "chunked with trailers", "length", "length after interim")


def framed(framing: str, payload: bytes, sizes: list[int]) -> bytes:
    if framing.startswith("chunked"):
        return chunked_answer(payload, sizes, trailers="trailers" in framing)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload)
    if "interim" in framing:
        head = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX-A: 1\r\n\r\n" + head
    return head + payload


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    framing=st.sampled_from(FRAMINGS),
    payload=st.binary(max_size=300),
    sizes=st.lists(st.integers(1, 64), max_size=8),
    cuts=st.sets(st.integers(1, 2000), max_size=12),
)
def test_an_answer_cut_anywhere_reads_whole_and_ends_exactly_at_its_end(
    framing: str, payload: bytes, sizes: list[int], cuts: set[int]
) -> None:
    answer = framed(framing, payload, sizes)
    bounds = [0, *sorted(c for c in cuts if c < len(answer)), len(answer)]
    reader = ResponseReader()
    completions = [reader.feed(answer[a:b]) for a, b in itertools.pairwise(bounds)]
    assert completions == [False] * (len(completions) - 1) + [True]
    assert reader.status == 200
    assert reader.body() == payload
    assert reader.keep_alive


@pytest.mark.parametrize("framing", FRAMINGS)
def test_an_answer_fed_a_byte_at_a_time_or_cut_at_every_byte_reads_whole(framing: str) -> None:
    payload = json.dumps(configmap("bytewise", blob="x" * 40)).encode()
    answer = framed(framing, payload, [7, 1, 30])
    reader = ResponseReader()
    completions = [reader.feed(answer[i : i + 1]) for i in range(len(answer))]
    assert completions == [False] * (len(answer) - 1) + [True]
    assert reader.body() == payload
    for cut in range(1, len(answer)):
        reader = ResponseReader()
        assert (reader.feed(answer[:cut]), reader.feed(answer[cut:])) == (False, True), cut
        assert reader.body() == payload


def test_bytes_beyond_an_answer_make_its_connection_unfit_to_keep() -> None:
    first, second = chunked_answer(b'{"n": 1}', [3]), chunked_answer(b'{"n": 2}', [3])
    reader = ResponseReader()
    assert reader.feed(first + second)
    assert reader.body() == b'{"n": 1}'
    assert not reader.keep_alive
    length_framed = json_answer({"n": 1})
    reader = ResponseReader()
    assert reader.feed(length_framed + b"HTTP/1.1 200 OK\r\n")
    assert reader.body() == b'{"n": 1}'
    assert not reader.keep_alive


def test_answers_without_a_body_and_until_close_bodies() -> None:
    for status in (b"204 No Content", b"304 Not Modified"):
        reader = ResponseReader()
        assert reader.feed(b"HTTP/1.1 " + status + b"\r\nX-A: 1\r\n\r\n")
        assert reader.body() == b""
    reader = ResponseReader()
    assert not reader.feed(b'HTTP/1.1 200 OK\r\n\r\n{"a":')
    assert not reader.feed(b" 1}")
    assert reader.feed_eof()
    assert reader.body() == b'{"a": 1}'
    assert not reader.keep_alive
    http10 = ResponseReader()
    assert http10.feed(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    assert not http10.keep_alive
    closing = ResponseReader()
    assert closing.feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}")
    assert not closing.keep_alive


def test_two_chunked_answers_in_pieces_on_one_kept_alive_connection() -> None:
    async def respond(seen: Seen) -> Answer:
        document = json.dumps(configmap(seen.target.rsplit("/", 1)[-1], blob="y" * 500))
        answer = chunked_answer(document.encode(), [1, 2, 100, 37], trailers=True)
        return [answer[i : i + 97] for i in range(0, len(answer), 97)]

    async def main() -> None:
        async with ScriptedServer(respond) as server:
            api = loop_api(server.url)
            first = await api.get(CONFIGMAPS, "default", "first")
            second = await api.get(CONFIGMAPS, "default", "second")
            api.close()
        assert (first["metadata"]["name"], second["metadata"]["name"]) == ("first", "second")
        assert first["data"]["blob"] == "y" * 500
        assert server.connections == 1
        assert [s.position for s in server.requests] == [0, 1]

    run(main)


def test_an_answer_saying_connection_close_is_not_sent_on_again() -> None:
    async def respond(seen: Seen) -> Answer:
        if seen.position == 0 and seen.connection == 0:
            return json_answer(configmap("closing"), headers={"Connection": "close"})
        return the_configmap(seen)

    async def main() -> None:
        # The server leaves the connection open: only the client's reading of the header
        # makes it connect again.
        async with ScriptedServer(respond, close_when_said=False) as server:
            api = loop_api(server.url)
            closing = await api.get(CONFIGMAPS, "default", "one")
            after = await api.get(CONFIGMAPS, "default", "two")
            api.close()
        assert closing["metadata"]["name"] == "closing"
        assert after["metadata"]["name"] == "two"
        assert server.connections == 2
        assert [s.connection for s in server.requests] == [0, 1]

    run(main)


def test_an_until_close_body_is_read_to_the_end_and_the_next_request_connects_again() -> None:
    body = json.dumps(configmap("streamed", blob="s" * 3000)).encode()

    async def respond(seen: Seen) -> Answer:
        if seen.connection == 0:
            # No length, not chunked: only the end of the connection ends the body.
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
            return [head, body[:9], body[9:2000], body[2000:], None]
        return the_configmap(seen)

    async def main() -> None:
        async with ScriptedServer(respond) as server:
            api = loop_api(server.url)
            streamed = await api.get(CONFIGMAPS, "default", "one")
            again = await api.get(CONFIGMAPS, "default", "two")
            api.close()
        assert streamed["data"]["blob"] == "s" * 3000
        assert again["metadata"]["name"] == "two"
        assert server.connections == 2

    run(main)


def test_a_kept_alive_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def respond(seen: Seen) -> Answer:
        # Answers as if keeping the connection, then closes it.
        return [the_configmap(seen), None] if seen.connection == 0 else the_configmap(seen)

    async def main() -> None:
        async with ScriptedServer(respond) as server:
            api = loop_api(server.url)
            await api.get(CONFIGMAPS, "default", "one")
            await asyncio.sleep(0.05)  # for the server's close to arrive
            after = await api.get(CONFIGMAPS, "default", "two")
            http = api._loop_http()
            assert http is not None
            assert http.connections == 1
            api.close()
        assert after["metadata"]["name"] == "two"
        assert server.connections == 2
        assert [s.target.rsplit("/", 1)[-1] for s in server.requests] == ["one", "two"]

    run(main)


async def closes_second_request_on_first_connection(seen: Seen) -> Answer:
    if seen.connection == 0 and seen.position == 1:
        return None
    return the_configmap(seen)


def test_a_get_on_a_reused_connection_that_closed_before_answering_is_sent_once_more() -> None:
    async def main() -> None:
        async with ScriptedServer(closes_second_request_on_first_connection) as server:
            api = loop_api(server.url)
            await api.get(CONFIGMAPS, "default", "setup")
            again = await api.get(CONFIGMAPS, "default", "retried")
            api.close()
        assert again["metadata"]["name"] == "retried"
        assert [(s.method, s.connection) for s in server.requests] == [
            ("GET", 0),
            ("GET", 0),
            ("GET", 1),
        ]

    run(main)


def test_a_get_is_sent_once_more_at_most() -> None:
    async def respond(seen: Seen) -> Answer:
        return the_configmap(seen) if seen.connection == 0 and seen.position == 0 else None

    async def main() -> None:
        async with ScriptedServer(respond) as server:
            api = loop_api(server.url)
            await api.get(CONFIGMAPS, "default", "setup")
            with pytest.raises(TransportError, match="GET"):
                await api.get(CONFIGMAPS, "default", "lost")
            api.close()
        assert [s.target.rsplit("/", 1)[-1] for s in server.requests] == ["setup", "lost", "lost"]

    run(main)


def test_a_post_on_a_reused_connection_that_closed_before_answering_is_not_sent_again() -> None:
    async def main() -> None:
        async with ScriptedServer(closes_second_request_on_first_connection) as server:
            api = loop_api(server.url)
            await api.get(CONFIGMAPS, "default", "setup")
            with pytest.raises(TransportError, match="POST"):
                await api.create(configmap("once"))
            # The connection is gone; the next request gets a new one.
            after = await api.get(CONFIGMAPS, "default", "after")
            api.close()
        assert after["metadata"]["name"] == "after"
        assert [s.method for s in server.requests] == ["GET", "POST", "GET"]
        assert json.loads(server.requests[1].body)["metadata"]["name"] == "once"

    run(main)


def test_a_request_on_a_new_connection_that_closed_before_answering_is_not_sent_again() -> None:
    async def respond(seen: Seen) -> Answer:
        return None if seen.connection == 0 else the_configmap(seen)

    async def main() -> None:
        async with ScriptedServer(respond) as server:
            api = loop_api(server.url)
            with pytest.raises(TransportError, match="GET"):
                await api.get(CONFIGMAPS, "default", "lost")
            api.close()
        assert len(server.requests) == 1

    run(main)


def late_answers(hang: asyncio.Event) -> Callable[[Seen], Awaitable[Answer]]:
    """Answers every request, those for ``late`` only once ``hang`` is set."""

    async def respond(seen: Seen) -> Answer:
        if seen.target.endswith("/late"):
            await hang.wait()
        return the_configmap(seen)

    return respond


def test_a_server_that_never_answers_is_a_transport_error_after_the_read_timeout() -> None:
    async def main() -> None:
        hang = asyncio.Event()
        async with ScriptedServer(late_answers(hang)) as server:
            api = loop_api(server.url, timeout=(1, 0.5))
            with pytest.raises(TransportError, match="TimeoutError"):
                await api.get(CONFIGMAPS, "default", "late")
            # Its late answer could never be taken for the next request's: a new connection.
            hang.set()
            after = await api.get(CONFIGMAPS, "default", "after")
            api.close()
        assert after["metadata"]["name"] == "after"
        assert [s.target.rsplit("/", 1)[-1] for s in server.requests] == ["late", "after"]
        assert [s.connection for s in server.requests] == [0, 1]

    run(main)


def test_a_get_on_a_reused_connection_that_timed_out_is_not_sent_again() -> None:
    async def main() -> None:
        hang = asyncio.Event()
        async with ScriptedServer(late_answers(hang)) as server:
            api = loop_api(server.url, timeout=(1, 0.5))
            await api.get(CONFIGMAPS, "default", "setup")
            with pytest.raises(TransportError, match="TimeoutError"):
                await api.get(CONFIGMAPS, "default", "late")
            hang.set()
            api.close()
        # A server that is slow is not asked twice: only a connection that closed is.
        assert [s.target.rsplit("/", 1)[-1] for s in server.requests] == ["setup", "late"]

    run(main)


def test_an_answer_whose_bytes_keep_coming_is_not_cut_by_the_read_timeout() -> None:
    async def respond(seen: Seen) -> Answer:
        answer = the_configmap(seen)
        pieces: list[bytes | float | None] = []
        for start in range(0, len(answer), len(answer) // 6 + 1):
            pieces += [answer[start : start + len(answer) // 6 + 1], 0.2]
        return pieces  # about 1.2 s in all, no pause near the read timeout of 0.8 s

    async def main() -> None:
        async with ScriptedServer(respond) as server:
            kube = KubeClient.for_url(server.url, "secret-token", timeout=(1, 0.8))
            # The synchronous client (urllib3) reads it: bytes arrive well within the timeout.
            by_thread = await asyncio.to_thread(kube.get, CONFIGMAPS, "default", "slow")
            assert by_thread["metadata"]["name"] == "slow"
            api = AsyncApi(kube, 2)
            try:
                by_loop = await api.get(CONFIGMAPS, "default", "slow")
            finally:
                api.close()
        assert by_loop == by_thread

    run(main)


def test_a_negative_content_length_is_a_transport_error() -> None:
    async def respond(seen: Seen) -> Answer:
        return b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"

    async def main() -> None:
        async with ScriptedServer(respond) as server:
            api = loop_api(server.url)
            try:
                with pytest.raises(TransportError):
                    await api.replace(configmap("written?"))
            finally:
                api.close()

    run(main)


def test_interim_answers_before_the_real_one_are_skipped() -> None:
    async def respond(seen: Seen) -> Answer:
        return [
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n",
            the_configmap(seen),
        ]

    async def main() -> None:
        async with ScriptedServer(respond) as server:
            api = loop_api(server.url)
            answers = [await api.get(CONFIGMAPS, "default", name) for name in ("a", "b")]
            api.close()
        assert [a["metadata"]["name"] for a in answers] == ["a", "b"]
        assert server.connections == 1

    run(main)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_compressed_body_is_decoded(encoding: str, framing: str) -> None:
    async def respond(seen: Seen) -> Answer:
        document = json.dumps(configmap("packed", blob="z" * 5000)).encode()
        body = gzip.compress(document) if encoding == "gzip" else zlib.compress(document)
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: {encoding}"
        if framing == "chunked":
            return f"{head}\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + chunked(body, [10])
        return f"{head}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body

    async def main() -> dict[str, Any]:
        async with ScriptedServer(respond) as server:
            api = loop_api(server.url)
            try:
                return await api.get(CONFIGMAPS, "default", "packed")
            finally:
                api.close()

    answer = run(main)
    assert answer["data"]["blob"] == "z" * 5000


FRAMING_ERRORS = {
    "not-http": b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    "http2": b"HTTP/2 200\r\n\r\n{}",
    "status": b"HTTP/1.1 2xx OK\r\n\r\n",
    "header": b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    "head-too-long": b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70000,
    "chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nnot-hex\r\n",
}
"""Answers the connection cannot be read past: the next request needs a new one."""

BODY_ERRORS = {
    "encoding": b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\n{}",
    "bad-gzip": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}",
}
"""Well-framed answers whose body cannot be read."""


@pytest.mark.parametrize("garbage", [*FRAMING_ERRORS, *BODY_ERRORS])
def test_what_is_not_an_http_answer_is_a_transport_error(garbage: str) -> None:
    async def respond(seen: Seen) -> Answer:
        if seen.target.endswith("/x"):
            return FRAMING_ERRORS.get(garbage) or BODY_ERRORS[garbage]
        return the_configmap(seen)

    async def main() -> None:
        async with ScriptedServer(respond) as server:
            api = loop_api(server.url, timeout=(1, 5))
            with pytest.raises(ApiError) as failed:
                await api.get(CONFIGMAPS, "default", "x")
            after = await api.get(CONFIGMAPS, "default", "after")
            api.close()
        assert after["metadata"]["name"] == "after"
        if garbage in FRAMING_ERRORS:
            assert [s.connection for s in server.requests] == [0, 1]
        assert type(failed.value) is TransportError

    run(main)


def test_a_success_answer_whose_body_is_not_json_is_an_api_error() -> None:
    async def respond(seen: Seen) -> Answer:
        html = b"<html>maintenance</html>"
        return b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (
            len(html),
            html,
        )

    async def main() -> None:
        async with ScriptedServer(respond) as server:
            api = loop_api(server.url)
            try:
                with pytest.raises(ApiError):
                    await api.get(CONFIGMAPS, "default", "x")
            finally:
                api.close()

    run(main)


def test_a_401_on_reused_credentials_asks_for_fresh_ones_once_then_succeeds() -> None:
    accepted = {"Bearer first"}
    tokens = ["first"]

    async def respond(seen: Seen) -> Answer:
        if seen.headers.get("authorization") in accepted:
            return the_configmap(seen)
        return status_answer(401, "Unauthorized", "Unauthorized")

    async def main() -> None:
        async with ScriptedServer(respond) as server:
            kube, runs = client_with_refresh_hook(server.url, tokens)
            api = AsyncApi(kube, 2)
            assert api._loop_http() is not None
            await api.get(CONFIGMAPS, "default", "one")
            # The first token expires; the refresh hook now gives another.
            tokens.append("second")
            accepted.clear()
            accepted.add("Bearer second")
            again = await api.get(CONFIGMAPS, "default", "two")
            api.close()
        assert again["metadata"]["name"] == "two"
        assert len(runs) == 2
        assert [s.headers["authorization"] for s in server.requests] == [
            "Bearer first",
            "Bearer first",
            "Bearer second",
        ]

    run(main)


def test_fresh_credentials_the_server_refuses_are_an_error_not_a_loop() -> None:
    async def respond(seen: Seen) -> Answer:
        return status_answer(401, "Unauthorized", "Unauthorized")

    async def main() -> None:
        async with ScriptedServer(respond) as server:
            kube, runs = client_with_refresh_hook(server.url, ["wrong"])
            api = AsyncApi(kube, 2)
            with pytest.raises(ApiError) as refused:
                await api.get(CONFIGMAPS, "default", "one")
            api.close()
        assert refused.value.status == 401
        assert len(runs) == 1
        assert len(server.requests) == 1

    run(main)


def test_requests_carry_the_official_clients_headers_and_the_servers_host() -> None:
    async def main() -> None:
        async with ScriptedServer(answer_every_request) as server:
            api = loop_api(server.url)
            api.client.api_client.default_headers["X-Team"] = "platform"
            await api.patch(ref("a"), {"data": {"k": "v"}})
            api.close()
        (seen,) = server.requests
        port = server.url.rsplit(":", 1)[1]
        assert seen.method == "PATCH"
        assert seen.target == "/api/v1/namespaces/default/configmaps/a"
        assert seen.headers["host"] == f"127.0.0.1:{port}"
        assert seen.headers["authorization"] == "Bearer secret-token"
        assert seen.headers["x-team"] == "platform"
        assert seen.headers["content-type"] == "application/merge-patch+json"
        assert seen.headers["user-agent"] == api.client.api_client.default_headers["User-Agent"]
        assert json.loads(seen.body) == {"data": {"k": "v"}}

    run(main)


def test_a_server_url_with_a_path_prefixes_every_request_and_keeps_the_query() -> None:
    async def main() -> None:
        async with ScriptedServer(answer_every_request) as server:
            api = loop_api(server.url + "/k8s/clusters/c-1/")
            await api.list(CONFIGMAPS, "default", labels={"app": "shell"}, limit=5)
            api.close()
        (seen,) = server.requests
        assert seen.target == (
            "/k8s/clusters/c-1/api/v1/namespaces/default/configmaps?labelSelector=app%3Dshell&limit=5"
        )

    run(main)


# --------------------------------------------------------------------------------------------
# 4. Cancellation
# --------------------------------------------------------------------------------------------


def test_a_cancelled_put_still_completes_on_the_server_and_the_connection_stays_usable() -> None:
    big = configmap("big", blob="b" * 4_000_000)
    big["metadata"]["resourceVersion"] = "7"

    async def main() -> None:
        head_read = asyncio.Event()
        caller_cancelled = asyncio.Event()

        async def on_head(seen: Seen) -> None:
            if seen.method == "PUT":
                head_read.set()
                await caller_cancelled.wait()

        async with ScriptedServer(answer_every_request, on_head) as server:
            api = loop_api(server.url)
            await api.get(CONFIGMAPS, "default", "setup")
            put = asyncio.create_task(api.replace(big))
            await head_read.wait()
            put.cancel()
            caller_cancelled.set()
            with pytest.raises(asyncio.CancelledError):
                await put
            after = await api.get(CONFIGMAPS, "default", "after")
            api.close()
        assert after["metadata"]["name"] == "after"
        methods = [s.method for s in server.requests]
        assert methods == ["GET", "PUT", "GET"]
        assert json.loads(server.requests[1].body) == big
        assert server.connections == 1

    run(main)


def test_cancelling_many_waiting_callers_leaves_no_slot_taken() -> None:
    concurrency = 3

    async def main() -> None:
        release = asyncio.Event()
        arrived: list[Seen] = []
        all_arrived = asyncio.Event()

        async def respond(seen: Seen) -> Answer:
            if seen.target.endswith("/held"):
                await release.wait()
            if seen.target.endswith("/together"):
                # Answered only once every slot holds one of these at the same time.
                arrived.append(seen)
                if len(arrived) == concurrency:
                    all_arrived.set()
                await all_arrived.wait()
            return the_configmap(seen)

        async with ScriptedServer(respond) as server:
            api = loop_api(server.url, concurrency)
            await api.get(CONFIGMAPS, "default", "warm-up")
            held = [
                asyncio.create_task(api.get(CONFIGMAPS, "default", "held"))
                for _ in range(concurrency)
            ]
            while len(server.requests) < 1 + concurrency:
                await asyncio.sleep(0.01)
            waiting = [
                asyncio.create_task(api.get(CONFIGMAPS, "default", "waiting"))
                for _ in range(4 * concurrency)
            ]
            await asyncio.sleep(0.1)  # for every waiter to wait for a slot
            # Half the waiters cancelled while every slot is taken, the others just as slots
            # free (one may have sent its request by then: it is cancelled waiting for it).
            for task in waiting[: 2 * concurrency]:
                task.cancel()
            await asyncio.sleep(0)

            def cancel_the_rest(_: object) -> None:
                for task in waiting[2 * concurrency :]:
                    task.cancel()

            held[0].add_done_callback(cancel_the_rest)
            release.set()
            answers = await asyncio.gather(*held)
            outcomes = await asyncio.gather(*waiting, return_exceptions=True)
            together = await asyncio.gather(
                *(api.get(CONFIGMAPS, "default", "together") for _ in range(concurrency))
            )
            api.close()
        assert [a["metadata"]["name"] for a in answers] == ["held"] * concurrency
        assert all(isinstance(o, asyncio.CancelledError) for o in outcomes), outcomes
        assert [a["metadata"]["name"] for a in together] == ["together"] * concurrency

    run(main)


# --------------------------------------------------------------------------------------------
# 5. Header values
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a\r\nX-Injected: yes", "a\nb", "a\rb"])
def test_a_header_value_with_a_line_break_is_refused_and_nothing_is_sent(value: str) -> None:
    async def main() -> None:
        async with ScriptedServer(answer_every_request) as server:
            api = loop_api(server.url)
            api.client.api_client.default_headers["X-Team"] = value
            with pytest.raises(TransportError, match="X-Team"):
                await api.create(configmap("never"))
            api.close()
        assert server.requests == []
        assert server.connections == 0

    run(main)


def test_a_token_with_a_line_break_is_refused_without_showing_it() -> None:
    async def main() -> None:
        async with ScriptedServer(answer_every_request) as server:
            kube = KubeClient.for_url(server.url, "leaked-secret\r\nX-Injected: yes")
            api = AsyncApi(kube, 2)
            with pytest.raises(TransportError) as refused:
                await api.get(CONFIGMAPS, "default", "x")
            api.close()
        assert "authorization" in str(refused.value).lower()
        assert "leaked-secret" not in str(refused.value)
        assert server.requests == []

    run(main)


# --------------------------------------------------------------------------------------------
# 6. What only the official client's own path covers
# --------------------------------------------------------------------------------------------


async def no_blocking(call: Callable[[], Any]) -> Any:
    raise AssertionError("nothing to run")


def test_a_proxy_leaves_the_requests_to_the_official_client_in_threads() -> None:
    async def main() -> None:
        # The "proxy" answers itself: what matters is that the request reached it as a
        # request to a proxy (absolute-form target) and its answer came back.
        async with ScriptedServer(answer_every_request) as proxy:
            configuration = client.Configuration()
            configuration.host = "http://127.0.0.1:9"
            configuration.proxy = proxy.url
            configuration.no_proxy = ""
            kube = KubeClient(client.ApiClient(configuration), timeout=(2, 5))
            assert LoopHttp.for_client(kube, 4, no_blocking) is None
            api = AsyncApi(kube, 4)
            assert api._loop_http() is None
            answer = await api.get(CONFIGMAPS, "default", "via-proxy")
            api.close()
            kube.close()
        assert answer["metadata"]["name"] == "via-proxy"
        (seen,) = proxy.requests
        assert seen.target == "http://127.0.0.1:9/api/v1/namespaces/default/configmaps/via-proxy"

    run(main)


def test_a_hostname_to_assert_other_than_the_servers_leaves_requests_to_threads() -> None:
    async def main() -> None:
        configuration = client.Configuration()
        configuration.host = "https://127.0.0.1:6443"
        configuration.assert_hostname = "kubernetes.default"
        kube = KubeClient(client.ApiClient(configuration))
        assert LoopHttp.for_client(kube, 4, no_blocking) is None
        configuration.assert_hostname = None
        assert LoopHttp.for_client(kube, 4, no_blocking) is not None

    run(main)


def test_an_api_used_again_on_a_new_event_loop_still_sends(sandbox: Any) -> None:
    kube = KubeClient.for_url(sandbox.url, sandbox.admin_token)
    kube.create(configmap("twice", color="red"))
    apis: list[AsyncApi] = []

    async def get() -> dict[str, Any]:
        if not apis:
            apis.append(AsyncApi(kube, 2))
        return await apis[0].get(CONFIGMAPS, "default", "twice")

    assert run(get)["data"] == {"color": "red"}
    # A second asyncio.run (a CLI command after another, a test after another).
    assert run(get)["data"] == {"color": "red"}


def test_threads_forced_answer_as_the_loop_does(sandbox: Any) -> None:
    kube = KubeClient.for_url(sandbox.url, sandbox.admin_token)
    kube.create(configmap("shared", color="red"))

    async def main() -> tuple[Any, Any]:
        threaded = AsyncApi(kube, 2, loop_requests=False)
        assert threaded._loop_http() is None
        looped = AsyncApi(kube, 2)
        try:
            return (
                await threaded.get(CONFIGMAPS, "default", "shared"),
                await looped.get(CONFIGMAPS, "default", "shared"),
            )
        finally:
            looped.close()

    by_thread, by_loop = run(main)
    assert by_thread == by_loop
    assert by_thread["data"] == {"color": "red"}
