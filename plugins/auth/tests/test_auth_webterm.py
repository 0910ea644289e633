"""The session ``auth`` objects the backends make are what the webterm terminal server enforces.

The server's own code (``cloudtty_webterm``) parses and checks them here, so the two
distributions cannot drift apart. Only this test imports the other plugin; the backends never do.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from cloudtty_auth import BasicAuth, HeaderAuth, NoneAuth, TokenAuth
from cloudtty_webterm.auth import TOKEN_COOKIE, TOKEN_QUERY, Authenticator, Identity
from cloudtty_webterm.config import ConfigError, ServerConfig, apply_session, parse_session
from cloudtty_webterm.testing import serve_in_process
from hypothesis import assume, given
from hypothesis import strategies as st

from cloudtty_core import AuthBackend, AuthMaterial, AuthRequest, SecretKeyRef

Req = Callable[..., AuthRequest]
BASH = ("bash", "--norc", "--noprofile")

usernames = st.text(
    st.characters(exclude_categories=("Cc", "Cs"), exclude_characters=":"), min_size=1
)
passwords = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1)
tokens = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"),
    min_size=22,
    max_size=64,
)
header_names = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), exclude_characters=",*"),
    min_size=1,
    max_size=12,
)


def server_config(auth: Mapping[str, Any], base_path: str = "/") -> ServerConfig:
    """The configuration a warm worker ends up with after reading its session.json."""
    session = parse_session({"command": list(BASH), "basePath": base_path, "auth": dict(auth)})
    config = apply_session(ServerConfig(command=BASH), session)
    config.validate("session.json")
    return config


def check(
    auth: Mapping[str, Any], path: str = "/", headers: Mapping[str, str] | None = None
) -> int:
    """The HTTP status the server answers a page request with (200 when it lets it in)."""
    config = server_config(auth)
    authenticator = Authenticator(config.auth, base_path=config.base_path, secure_cookie=False)
    result = authenticator.check(make_mocked_request("GET", path, headers=dict(headers or {})))
    if isinstance(result, Identity):
        return 200
    assert isinstance(result, web.StreamResponse)
    return result.status


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def session_of(backend: AuthBackend, request: AuthRequest, material: AuthMaterial) -> Any:
    return backend.session_auth(backend.configure(request), material)


# --- Every object is accepted ------------------------------------------------------------------


def test_none_session_lets_everyone_in(make_request: Req) -> None:
    assert check(session_of(NoneAuth(), make_request(), AuthMaterial())) == 200


def test_server_rejects_a_malformed_auth_object() -> None:
    # Guards the guard: parse_session must be strict, or accepting ours proves nothing.
    with pytest.raises(ConfigError):
        server_config({"mode": "basic", "username": "a", "passwordSha256": "not-a-digest"})


# --- basic --------------------------------------------------------------------------------------


@given(username=usernames, password=passwords, wrong=passwords)
def test_basic_right_credential_in_wrong_out(
    make_request: Req, username: str, password: str, wrong: str
) -> None:
    assume(wrong != password)
    request = make_request(mode="basic", secretRef={"name": "creds"})
    ref = {r.key: r for r in BasicAuth().configure(request).secret_refs}
    material = AuthMaterial({ref["username"]: username, ref["password"]: password})
    auth = session_of(BasicAuth(), request, material)
    assert check(auth, headers=basic(username, password)) == 200
    assert check(auth, headers=basic(username, wrong)) == 401
    assert check(auth, headers=basic(username + "x", password)) == 401
    assert check(auth) == 401


def test_basic_user_colon_password_secret(make_request: Req) -> None:
    request = make_request(mode="basic", secretRef={"name": "creds", "key": "auth"})
    material = AuthMaterial({SecretKeyRef("team-a", "creds", "auth"): "alice:pa:ss\n"})
    auth = session_of(BasicAuth(), request, material)
    assert check(auth, headers=basic("alice", "pa:ss")) == 200
    assert check(auth, headers=basic("alice", "pa:ss\n")) == 401


# --- token --------------------------------------------------------------------------------------


@given(token=tokens, wrong=tokens)
def test_token_right_token_in_wrong_out(make_request: Req, token: str, wrong: str) -> None:
    assume(wrong != token)
    auth = session_of(TokenAuth(), make_request(mode="token"), AuthMaterial(token=token))
    setup = TokenAuth().configure(make_request(mode="token"))
    assert setup.token_param == TOKEN_QUERY
    assert check(auth, f"/?{setup.token_param}={token}") == 303  # moved into the cookie
    assert check(auth, headers={"Cookie": f"{TOKEN_COOKIE}={token}"}) == 200
    assert check(auth, f"/?{setup.token_param}={wrong}") == 401
    assert check(auth, headers={"Cookie": f"{TOKEN_COOKIE}={wrong}"}) == 401
    assert check(auth) == 401


# --- header -------------------------------------------------------------------------------------


@given(
    users=st.lists(header_names, max_size=3),
    groups=st.lists(header_names, max_size=3),
    user=header_names,
    user_groups=st.lists(header_names, max_size=3),
)
def test_header_allow_lists_decide(
    make_request: Req, users: list[str], groups: list[str], user: str, user_groups: list[str]
) -> None:
    assume(users or groups)
    assume(all(n.isascii() for n in [user, *user_groups]))  # HTTP header values are Latin-1
    request = make_request(mode="header", allowedUsers=users, allowedGroups=groups)
    auth = session_of(HeaderAuth(), request, AuthMaterial())
    headers = {"X-Forwarded-User": user, "X-Forwarded-Groups": ",".join(user_groups)}
    allowed = user in users or any(g in groups for g in user_groups)
    assert check(auth, headers=headers) == (200 if allowed else 403)
    assert check(auth, headers={"X-Forwarded-Groups": ",".join(groups)}) == 401


def test_header_custom_names(make_request: Req) -> None:
    request = make_request(
        mode="header", allowedGroups=["sre"], userHeader="X-Auth-User", groupsHeader="X-Auth-Groups"
    )
    auth = session_of(HeaderAuth(), request, AuthMaterial())
    assert check(auth, headers={"X-Auth-User": "bob", "X-Auth-Groups": "dev, sre"}) == 200
    assert check(auth, headers={"X-Auth-User": "bob", "X-Auth-Groups": "dev"}) == 403
    assert check(auth, headers={"X-Forwarded-User": "bob", "X-Forwarded-Groups": "sre"}) == 401


def test_header_star_admits_any_proxy_user_but_not_anonymous(make_request: Req) -> None:
    auth = session_of(HeaderAuth(), make_request(mode="header", allowedUsers=["*"]), AuthMaterial())
    assert check(auth, headers={"X-Forwarded-User": "anyone"}) == 200
    assert check(auth) == 401


# --- Over real HTTP, as a worker would serve it --------------------------------------------------


@pytest.mark.anyio
async def test_token_login_link_over_http(make_request: Req, tmp_path: Path) -> None:
    token = secrets.token_urlsafe(32)
    request = make_request(mode="token")
    setup = TokenAuth().configure(request)
    auth = TokenAuth().session_auth(setup, AuthMaterial(token=token))
    config = server_config(auth, base_path="/team-a/shell-1/")
    async with serve_in_process(attrs.evolve(config, workdir=tmp_path)) as run:
        base = run.url + "/team-a/shell-1/"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(base) as response:
                assert response.status == 401
            login = f"{base}?{setup.token_param}={token}"
            async with http.get(login, allow_redirects=False) as response:
                assert response.status == 303
                assert token not in response.headers["Location"]
            async with http.get(base) as response:  # the cookie it set is enough now
                assert response.status == 200


@pytest.mark.anyio
async def test_basic_over_http(make_request: Req, tmp_path: Path) -> None:
    request = make_request(mode="basic", secretRef={"name": "creds"})
    ref = {r.key: r for r in BasicAuth().configure(request).secret_refs}
    material = AuthMaterial({ref["username"]: "alice", ref["password"]: "s3cret pässword"})
    config = server_config(session_of(BasicAuth(), request, material))
    async with (
        serve_in_process(attrs.evolve(config, workdir=tmp_path)) as run,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(run.url + "/") as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Basic")
        async with http.get(run.url + "/", headers=basic("alice", "s3cret pässword")) as response:
            assert response.status == 200
        async with http.get(run.url + "/", headers=basic("alice", "s3cret passw0rd")) as response:
            assert response.status == 401
