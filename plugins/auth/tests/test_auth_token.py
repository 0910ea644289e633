"""Auth mode ``token``: a login-URL token whose digest alone reaches the session."""

from __future__ import annotations

import hashlib
import json
import secrets
import string
from collections.abc import Callable

import pytest
from cloudtty_auth import MIN_TOKEN_LENGTH, CredentialError, TokenAuth
from hypothesis import given
from hypothesis import strategies as st

from cloudtty_core import AuthMaterial, AuthRequest, AuthSetup, InvalidShell

Req = Callable[..., AuthRequest]
SETUP = AuthSetup(mode="token", token_param="token")
URL_SAFE = string.ascii_letters + string.digits + "-_"

tokens = st.text(st.sampled_from(URL_SAFE), min_size=MIN_TOKEN_LENGTH, max_size=128)


def test_setup_asks_for_a_login_url_token(make_request: Req) -> None:
    setup = TokenAuth().configure(make_request(mode="token"))
    assert setup == SETUP
    assert setup.secret_refs == ()
    assert setup.params == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [("secretRef", {"name": "t"}), ("allowedUsers", ["a"]), ("groupsHeader", "X-G")],
)
def test_settings_of_other_modes_are_refused(make_request: Req, field: str, value: object) -> None:
    with pytest.raises(InvalidShell) as caught:
        TokenAuth().configure(make_request(mode="token", **{field: value}))
    assert [p.path for p in caught.value.problems] == [f"spec.auth.{field}"]


def test_session_carries_the_token_digest_only() -> None:
    token = secrets.token_urlsafe(32)  # what the planner's default token source makes
    session = TokenAuth().session_auth(SETUP, AuthMaterial(token=token))
    assert session == {"mode": "token", "tokenSha256": hashlib.sha256(token.encode()).hexdigest()}


def test_missing_token() -> None:
    with pytest.raises(CredentialError, match="no access token was generated"):
        TokenAuth().session_auth(SETUP, AuthMaterial())


@pytest.mark.parametrize(
    "token",
    [
        "x" * (MIN_TOKEN_LENGTH - 1),  # too few random bits
        "a" * 30 + "&b",  # would end the query parameter
        "a" * 30 + "+",  # a URL reads it as a space
        "a" * 30 + "%41",
        "a" * 30 + "é",
    ],
)
def test_tokens_a_url_cannot_carry_verbatim_are_refused(token: str) -> None:
    with pytest.raises(CredentialError) as caught:
        TokenAuth().session_auth(SETUP, AuthMaterial(token=token))
    assert f"at least {MIN_TOKEN_LENGTH} characters from A-Z a-z 0-9 - _" in str(caught.value)
    assert token not in str(caught.value)


@given(token=tokens)
def test_no_plain_token_anywhere(token: str) -> None:
    material = AuthMaterial(token=token)
    session = TokenAuth().session_auth(SETUP, material)
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert session == {"mode": "token", "tokenSha256": digest}
    if token not in digest:  # a short all-hex token could occur in its own digest
        for text in (repr(SETUP), repr(material), repr(session), json.dumps(session)):
            assert token not in text
