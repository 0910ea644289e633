"""Pod IPs: each pod gets its own loopback address 127.x.y.z (never 127.0.0.1), so local
processes of different pods can bind the same port without clashing."""

from __future__ import annotations

import random


class PodIPAllocator:
    """Hands out 127.<a>.<b>.<c> addresses from a randomly placed block of this sandbox."""

    def __init__(self, rng: random.Random | None = None) -> None:
        rng = rng or random.Random()
        # Different sandboxes (parallel test workers) start in different blocks.
        self._base = rng.randint(16, 239) << 16 | rng.randint(0, 255) << 8
        self._next = 0
        self._used: set[str] = set()

    def _address(self, offset: int) -> str:
        value = self._base + offset
        a, b, c = (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF
        return f"127.{a}.{b}.{c}"

    def allocate(self) -> str:
        for _ in range(1 << 16):
            self._next = (self._next + 1) % (1 << 16)
            if self._next % 256 in (0, 255):
                continue
            ip = self._address(self._next)
            if ip not in self._used:
                self._used.add(ip)
                return ip
        raise RuntimeError("no pod IP left")

    def release(self, ip: str | None) -> None:
        if ip:
            self._used.discard(ip)
