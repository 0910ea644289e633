"""How secrets are turned into what a session carries: SHA-256 digests, never the secret.

The terminal server compares a digest of what a user offers with the session's digest in
constant time (``hmac.compare_digest``), so the format here must match its reading exactly:
64 lower-case hex digits of the SHA-256 of the UTF-8 bytes.
"""

from __future__ import annotations

import hashlib

__all__ = ["sha256_hex"]


def sha256_hex(secret: str) -> str:
    """The lower-case hex SHA-256 digest of ``secret`` encoded as UTF-8."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
