"""Request authentication: none, basic, token (URL once, then an HttpOnly cookie) and header.

Every secret is compared as a SHA-256 digest with :func:`hmac.compare_digest`, so neither the
comparison time nor the configuration reveals it. Failed basic/token attempts are limited per
client address (429 with Retry-After).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

import attrs
from aiohttp import web

from cloudtty_webterm.config import AuthConfig
from cloudtty_webterm.ratelimit import FailureLimiter

TOKEN_COOKIE = "cloudtty_token"
TOKEN_QUERY = "token"


@attrs.frozen
class Identity:
    """Who a request comes from (None when auth is off)."""

    user: str | None = None
    groups: tuple[str, ...] = ()


def sha256_hex(value: str | bytes) -> str:
    """Hex SHA-256 digest of a secret (text is UTF-8 encoded)."""
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()


def digest_matches(secret: str, expected_sha256: str) -> bool:
    """Constant-time check that ``secret`` hashes to ``expected_sha256``."""
    return hmac.compare_digest(sha256_hex(secret), expected_sha256)


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=message + "\n", headers=headers)


def client_address(request: web.Request) -> str:
    """The peer address failures are counted against."""
    return request.remote or "unknown"


class Authenticator:
    """Checks requests against one :class:`AuthConfig`.

    :meth:`check` returns an :class:`Identity` for an accepted request, or the response to send
    instead (401/403/429, or the redirect that moves a URL token into a cookie).
    """

    def __init__(self, config: AuthConfig, *, base_path: str, secure_cookie: bool) -> None:
        self.config = config
        self.base_path = base_path
        self.secure_cookie = secure_cookie
        self.limiter = FailureLimiter(config.max_failures, config.failure_window_seconds)

    def check(self, request: web.Request) -> Identity | web.StreamResponse:
        """Authenticate ``request``."""
        mode = self.config.mode
        if mode == "none":
            return Identity()
        if mode == "header":
            return self._header(request)
        address = client_address(request)
        retry = self.limiter.retry_after(address)
        if retry is not None:
            return _text(429, "too many failed attempts", {"Retry-After": str(retry)})
        if mode == "basic":
            return self._basic(request, address)
        return self._token(request, address)

    def _basic(self, request: web.Request, address: str) -> Identity | web.StreamResponse:
        challenge = {"WWW-Authenticate": 'Basic realm="cloudtty", charset="UTF-8"'}
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return _text(401, "authentication required", challenge)
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, sep, password = "", "", ""
        expected_user = self.config.username or ""
        # Evaluate both comparisons so a wrong user name takes as long as a wrong password.
        user_ok = hmac.compare_digest(sha256_hex(user), sha256_hex(expected_user))
        password_ok = digest_matches(password, self.config.password_sha256 or "")
        if sep and user_ok and password_ok:
            self.limiter.succeeded(address)
            return Identity(user=user)
        self.limiter.failed(address)
        return _text(401, "wrong user name or password", challenge)

    def _token(self, request: web.Request, address: str) -> Identity | web.StreamResponse:
        expected = self.config.token_sha256 or ""
        offered = request.query.get(TOKEN_QUERY)
        if offered is not None:
            if not digest_matches(offered, expected):
                self.limiter.failed(address)
                return _text(401, "wrong access token")
            self.limiter.succeeded(address)
            if request.method == "GET" and not _is_websocket(request):
                return self._token_redirect(request, offered)
            return Identity()
        cookie = request.cookies.get(TOKEN_COOKIE)
        if cookie is None:
            return _text(401, "this shell needs its access link (the URL with ?token=…)")
        if not digest_matches(cookie, expected):
            self.limiter.failed(address)
            return _text(401, "wrong access token")
        return Identity()

    def _token_redirect(self, request: web.Request, token: str) -> web.StreamResponse:
        clean = request.rel_url.without_query_params(TOKEN_QUERY)
        target = str(clean)
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            # A SameSite=Strict cookie is withheld from a redirect chain that a cross-site page
            # started; a same-origin navigation from a tiny page carries it.
            response: web.StreamResponse = web.Response(
                status=200,
                content_type="text/html",
                text=_BRIDGE_PAGE.replace("__TARGET__", _html_attr(target)),
                headers={"Refresh": f"0; url={target}"},
            )
        else:
            response = web.Response(status=303, headers={"Location": target})
        response.set_cookie(
            TOKEN_COOKIE,
            token,
            path=self.base_path,
            httponly=True,
            samesite="Strict",
            secure=self.secure_cookie,
        )
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    def _header(self, request: web.Request) -> Identity | web.StreamResponse:
        user = request.headers.get(self.config.user_header, "").strip()
        if not user:
            return _text(401, f"no user in header {self.config.user_header}")
        groups = tuple(
            g.strip()
            for g in request.headers.get(self.config.groups_header, "").split(",")
            if g.strip()
        )
        allowed_users, allowed_groups = self.config.allowed_users, self.config.allowed_groups
        if (allowed_users or allowed_groups) and not (
            user in allowed_users or any(g in allowed_groups for g in groups)
        ):
            return _text(403, f"user {user} may not use this shell")
        return Identity(user=user, groups=groups)


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _html_attr(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


_BRIDGE_PAGE = """<!doctype html>
<meta charset="utf-8"><meta name="referrer" content="no-referrer">
<title>cloudtty</title>
<p>Opening the shell… <a href="__TARGET__">continue</a></p>
"""
