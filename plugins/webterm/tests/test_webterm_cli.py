"""The ``cloudtty-webterm`` command: TLS, secrets from files, errors that say what to fix."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from cloudtty_webterm.testing import run_cli, terminal


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "cloudtty_webterm.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_tls_with_cert_and_key_files(tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    args = ["-p", "0", "--tls-cert", str(cert), "--tls-key", str(key), "--", "bash", "--norc"]
    with run_cli(args) as server:
        assert server.url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(cert))

        async def go() -> None:
            connector = aiohttp.TCPConnector(ssl=context)
            async with aiohttp.ClientSession(connector=connector) as http:
                async with http.get(server.url + "/healthz") as r:
                    assert r.status == 200
                async with terminal(http, server.url + "/") as term:
                    await term.send("echo $((6*7))\r")
                    await term.read_until("\r42\r\n")

        asyncio.run(go())


def test_token_file_is_created_once_and_never_printed(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    args = ["-p", "0", "--auth", "token", "--token-file", str(token_file), "--", "bash"]
    with run_cli(args) as server:
        token = token_file.read_text().strip()
        assert len(token) >= 32
        assert token_file.stat().st_mode & 0o777 == 0o600

        async def go() -> None:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                async with http.get(server.url + "/") as r:
                    assert r.status == 401
                async with http.get(server.url + "/", params={"token": token}) as r:
                    assert r.status == 200

        asyncio.run(go())
    assert token not in "".join(server.log)


def test_basic_credentials_come_from_a_file(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.write_text("alice:correct horse\n")
    args = ["-p", "0", "--auth", "basic", "--credential-file", str(creds), "--", "bash"]
    with run_cli(args) as server:

        async def status(password: str) -> int:
            headers = {"Authorization": aiohttp.encode_basic_auth("alice", password)}
            async with aiohttp.ClientSession() as http, http.get(server.url, headers=headers) as r:
                return r.status

        assert asyncio.run(status("correct horse")) == 200
        assert asyncio.run(status("wrong")) == 401


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--auth", "basic"], "--auth basic needs --credential-file"),
        (["--auth", "basic", "--credential-file", "/nonexistent"], "cannot read"),
        (["--tls-cert", "/x.crt"], "TLS needs both"),
        (["--base-path", "/a/../b"], "--base-path"),
        (["-t", "fontSize=big"], "fontSize must be a number"),
        (["-t", "bogus=1", "--", "bash"], "unknown client option"),
        (["--expires-at", "tomorrow"], "not an RFC 3339 timestamp"),
    ],
)
def test_bad_flags_fail_with_a_clear_message(args: list[str], message: str) -> None:
    result = run(["-p", "0", *args])
    assert result.returncode == 2
    assert message in result.stderr


def test_missing_xterm_install_says_how_to_fix_it(tmp_path: Path) -> None:
    result = run(["-p", "0"], env={"CLOUDTTY_WEBTERM_NODE_MODULES": str(tmp_path)})
    assert result.returncode == 2
    assert "npm ci" in result.stderr
    assert "@xterm/xterm/lib/xterm.mjs" in result.stderr
