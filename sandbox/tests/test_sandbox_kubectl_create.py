"""``kubectl create …`` generators: kubectl's typed clients send protobuf bodies, which the
sandbox decodes (as an API server does) instead of refusing them."""

from __future__ import annotations

import base64
import json

import pytest
from cloudtty_sandbox import protowire
from cloudtty_sandbox.errors import ApiError

# What kubectl 1.37 sends for `kubectl create namespace x` (captured with -v=8).
NAMESPACE_X = bytes.fromhex(
    "6b 38 73 00 0a 0f 0a 02 76 31 12 09 4e 61 6d 65 73 70 61 63 65 12 19 0a 11 0a 01 78"
    " 12 00 1a 00 22 00 2a 00 32 00 38 00 42 00 12 00 1a 02 0a 00 1a 00 22 00"
)


def _get(sandbox, *args):
    return json.loads(sandbox.kubectl("get", *args, "-o", "json").stdout)


def test_create_namespace_secret_configmap_serviceaccount(sandbox):
    assert "namespace/x created" in sandbox.kubectl("create", "namespace", "x").stdout
    namespace = _get(sandbox, "namespace", "x")
    assert namespace["metadata"]["labels"]["kubernetes.io/metadata.name"] == "x"
    assert namespace["status"]["phase"] == "Active"

    created = sandbox.kubectl(
        "create",
        "secret",
        "generic",
        "creds",
        "-n",
        "x",
        "--from-literal=user=admin",
        "--from-literal=password=s3cret",
    )
    assert "secret/creds created" in created.stdout
    secret = _get(sandbox, "secret", "creds", "-n", "x")
    assert secret["type"] == "Opaque"
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "user": "admin",
        "password": "s3cret",
    }

    sandbox.kubectl(
        "create",
        "secret",
        "docker-registry",
        "pull",
        "-n",
        "x",
        "--docker-server=registry.test",
        "--docker-username=u",
        "--docker-password=p",
    )
    pull = _get(sandbox, "secret", "pull", "-n", "x")
    assert pull["type"] == "kubernetes.io/dockerconfigjson"
    auths = json.loads(base64.b64decode(pull["data"][".dockerconfigjson"]))["auths"]
    assert auths["registry.test"]["username"] == "u"

    sandbox.kubectl(
        "create",
        "configmap",
        "settings",
        "-n",
        "x",
        "--from-literal=a=1",
        "--from-literal=b=",
    )
    assert _get(sandbox, "configmap", "settings", "-n", "x")["data"] == {"a": "1", "b": ""}

    assert "created" in sandbox.kubectl("create", "serviceaccount", "robot", "-n", "x").stdout
    account = _get(sandbox, "serviceaccount", "robot", "-n", "x")
    assert account["metadata"]["uid"]
    # the same generator again is a 409 AlreadyExists
    again = sandbox.kubectl("create", "serviceaccount", "robot", "-n", "x", check=False)
    assert again.returncode != 0
    assert "already exists" in again.stderr


def test_create_token_is_a_token_request(sandbox):
    sandbox.kubectl("create", "serviceaccount", "robot")
    token = sandbox.kubectl(
        "create", "token", "robot", "--duration=15m", "--audience=shells"
    ).stdout.strip()
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == "system:serviceaccount:default:robot"
    assert claims["aud"] in (["shells"], "shells")
    assert claims["exp"] - claims["iat"] == 15 * 60
    # a duration under the API server's minimum is refused with the field named
    short = sandbox.kubectl("create", "token", "robot", "--duration=1m", check=False)
    assert short.returncode != 0
    assert "expirationSeconds" in short.stderr
    missing = sandbox.kubectl("create", "token", "nobody", check=False)
    assert missing.returncode != 0
    assert "not found" in missing.stderr


def test_create_rbac_objects_and_delete(sandbox):
    sandbox.kubectl("create", "role", "reader", "--verb=get,list", "--resource=pods")
    sandbox.kubectl(
        "create", "rolebinding", "reader", "--role=reader", "--serviceaccount=default:default"
    )
    role = _get(sandbox, "role", "reader")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    binding = _get(sandbox, "rolebinding", "reader")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "reader",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "default", "namespace": "default"}
    ]
    sandbox.kubectl("create", "configmap", "gone", "--from-literal=a=1")
    assert "deleted" in sandbox.kubectl("delete", "configmap/gone", "role/reader").stdout
    assert sandbox.kubectl("get", "configmap", "gone", check=False).returncode != 0
    assert sandbox.kubectl("get", "role", "reader", check=False).returncode != 0
    sandbox.kubectl("create", "namespace", "doomed")
    assert "deleted" in sandbox.kubectl("delete", "namespace", "doomed", "--wait=true").stdout
    assert sandbox.kubectl("get", "namespace", "doomed", check=False).returncode != 0


def test_decode_namespace_as_kubectl_sends_it():
    assert protowire.decode(NAMESPACE_X) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "x"},
    }


def test_undecodable_protobuf_is_415_naming_the_kind():
    envelope = protowire.MAGIC + bytes([0x0A, 0x0D, 0x0A, 0x02]) + b"v1" + bytes([0x12, 0x07])
    with pytest.raises(ApiError) as info:
        protowire.decode(envelope + b"Unicorn")
    assert info.value.code == 415
    assert "Unicorn" in info.value.status()["message"]
    with pytest.raises(ApiError) as truncated:
        protowire.decode(NAMESPACE_X[:-9])
    assert truncated.value.code == 415
