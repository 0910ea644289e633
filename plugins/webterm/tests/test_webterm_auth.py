"""Auth enforced by the server over real HTTP: token, basic, header; the WebSocket too."""

from __future__ import annotations

import base64
from pathlib import Path

import aiohttp
import pytest
from cloudtty_webterm.auth import TOKEN_COOKIE, sha256_hex
from cloudtty_webterm.config import AuthConfig, ServerConfig
from cloudtty_webterm.testing import serve_in_process, terminal

pytestmark = pytest.mark.anyio
BASH = ("bash", "--norc", "--noprofile")
TOKEN = "s3cret-token-Zz"


def config(tmp_path: Path, auth: AuthConfig, **kwargs: object) -> ServerConfig:
    return ServerConfig(command=BASH, workdir=tmp_path, auth=auth, **kwargs)  # type: ignore[arg-type]


def jar() -> aiohttp.CookieJar:
    return aiohttp.CookieJar(unsafe=True)  # keep cookies of an IP-address host


async def test_token_url_then_cookie(tmp_path: Path) -> None:
    auth = AuthConfig(mode="token", token_sha256=sha256_hex(TOKEN))
    cfg = config(tmp_path, auth, base_path="/s/one/")
    async with serve_in_process(cfg) as running:
        base = running.url + "/s/one/"
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            async with http.get(base) as r:
                assert r.status == 401
            async with http.get(base + "ws", params={"session": "abcdefgh"}) as r:
                assert r.status == 401
            async with http.get(base + "vendor/xterm.mjs") as r:
                assert r.status == 401
            async with http.get(base, params={"token": "wrong"}) as r:
                assert r.status == 401
            async with http.get(base, params={"token": TOKEN}, allow_redirects=False) as r:
                assert r.status == 303
                assert r.headers["Location"] == "/s/one/"
                cookie = r.cookies[TOKEN_COOKIE]
                assert cookie.value == TOKEN
                assert cookie["httponly"] is True
                assert cookie["samesite"] == "Strict"
                assert cookie["path"] == "/s/one/"
                assert r.headers["Referrer-Policy"] == "no-referrer"
            # The cookie is reused: page and WebSocket work without the token.
            async with http.get(base) as r:
                assert r.status == 200
            async with terminal(http, base) as term:
                await term.send("echo $((6*7))\r")
                await term.read_until("\r42\r\n")
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            http.cookie_jar.update_cookies({TOKEN_COOKIE: "forged"})
            async with http.get(base) as r:
                assert r.status == 401


async def test_token_redirect_started_cross_site_uses_a_bridge_page(tmp_path: Path) -> None:
    auth = AuthConfig(mode="token", token_sha256=sha256_hex(TOKEN))
    async with (
        serve_in_process(config(tmp_path, auth)) as running,
        aiohttp.ClientSession(cookie_jar=jar()) as http,
    ):
        headers = {"Sec-Fetch-Site": "cross-site"}
        url = running.url + "/?token=" + TOKEN
        async with http.get(url, headers=headers, allow_redirects=False) as r:
            assert r.status == 200
            assert r.headers["Refresh"] == "0; url=/"
            assert TOKEN not in await r.text()
            assert r.cookies[TOKEN_COOKIE]["samesite"] == "Strict"


async def test_failed_attempts_are_rate_limited_per_address(tmp_path: Path) -> None:
    auth = AuthConfig(mode="token", token_sha256=sha256_hex(TOKEN), max_failures=3)
    async with (
        serve_in_process(config(tmp_path, auth)) as running,
        aiohttp.ClientSession(cookie_jar=jar()) as http,
    ):
        for _ in range(3):
            async with http.get(running.url + "/", params={"token": "guess"}) as r:
                assert r.status == 401
        # Blocked now, even with the right token.
        url = running.url + "/"
        async with http.get(url, params={"token": TOKEN}, allow_redirects=False) as r:
            assert r.status == 429
            assert int(r.headers["Retry-After"]) >= 1


def basic(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


async def test_basic_auth(tmp_path: Path) -> None:
    auth = AuthConfig(mode="basic", username="alice", password_sha256=sha256_hex("pa:ss w\u00f6rd"))
    async with serve_in_process(config(tmp_path, auth)) as running:
        async with aiohttp.ClientSession() as http:
            async with http.get(running.url + "/") as r:
                assert r.status == 401
                assert r.headers["WWW-Authenticate"].startswith("Basic ")
            for user, password in (("alice", "wrong"), ("bob", "pa:ss w\u00f6rd")):
                async with http.get(running.url + "/", headers=basic(user, password)) as r:
                    assert r.status == 401
            async with http.get(running.url + "/", headers=basic("alice", "pa:ss w\u00f6rd")) as r:
                assert r.status == 200
            async with http.get(running.url + "/ws", params={"session": "abcdefgh"}) as r:
                assert r.status == 401
        creds = basic("alice", "pa:ss w\u00f6rd")
        async with (
            aiohttp.ClientSession(headers=creds) as http,
            terminal(http, running.url + "/") as t,
        ):
            await t.send("echo $((6*7))\r")
            await t.read_until("\r42\r\n")


async def test_header_auth_allow_list(tmp_path: Path) -> None:
    auth = AuthConfig(mode="header", allowed_users=("alice",), allowed_groups=("sre",))
    async with serve_in_process(config(tmp_path, auth)) as running:
        async with aiohttp.ClientSession() as http:
            async with http.get(running.url + "/") as r:
                assert r.status == 401
            cases = [
                ({"X-Forwarded-User": "alice"}, 200),
                ({"X-Forwarded-User": "bob", "X-Forwarded-Groups": "dev, sre"}, 200),
                ({"X-Forwarded-User": "mallory", "X-Forwarded-Groups": "dev"}, 403),
            ]
            for headers, status in cases:
                async with http.get(running.url + "/", headers=headers) as r:
                    assert r.status == status, headers
            denied = {"X-Forwarded-User": "mallory"}
            params = {"session": "abcdefgh"}
            async with http.get(running.url + "/ws", params=params, headers=denied) as r:
                assert r.status == 403
        allowed = {"X-Forwarded-User": "alice"}
        async with (
            aiohttp.ClientSession(headers=allowed) as http,
            terminal(http, running.url + "/") as term,
        ):
            await term.send("echo $((6*7))\r")
            await term.read_until("\r42\r\n")


async def test_healthz_needs_no_auth(tmp_path: Path) -> None:
    auth = AuthConfig(mode="token", token_sha256=sha256_hex(TOKEN))
    async with (
        serve_in_process(config(tmp_path, auth)) as running,
        aiohttp.ClientSession() as http,
        http.get(running.url + "/healthz") as r,
    ):
        assert r.status == 200
