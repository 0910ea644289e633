"""The terminal over real HTTP and WebSocket: echo, resize, bytes, reconnect, limits."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import aiohttp
import pytest
from cloudtty_webterm.config import ServerConfig
from cloudtty_webterm.recording import read_asciicast
from cloudtty_webterm.termination import ExitReason
from cloudtty_webterm.testing import serve_in_process, terminal

pytestmark = pytest.mark.anyio
BASH = ("bash", "--norc", "--noprofile")


def config(tmp_path: Path, **kwargs: object) -> ServerConfig:
    return ServerConfig(command=BASH, workdir=tmp_path, **kwargs)  # type: ignore[arg-type]


async def test_echo_resize_and_healthz(tmp_path: Path) -> None:
    async with serve_in_process(config(tmp_path)) as running, aiohttp.ClientSession() as http:
        async with http.get(running.url + "/healthz") as r:
            assert r.status == 200
        async with http.get(running.url + "/") as r:
            page = await r.text()
            assert r.status == 200
            assert 'src="assets/webterm.js"' in page
            assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
        async with terminal(http, running.url + "/", cols=100, rows=30) as term:
            await term.send("echo $((6*7))\r")
            await term.read_until("\r42\r\n")
            await term.send("stty size\r")
            await term.read_until("30 100")
            await term.resize(132, 43)
            await term.send("stty size\r")
            await term.read_until("43 132")


async def test_output_is_binary_safe_and_utf8_split_across_reads(tmp_path: Path) -> None:
    cfg = config(tmp_path, record_dir=tmp_path / "rec")
    async with (
        serve_in_process(cfg) as running,
        aiohttp.ClientSession() as http,
        terminal(http, running.url + "/") as term,
    ):
        # Bytes that are not UTF-8, then an 'é' whose two bytes arrive in separate reads.
        await term.send("printf 'A\\377\\001B'; printf '\\303'; sleep 0.3; printf '\\251Z\\n'\r")
        out = await term.read_until("Z\r\n")
        assert b"A\xff\x01B" in out
        assert b"\xc3\xa9Z" in out
    _, events = read_asciicast(next((tmp_path / "rec").iterdir()))
    text = "".join(e[2] for e in events if e[1] == "o")
    assert "\u00e9Z" in text  # the split character is whole in the recording
    assert "A\ufffd\x01B" in text


async def test_reconnect_resumes_the_same_pty_with_scrollback(tmp_path: Path) -> None:
    cfg = config(tmp_path, reconnect_grace=5.0)
    async with serve_in_process(cfg) as running, aiohttp.ClientSession() as http:
        async with terminal(http, running.url + "/", session="resume-me-1") as term:
            await term.send("MARK=before-blip; echo pid=$$\r")
            first_pid = (await term.read_match(rb"\rpid=(\d+)\r\n")).group(1)
            assert (await term.control("hello"))["resumed"] is False
        async with terminal(http, running.url + "/", session="resume-me-1") as again:
            assert (await again.control("hello"))["resumed"] is True
            await again.read_until(b"pid=" + first_pid)  # scrollback replayed
            await again.send("echo $MARK-$$\r")
            await again.read_until(b"before-blip-" + first_pid)
        async with terminal(http, running.url + "/", session="another-tab") as other:
            assert (await other.control("hello"))["resumed"] is False
            assert b"before-blip" not in other.output


async def test_read_only_ignores_input_but_shows_output(tmp_path: Path) -> None:
    cmd = ("bash", "--norc", "-c", "echo ready; read line; echo got-$line; sleep 30")
    cfg = ServerConfig(command=cmd, workdir=tmp_path, read_only=True)
    async with serve_in_process(cfg) as running, aiohttp.ClientSession() as http:
        async with terminal(http, running.url + "/") as term:
            assert (await term.control("hello"))["readOnly"] is True
            await term.read_until("ready")
            await term.send("typed\r")
            await term.ws.send_json({"type": "input", "data": "typed\r"})
            with pytest.raises(AssertionError):
                await term.read_until("got-typed", timeout=1.0)
        form = aiohttp.FormData()
        form.add_field("file", b"x", filename="x.txt")
        async with http.post(running.url + "/upload", data=form) as r:
            assert r.status == 403


async def test_max_clients(tmp_path: Path) -> None:
    async with serve_in_process(config(tmp_path, max_clients=1)) as running:
        async with (
            aiohttp.ClientSession() as http,
            terminal(http, running.url + "/"),
            http.get(running.url + "/ws", params={"session": "second-client"}) as r,
        ):
            assert r.status == 503
            assert "maximum of 1" in await r.text()
        # Once the first client is gone a new one is welcome.
        async with aiohttp.ClientSession() as http, terminal(http, running.url + "/", "third1234"):
            pass


async def test_base_path(tmp_path: Path) -> None:
    cfg = config(tmp_path, base_path="/shells/alice/")
    async with serve_in_process(cfg) as running, aiohttp.ClientSession() as http:
        base = running.url + "/shells/alice/"
        async with http.get(running.url + "/shells/alice", allow_redirects=False) as r:
            assert r.status == 308
            assert r.headers["Location"] == "/shells/alice/"
        for path in ("", "vendor/xterm.mjs", "vendor/xterm.css", "assets/webterm.js", "healthz"):
            async with http.get(base + path) as r:
                assert r.status == 200, path
        async with http.get(running.url + "/ws", params={"session": "abcdefgh"}) as r:
            assert r.status == 404
        async with http.get(running.url + "/vendor/xterm.mjs") as r:
            assert r.status == 404
        async with terminal(http, base) as term:
            await term.send("echo $((6*7))\r")
            await term.read_until("42")


async def test_origin_check(tmp_path: Path) -> None:
    async with serve_in_process(config(tmp_path)) as running, aiohttp.ClientSession() as http:
        params = {"session": "origin-test"}
        headers = {"Origin": "https://evil.example"}
        async with http.get(running.url + "/ws", params=params, headers=headers) as r:
            assert r.status == 403
        same = {"Origin": running.url}
        async with http.ws_connect(running.url + "/ws", params=params, headers=same) as ws:
            assert (await ws.receive_json())["type"] == "hello"
    cfg = config(tmp_path, allowed_origins=("https://console.example",))
    async with serve_in_process(cfg) as running, aiohttp.ClientSession() as http:
        headers = {"Origin": "https://console.example"}
        async with http.ws_connect(running.url + "/ws", params=params, headers=headers) as ws:
            assert (await ws.receive_json())["type"] == "hello"


async def test_command_exit_is_reported_and_a_new_session_starts(tmp_path: Path) -> None:
    async with serve_in_process(config(tmp_path)) as running, aiohttp.ClientSession() as http:
        async with terminal(http, running.url + "/", session="exits-soon") as term:
            await term.send("exit 3\r")
            message = await term.control("exit")
            assert message["reason"] == "exit"
            assert message["code"] == 3
            await term.closed()
        assert not running.server.done.done()
        async with terminal(http, running.url + "/", session="exits-soon") as again:
            assert (await again.control("hello"))["resumed"] is False


async def test_exit_on_command_exit_ends_the_server(tmp_path: Path) -> None:
    cfg = config(tmp_path, exit_on_command_exit=True)
    async with (
        serve_in_process(cfg) as running,
        aiohttp.ClientSession() as http,
        terminal(http, running.url + "/") as term,
    ):
        await term.send("exit\r")
        assert await asyncio.wait_for(running.server.done, 10) is ExitReason.EXIT


async def test_once_ends_after_the_client_leaves(tmp_path: Path) -> None:
    cfg = config(tmp_path, once=True, reconnect_grace=0.2)
    async with serve_in_process(cfg) as running, aiohttp.ClientSession() as http:
        async with terminal(http, running.url + "/", session="only-client") as term:
            await term.send("echo hi\r")
            await term.read_until("hi")
            async with http.get(running.url + "/ws", params={"session": "intruder1"}) as r:
                assert r.status == 403
        assert await asyncio.wait_for(running.server.done, 10) is ExitReason.ONCE


async def test_idle_timeout_ends_the_session_with_its_reason(tmp_path: Path) -> None:
    cfg = config(tmp_path, idle_timeout=0.6)
    async with (
        serve_in_process(cfg) as running,
        aiohttp.ClientSession() as http,
        terminal(http, running.url + "/") as term,
    ):
        await term.send("echo active\r")
        await term.read_until("active")
        assert await asyncio.wait_for(running.server.done, 10) is ExitReason.IDLE
        await running.server.shutdown(ExitReason.IDLE)
        message = await term.control("exit")
        assert message["reason"] == "idle"
        assert "inactivity" in str(message["message"])


async def test_ttl_ends_the_server_and_hello_carries_expires_at(tmp_path: Path) -> None:
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    async with (
        serve_in_process(config(tmp_path, expires_at=expires)) as running,
        aiohttp.ClientSession() as http,
        terminal(http, running.url + "/") as term,
    ):
        hello = await term.control("hello")
        assert dt.datetime.fromisoformat(str(hello["expiresAt"])) == expires.replace(
            microsecond=expires.microsecond
        )
        assert await asyncio.wait_for(running.server.done, 10) is ExitReason.TTL


async def test_recording_is_asciicast_v2_and_replays_the_output(tmp_path: Path) -> None:
    cfg = config(tmp_path, record_dir=tmp_path / "rec", title="team-a/alice")
    async with (
        serve_in_process(cfg) as running,
        aiohttp.ClientSession() as http,
        terminal(http, running.url + "/", cols=90, rows=20) as term,
    ):
        await term.send("echo $((6*7))\r")
        await term.read_until("\r42\r\n")
        await term.resize(100, 25)
        await term.send("echo r\u00e9sum\u00e9\r")
        await term.read_until("r\u00e9sum\u00e9\r\n")
    [path] = list((tmp_path / "rec").iterdir())
    assert path.suffix == ".cast"
    assert "team-a_alice" in path.name
    assert path.stat().st_mode & 0o777 == 0o600
    header, events = read_asciicast(path)
    assert (header["width"], header["height"]) == (90, 20)
    assert header["title"] == "team-a/alice"
    replay = "".join(e[2] for e in events if e[1] == "o")
    assert "\r42\r\n" in replay
    assert "r\u00e9sum\u00e9\r\n" in replay
    assert ["r", "100x25"] in [e[1:] for e in events]
    assert not [e for e in events if e[1] == "i"]  # input is not recorded by default


async def test_bad_control_messages_are_answered_not_fatal(tmp_path: Path) -> None:
    async with serve_in_process(config(tmp_path)) as running, aiohttp.ClientSession() as http:
        async with terminal(http, running.url + "/") as term:
            await term.ws.send_str("{not json")
            assert "not JSON" in str((await term.control("error"))["message"])
            await term.send("echo still-alive\r")
            await term.read_until("still-alive")
        async with http.get(running.url + "/ws", params={"session": "../etc"}) as r:
            assert r.status == 400
