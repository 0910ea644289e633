"""A command running on a pseudo-terminal, read and written without blocking the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Mapping, Sequence

#: Read at most this much per ``read()`` so one burst of output becomes one WebSocket frame.
MAX_CHUNK = 256 * 1024


def _become_controlling_tty() -> None:  # pragma: no cover - runs in the child
    # start_new_session made the child a session leader; fd 0 is the PTY's slave side.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyProcess:
    """A child process whose stdin/stdout/stderr are a fresh PTY.

    Create it with :meth:`spawn`; :meth:`read` returns output chunks (``b""`` once the child
    side is closed), :meth:`write` sends input, :meth:`resize` sets the window size (the kernel
    signals SIGWINCH to the foreground process group).
    """

    def __init__(self, proc: asyncio.subprocess.Process, master_fd: int) -> None:
        self._proc = proc
        self._fd = master_fd
        self._closed = False
        self.cols = 80
        self.rows = 24

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str | os.PathLike[str] | None = None,
        cols: int = 80,
        rows: int = 24,
    ) -> PtyProcess:
        """Start ``argv`` on a new PTY of ``cols`` x ``rows``."""
        master, slave = os.openpty()
        try:
            _set_winsize(master, cols, rows)
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_become_controlling_tty,
                close_fds=True,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self = cls(proc, master)
        self.cols, self.rows = cols, rows
        return self

    @property
    def pid(self) -> int:
        """The child's process id (also its process group and session id)."""
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """The child's exit status once it has been reaped."""
        return self._proc.returncode

    async def _wait_fd(self, writable: bool) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        add, remove = (
            (loop.add_writer, loop.remove_writer)
            if writable
            else (loop.add_reader, loop.remove_reader)
        )
        add(self._fd, ready)
        try:
            await fut
        finally:
            remove(self._fd)

    async def read(self) -> bytes:
        """Return the next output, coalescing what is already available; ``b""`` at the end."""
        while True:
            if self._closed:
                return b""
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                await self._wait_fd(writable=False)
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:  # every slave fd closed: the child side is gone
                    return b""
                raise
            if not data:
                return b""
            chunks = [data]
            size = len(data)
            while size < MAX_CHUNK:
                try:
                    more = os.read(self._fd, 65536)
                except OSError:
                    break
                if not more:
                    break
                chunks.append(more)
                size += len(more)
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def write(self, data: bytes) -> None:
        """Send ``data`` as terminal input, waiting while the PTY's input queue is full."""
        view = memoryview(data)
        while view and not self._closed:
            try:
                n = os.write(self._fd, view)
            except BlockingIOError:
                await self._wait_fd(writable=True)
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:
                    return
                raise
            view = view[n:]

    def resize(self, cols: int, rows: int) -> None:
        """Set the terminal size; values are clamped to 1..1000."""
        cols, rows = max(1, min(cols, 1000)), max(1, min(rows, 1000))
        if (cols, rows) == (self.cols, self.rows) or self._closed:
            return
        self.cols, self.rows = cols, rows
        _set_winsize(self._fd, cols, rows)

    async def wait(self) -> int:
        """Wait for the child to exit and return its status."""
        return await self._proc.wait()

    async def terminate(self, grace: float = 2.0) -> int:
        """Hang up the child's process group (SIGHUP), then SIGKILL after ``grace`` seconds."""
        if self._proc.returncode is None:
            self._signal_group(signal.SIGHUP)
            try:
                await asyncio.wait_for(self._proc.wait(), grace)
            except TimeoutError:
                self._signal_group(signal.SIGKILL)
                await self._proc.wait()
        self.close()
        return self._proc.returncode if self._proc.returncode is not None else -1

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def close(self) -> None:
        """Close the master side (idempotent)."""
        if not self._closed:
            self._closed = True
            os.close(self._fd)


def _set_winsize(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
