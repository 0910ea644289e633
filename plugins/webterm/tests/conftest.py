"""Fixtures of the webterm tests: the asyncio backend for anyio-marked tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp runs on asyncio."""
    return "asyncio"
