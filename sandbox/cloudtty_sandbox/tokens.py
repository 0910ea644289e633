"""ServiceAccount tokens: HMAC-signed JWTs the sandbox issues (TokenRequest, projected volumes)
and can verify (for the opt-in authenticating mode)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

import orjson

from . import errors, meta

ISSUER = "https://kubernetes.default.svc.cluster.local"
MIN_EXPIRATION = 600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Signs and verifies ServiceAccount tokens with a per-sandbox secret key (HS256)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)
        self.key_id = hashlib.sha256(self._key).hexdigest()[:16]
        self.admin_token = secrets.token_urlsafe(32)

    def issue(
        self,
        namespace: str,
        name: str,
        uid: str,
        *,
        audiences: list[str] | None = None,
        expiration_seconds: int = 3600,
        bound: dict[str, Any] | None = None,
    ) -> tuple[str, int]:
        """A token for ``system:serviceaccount:<namespace>:<name>`` and its expiry (unix time)."""
        now = int(time.time())
        exp = now + int(expiration_seconds)
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": f"system:serviceaccount:{namespace}:{name}",
            "aud": audiences or [ISSUER],
            "iat": now,
            "nbf": now,
            "exp": exp,
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
        }
        if bound:
            claims["kubernetes.io"][bound["kind"].lower()] = {
                "name": bound["name"],
                "uid": bound.get("uid", ""),
            }
        header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT", "kid": self.key_id}))
        payload = _b64(orjson.dumps(claims))
        signature = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}", exp

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a valid, unexpired token of this sandbox; None otherwise."""
        try:
            header, payload, signature = token.split(".")
            expected = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(signature)):
                return None
            claims = orjson.loads(_unb64(payload))
        except (ValueError, TypeError):
            return None
        if not isinstance(claims, dict) or int(claims.get("exp", 0)) < time.time():
            return None
        return claims

    def token_request(self, sa: dict[str, Any], body: Any) -> dict[str, Any]:
        """Answer a TokenRequest (POST serviceaccounts/<name>/token)."""
        body = body if isinstance(body, dict) else {}
        spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
        seconds = spec.get("expirationSeconds", 3600)
        if not isinstance(seconds, int) or seconds < MIN_EXPIRATION:
            raise errors.invalid(
                "TokenRequest",
                "authentication.k8s.io",
                sa["metadata"]["name"],
                [
                    errors.Cause(
                        "spec.expirationSeconds",
                        f"Invalid value: {seconds!r}: may not specify a duration "
                        "less than 10 minutes",
                    )
                ],
            )
        audiences = spec.get("audiences") or None
        bound = spec.get("boundObjectRef") if isinstance(spec.get("boundObjectRef"), dict) else None
        m = sa["metadata"]
        token, exp = self.issue(
            m["namespace"],
            m["name"],
            m["uid"],
            audiences=audiences,
            expiration_seconds=seconds,
            bound=bound,
        )
        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {
                "name": m["name"],
                "namespace": m["namespace"],
                "creationTimestamp": meta.rfc3339(),
            },
            "spec": {
                "audiences": audiences or [ISSUER],
                "expirationSeconds": seconds,
                "boundObjectRef": bound,
            },
            "status": {
                "token": token,
                "expirationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp)),
            },
        }
