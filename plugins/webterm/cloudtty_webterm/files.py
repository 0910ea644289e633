"""Upload into and download from the session's working directory, never outside it."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from aiohttp import BodyPartReader, web


class FileAccessError(Exception):
    """A file request that must be refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def resolve_inside(root: Path, relative: str) -> Path:
    """Resolve ``relative`` below ``root`` (symlinks followed) or raise 403.

    Absolute paths are taken relative to ``root`` too, so ``/etc/passwd`` means
    ``<root>/etc/passwd``, never the system file.
    """
    if "\x00" in relative:
        raise FileAccessError(400, "path contains a NUL byte")
    base = root.resolve()
    target = (base / relative.lstrip("/")).resolve()
    if target != base and not target.is_relative_to(base):
        raise FileAccessError(403, f"{relative!r} is outside the working directory")
    return target


def safe_file_name(name: str | None) -> str:
    """Validate an uploaded file's name: a single path component."""
    if not name:
        raise FileAccessError(400, "the upload has no file name")
    if "/" in name or "\\" in name or "\x00" in name or name in (".", ".."):
        raise FileAccessError(400, f"file name {name!r} must be a plain name, not a path")
    if len(name.encode()) > 255:
        raise FileAccessError(400, "file name is longer than 255 bytes")
    return name


async def save_upload(request: web.Request, root: Path, max_bytes: int) -> list[str]:
    """Store every ``file`` part of a multipart upload in ``root`` (or its ``dir`` field).

    Returns the stored paths relative to ``root``. A file larger than ``max_bytes`` is
    discarded with 413; a partial file never appears under its final name.
    """
    if not request.content_type.startswith("multipart/"):
        raise FileAccessError(400, "upload must be multipart/form-data")
    reader = await request.multipart()
    target_dir = root.resolve()
    stored: list[str] = []
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise FileAccessError(400, "nested multipart is not supported")
        if part.name == "dir":
            target_dir = resolve_inside(root, await part.text())
            if not target_dir.is_dir():
                raise FileAccessError(404, "the target directory does not exist")
            continue
        if part.name != "file":
            await part.release()
            continue
        name = safe_file_name(part.filename)
        final = target_dir / name
        if final.is_symlink() or final.is_dir():
            raise FileAccessError(409, f"{name} exists and is not a regular file")
        temp = target_dir / f".{name}.{secrets.token_hex(4)}.part"
        size = 0
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := await part.read_chunk(256 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise FileAccessError(413, f"{name} is larger than {max_bytes} bytes")
                    out.write(chunk)
            os.replace(temp, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        stored.append(str(final.relative_to(root.resolve())))
    if not stored:
        raise FileAccessError(400, "the upload holds no file part")
    return stored


def download_response(root: Path, relative: str) -> web.FileResponse:
    """A response sending one regular file below ``root`` as an attachment."""
    if not relative:
        raise FileAccessError(400, "give the file to download as ?path=")
    target = resolve_inside(root, relative)
    if not target.is_file():
        raise FileAccessError(404, f"{relative!r} is not a file in the working directory")
    response = web.FileResponse(target)
    quoted = target.name.replace("\\", "\\\\").replace('"', '\\"')
    response.headers["Content-Disposition"] = f'attachment; filename="{quoted}"'
    response.headers["Cache-Control"] = "no-store"
    return response
