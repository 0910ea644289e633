"""The backends inside the real planner: what reaches the session Secret, the access Secret,
the status and the events -- and what happens to a shell whose auth settings are wrong."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import cloudtty_auth.plugin
from cloudtty_auth import BasicAuth, HeaderAuth, NoneAuth, TokenAuth

from cloudtty_core import (
    BackendRegistry,
    ClusterPoolView,
    ObjectRef,
    OperatorSettings,
    PlanContext,
    PoolKey,
    Snapshot,
    load_plugins,
    plan,
    plan_pool,
)
from cloudtty_core.testing import (
    NOW,
    Converged,
    FakeExposureBackend,
    FakeImageBackend,
    apply_plan,
    cloudshell,
    converge,
    create,
    kubeconfig_secret,
    shell_ref,
    start_pods,
)

TOKEN = "tok_" + "A1b2C3d4" * 5
PASSWORD = "correct horse battery"
IMAGE = FakeImageBackend(supported_auth=frozenset({"none", "basic", "token", "header"}))
KEY = PoolKey("default", IMAGE.name, IMAGE.default_image)
SPEC: dict[str, Any] = {
    "exposureMode": "Fake",
    "imageBackend": "fake",
    "secretRef": {"name": "kubeconfig"},
}
BASIC = {"mode": "basic", "secretRef": {"name": "creds"}}
CREDENTIAL = {
    "apiVersion": "v1",
    "kind": "Secret",
    "type": "kubernetes.io/basic-auth",
    "metadata": {"name": "creds", "namespace": "default"},
    "stringData": {"username": "alice", "password": PASSWORD},
}


def registry() -> BackendRegistry:
    """The fake exposure and image backends of the core's test kit, and this plugin's auth."""
    loaded = load_plugins(autoload=False, extra=[("auth", cloudtty_auth.plugin)])
    assert not loaded.failures
    with loaded.registry.provided_by("cloudtty-core-testing"):
        loaded.registry.add_exposure(FakeExposureBackend())
        loaded.registry.add_image(IMAGE)
    return loaded.registry


CONTEXT = PlanContext(registry(), OperatorSettings(min_idle=1), token_source=lambda: TOKEN)


def run(auth: dict[str, Any], *extra: dict[str, Any]) -> Converged:
    snap = create(Snapshot.with_default_node(), kubeconfig_secret(), *extra)
    snap = start_pods(
        apply_plan(
            snap, plan_pool(KEY, snap, ClusterPoolView(snap), CONTEXT.settings, CONTEXT.registry)
        )
    )
    snap = create(snap, cloudshell("sh", **SPEC, auth=auth))
    return converge(snap, [shell_ref("default", "sh")], CONTEXT)


def status(done: Converged) -> dict[str, Any]:
    shell = done.shell(shell_ref("default", "sh"))
    assert shell is not None
    return dict(shell["status"])


def secret_text(done: Converged, name: str, key: str) -> str:
    secret = done.snapshot.get("v1", "Secret", "default", name)
    assert secret is not None, f"Secret {name} is missing"
    return base64.b64decode(secret["data"][key]).decode()


def session(done: Converged) -> dict[str, Any]:
    return dict(json.loads(secret_text(done, f"{status(done)['worker']}-session", "session.json")))


def everything_written(done: Converged) -> str:
    """Status and events of every pass, and the session Secret, as one text."""
    texts = [json.dumps(status(done)), json.dumps(session(done))]
    for applied in done.plans:
        texts += [e.message for e in applied.events]
        if applied.status is not None:
            texts.append(repr(applied.status))
    return "\n".join(texts)


def test_registered_by_the_entry_point() -> None:
    loaded = load_plugins()
    entry = loaded.registry.get("auth", "token")
    assert entry.distribution == "cloudtty-auth"
    assert loaded.registry.names("auth") == ("basic", "header", "none", "token")
    assert isinstance(loaded.registry.auth("none"), NoneAuth)
    assert isinstance(loaded.registry.auth("basic"), BasicAuth)
    assert isinstance(loaded.registry.auth("token"), TokenAuth)
    assert isinstance(loaded.registry.auth("header"), HeaderAuth)


def test_none() -> None:
    done = run({"mode": "none"})
    assert status(done)["phase"] == "Ready"
    assert session(done)["auth"] == {"mode": "none"}
    assert "accessSecret" not in status(done)


def test_token_login_url_lives_in_the_access_secret_only() -> None:
    done = run({"mode": "token"})
    shown = status(done)
    assert shown["phase"] == "Ready"
    login = secret_text(done, shown["accessSecret"], "url")
    assert login == f"{shown['accessUrl']}?token={TOKEN}"
    assert session(done)["auth"] == {
        "mode": "token",
        "tokenSha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
    }
    assert TOKEN not in everything_written(done)


def test_basic_session_carries_the_digest() -> None:
    done = run(BASIC, CREDENTIAL)
    assert status(done)["phase"] == "Ready"
    assert session(done)["auth"] == {
        "mode": "basic",
        "username": "alice",
        "passwordSha256": hashlib.sha256(PASSWORD.encode()).hexdigest(),
    }
    assert PASSWORD not in everything_written(done)


def test_basic_waits_for_its_secret_naming_the_keys() -> None:
    done = run(BASIC)
    shown = status(done)
    assert shown["phase"] != "Ready"
    (condition,) = [c for c in shown["conditions"] if c["type"] == "AuthReady"]
    assert condition["status"] == "False"
    assert "Secret default/creds key 'username'" in condition["message"]
    assert "Secret default/creds key 'password'" in condition["message"]


def test_header_session_carries_the_allow_list() -> None:
    done = run({"mode": "header", "allowedGroups": ["sre"]})
    assert status(done)["phase"] == "Ready"
    assert session(done)["auth"]["allowedGroups"] == ["sre"]


def test_header_without_allow_list_is_refused_with_the_field() -> None:
    snap = create(Snapshot.with_default_node(), kubeconfig_secret())
    snap = create(snap, cloudshell("sh", **SPEC, auth={"mode": "header"}))
    result = plan_shell(snap)
    assert result.status is not None
    assert result.status.phase is not None
    assert result.status.phase.value == "Failed"
    messages = " ".join(c.message for c in result.status.conditions)
    assert "spec.auth.allowedUsers" in messages
    assert not result.creates


def plan_shell(snap: Snapshot) -> Any:
    """One planning pass of shell ``sh``."""
    raw = snap.get("cloudshell.cloudtty.io/v1alpha1", "CloudShell", "default", "sh")
    assert raw is not None
    return plan(raw, snap, ClusterPoolView(snap), NOW, CONTEXT)


def auth_condition(result: Any) -> Any:
    assert result.status is not None
    (condition,) = [c for c in result.status.conditions if c.type == "AuthReady"]
    return condition


def test_unusable_credential_shows_in_the_auth_condition() -> None:
    empty = {**CREDENTIAL, "stringData": {"username": "alice", "password": ""}}
    snap = create(Snapshot.with_default_node(), kubeconfig_secret(), empty)
    snap = start_pods(
        apply_plan(
            snap, plan_pool(KEY, snap, ClusterPoolView(snap), CONTEXT.settings, CONTEXT.registry)
        )
    )
    snap = create(
        snap, cloudshell("sh", **SPEC, auth={"mode": "basic", "secretRef": {"name": "creds"}})
    )
    condition = auth_condition(plan_shell(snap))
    assert condition.status == "False"
    assert "Secret default/creds key 'password': the password is empty" in condition.message


def test_credential_deleted_after_ready_stops_being_ready() -> None:
    done = run(BASIC, CREDENTIAL)
    assert status(done)["phase"] == "Ready"
    snap = done.snapshot.remove(ObjectRef("v1", "Secret", "default", "creds"))
    result = plan_shell(snap)
    condition = auth_condition(result)
    assert condition.status == "False"
    assert "Secret default/creds key 'username'" in condition.message
    assert result.status.phase is not None
    assert result.status.phase.value != "Ready"


def test_access_secret_belongs_to_the_shell() -> None:
    # docs/auth.md promises the token Secret is deleted with the shell.
    done = run({"mode": "token"})
    shell = done.shell(shell_ref("default", "sh"))
    assert shell is not None
    access = done.snapshot.get("v1", "Secret", "default", status(done)["accessSecret"])
    assert access is not None
    owners = access["metadata"].get("ownerReferences") or []
    assert [(o["kind"], o["uid"]) for o in owners] == [("CloudShell", shell["metadata"]["uid"])]
