"""ServiceAccount TokenRequest: signed tokens carrying the ServiceAccount identity and expiry."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cloudtty_sandbox.tokens import TokenIssuer
from kubernetes import client
from kubernetes.client.rest import ApiException


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_token_request_issues_a_signed_token(sandbox, sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    core.create_namespaced_service_account("default", {"metadata": {"name": "shell"}})
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=["cloudtty"], expiration_seconds=900)
    )
    answer = core.create_namespaced_service_account_token("shell", "default", request)
    token = answer.status.token
    claims = _claims(token)
    assert claims["sub"] == "system:serviceaccount:default:shell"
    assert claims["aud"] == ["cloudtty"]
    assert claims["kubernetes.io"]["serviceaccount"]["name"] == "shell"
    assert abs(claims["exp"] - (time.time() + 900)) < 60
    assert answer.status.expiration_timestamp is not None
    # the sandbox can verify its own tokens; a tampered one fails
    issuer = sandbox.sandbox.tokens
    assert sandbox.call(issuer.verify, token)["sub"] == claims["sub"]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert sandbox.call(issuer.verify, forged) is None


def test_token_request_for_missing_account_is_404(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service_account_token(
            "nobody",
            "default",
            client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[])),
        )
    assert err.value.status == 404


def test_too_short_expiration_is_invalid(sandbox_api_client):
    core = client.CoreV1Api(sandbox_api_client)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service_account_token(
            "default",
            "default",
            client.AuthenticationV1TokenRequest(
                spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=10)
            ),
        )
    assert err.value.status == 422
    assert json.loads(err.value.body)["details"]["causes"][0]["field"] == "spec.expirationSeconds"


def test_expired_tokens_do_not_verify():
    issuer = TokenIssuer()
    token, _ = issuer.issue("ns", "sa", "uid", expiration_seconds=-5)
    assert issuer.verify(token) is None
    other = TokenIssuer()
    good, _ = issuer.issue("ns", "sa", "uid")
    assert other.verify(good) is None
    assert issuer.verify("not-a-token") is None
