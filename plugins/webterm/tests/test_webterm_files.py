"""Upload into and download from the working directory over HTTP, and its guards."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from cloudtty_webterm.config import ServerConfig
from cloudtty_webterm.testing import serve_in_process

pytestmark = pytest.mark.anyio


def form(name: str, content: bytes, directory: str | None = None) -> aiohttp.FormData:
    data = aiohttp.FormData()
    if directory is not None:
        data.add_field("dir", directory)
    data.add_field("file", content, filename=name, content_type="application/octet-stream")
    return data


async def test_upload_then_download(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    payload = bytes(range(256)) * 1000
    cfg = ServerConfig(command=("bash",), workdir=tmp_path)
    async with serve_in_process(cfg) as running, aiohttp.ClientSession() as http:
        async with http.post(running.url + "/upload", data=form("data.bin", payload)) as r:
            assert r.status == 200
            assert await r.json() == {"stored": ["data.bin"]}
        assert (tmp_path / "data.bin").read_bytes() == payload
        async with http.post(running.url + "/upload", data=form("n.txt", b"x", "sub")) as r:
            assert await r.json() == {"stored": ["sub/n.txt"]}
        async with http.get(running.url + "/download", params={"path": "data.bin"}) as r:
            assert r.status == 200
            assert await r.read() == payload
            assert r.headers["Content-Disposition"] == 'attachment; filename="data.bin"'
        async with http.get(running.url + "/download", params={"path": "sub/n.txt"}) as r:
            assert await r.read() == b"x"
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


async def test_path_traversal_and_limits_are_refused(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "secret.txt").write_text("TOPSECRET")
    (work / "link").symlink_to(tmp_path / "secret.txt")
    cfg = ServerConfig(command=("bash",), workdir=work, max_upload_bytes=1000)
    async with serve_in_process(cfg) as running, aiohttp.ClientSession() as http:
        for path, status in (
            ("../secret.txt", 403),
            ("link", 403),
            ("/etc/passwd", 404),  # taken relative to the working directory
            ("missing", 404),
            ("", 400),
        ):
            async with http.get(running.url + "/download", params={"path": path}) as r:
                assert r.status == status, path
                assert b"TOPSECRET" not in await r.read()
        # A client-side path is cut to its last component (or refused), never followed.
        async with http.post(running.url + "/upload", data=form("../evil.txt", b"x")) as r:
            assert r.status in (200, 400)
            if r.status == 200:
                [stored] = (await r.json())["stored"]
                assert "/" not in stored
                (work / stored).unlink()
        for name, directory, status in (
            ("ok.txt", "..", 403),
            ("ok.txt", "/etc", 404),
            ("..", None, 400),
        ):
            async with http.post(running.url + "/upload", data=form(name, b"x", directory)) as r:
                assert r.status == status, (name, directory)
        async with http.post(running.url + "/upload", data=form("big.bin", b"x" * 1001)) as r:
            assert r.status == 413
        async with http.post(running.url + "/upload", data=form("link", b"x")) as r:
            assert r.status == 409
    assert sorted(p.name for p in work.iterdir()) == ["link"]
    assert not (tmp_path / "evil.txt").exists()


async def test_file_transfer_can_be_disabled(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    cfg = ServerConfig(command=("bash",), workdir=tmp_path, file_transfer=False)
    async with serve_in_process(cfg) as running, aiohttp.ClientSession() as http:
        async with http.get(running.url + "/download", params={"path": "f"}) as r:
            assert r.status == 403
        async with http.post(running.url + "/upload", data=form("g", b"x")) as r:
            assert r.status == 403
