"""Auth mode ``none``: nothing to enforce, and no setting that would look like a restriction."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cloudtty_auth import NoneAuth

from cloudtty_core import AuthMaterial, AuthRequest, AuthSetup, InvalidShell

Req = Callable[..., AuthRequest]


def test_setup_and_session_say_none(make_request: Req) -> None:
    backend = NoneAuth()
    setup = backend.configure(make_request(mode="none"))
    assert setup == AuthSetup(mode="none")
    assert setup.secret_refs == ()
    assert setup.token_param is None
    session = backend.session_auth(setup, AuthMaterial())
    assert json.loads(json.dumps(session)) == {"mode": "none"}


def test_default_spec_is_none(make_request: Req) -> None:
    assert NoneAuth().configure(make_request()).mode == "none"


@pytest.mark.parametrize(
    ("field", "value", "hint"),
    [
        ("secretRef", {"name": "creds"}, "basic"),
        ("allowedUsers", ["alice"], "header"),
        ("allowedGroups", ["admins"], "header"),
        ("userHeader", "X-User", "header"),
        ("groupsHeader", "X-Groups", "header"),
    ],
)
def test_settings_of_other_modes_are_refused(
    make_request: Req, field: str, value: Any, hint: str
) -> None:
    # Someone who writes allowedUsers but forgets mode: header must not get an open shell.
    with pytest.raises(InvalidShell) as caught:
        NoneAuth().configure(make_request(mode="none", **{field: value}))
    (problem,) = caught.value.problems
    assert problem.path == f"spec.auth.{field}"
    assert f"spec.auth.mode: {hint}" in problem.message


def test_every_wrong_setting_is_reported_at_once(make_request: Req) -> None:
    request = make_request(secretRef={"name": "creds"}, allowedUsers=["a"], userHeader="X-U")
    assert [p.path for p in NoneAuth().problems(request.shell)] == [
        "spec.auth.secretRef",
        "spec.auth.allowedUsers",
        "spec.auth.userHeader",
    ]


def test_session_of_another_mode_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="'none' was given a 'token' setup"):
        NoneAuth().session_auth(AuthSetup(mode="token"), AuthMaterial())
