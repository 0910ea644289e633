"""A bounded buffer of recent terminal output, replayed to a client that reconnects."""

from __future__ import annotations


class Scrollback:
    """Keeps the last ``limit`` bytes of output, starting on a UTF-8 character boundary."""

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self._buf = bytearray()

    def append(self, data: bytes) -> None:
        """Add output, dropping the oldest bytes beyond the limit."""
        if not self.limit:
            return
        self._buf += data
        excess = len(self._buf) - self.limit
        if excess > 0:
            # Never start the replay inside a multibyte character: skip continuation bytes.
            while excess < len(self._buf) and 0x80 <= self._buf[excess] < 0xC0:
                excess += 1
            del self._buf[:excess]

    def snapshot(self) -> bytes:
        """The buffered output, oldest first."""
        return bytes(self._buf)

    def __len__(self) -> int:
        return len(self._buf)
