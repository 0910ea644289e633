"""Fixtures of the auth backend tests: shells with a given ``spec.auth`` and their requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cloudtty_core import AuthRequest, CloudShell, OperatorSettings, shell_from_dict
from cloudtty_core.testing import cloudshell

ShellFactory = Callable[..., CloudShell]
RequestFactory = Callable[..., AuthRequest]


@pytest.fixture(scope="session")
def make_shell() -> ShellFactory:
    """``make_shell(mode=..., **auth_fields)``: a validated CloudShell in namespace ``team-a``.

    Session-scoped: it is a pure factory, so hypothesis tests may use it."""

    def build(namespace: str = "team-a", name: str = "shell-1", **auth: Any) -> CloudShell:
        return shell_from_dict(cloudshell(name, namespace, auth=auth))

    return build


@pytest.fixture(scope="session")
def make_request(make_shell: ShellFactory) -> RequestFactory:
    """``make_request(mode=..., **auth_fields)``: the AuthRequest an auth backend is given."""

    def build(**auth: Any) -> AuthRequest:
        return AuthRequest(make_shell(**auth), OperatorSettings())

    return build


@pytest.fixture
def anyio_backend() -> str:
    """The terminal server these tests start runs on asyncio (aiohttp)."""
    return "asyncio"
