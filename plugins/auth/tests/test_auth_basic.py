"""Auth mode ``basic``: which Secret keys are read, what the session carries, what is refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pytest
from cloudtty_auth import BasicAuth, CredentialError
from hypothesis import assume, given
from hypothesis import strategies as st

from cloudtty_core import (
    AuthMaterial,
    AuthRequest,
    AuthSetup,
    CloudShell,
    InvalidShell,
    OperatorSettings,
    SecretKeyRef,
)

Req = Callable[..., AuthRequest]

USER_REF = SecretKeyRef("team-a", "creds", "username")
PASSWORD_REF = SecretKeyRef("team-a", "creds", "password")
PAIR_REF = SecretKeyRef("team-a", "creds", "credential")
SPLIT = AuthSetup(
    mode="basic",
    params={"usernameKey": "username", "passwordKey": "password"},
    secret_refs=(USER_REF, PASSWORD_REF),
)
COMBINED = AuthSetup(mode="basic", params={"credentialKey": "credential"}, secret_refs=(PAIR_REF,))

# What a user can type into a browser's basic-auth dialog.
usernames = st.text(
    st.characters(exclude_categories=("Cc", "Cs"), exclude_characters=":"), min_size=1
)
passwords = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=8)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_secret_without_key_is_read_as_username_and_password(make_request: Req) -> None:
    setup = BasicAuth().configure(make_request(mode="basic", secretRef={"name": "creds"}))
    assert setup == SPLIT
    assert setup.token_param is None


def test_secret_key_holds_user_colon_password(make_request: Req) -> None:
    request = make_request(mode="basic", secretRef={"name": "creds", "key": "credential"})
    assert BasicAuth().configure(request) == COMBINED


def test_secret_is_looked_up_in_the_shell_namespace(make_shell: Callable[..., CloudShell]) -> None:
    shell = make_shell(namespace="other", mode="basic", secretRef={"name": "c"})
    setup = BasicAuth().configure(AuthRequest(shell, OperatorSettings()))
    assert {ref.namespace for ref in setup.secret_refs} == {"other"}


def test_custom_default_keys(make_request: Req) -> None:
    request = make_request(mode="basic", secretRef={"name": "c"})
    setup = BasicAuth(username_key="user", password_key="pass").configure(request)
    assert [ref.key for ref in setup.secret_refs] == ["user", "pass"]
    assert setup.params == {"usernameKey": "user", "passwordKey": "pass"}


def test_missing_secret_ref_names_the_field(make_request: Req) -> None:
    with pytest.raises(InvalidShell) as caught:
        BasicAuth().configure(make_request(mode="basic"))
    (problem,) = caught.value.problems
    assert problem.path == "spec.auth.secretRef"
    assert "spec.auth.secretRef.name" in problem.message
    assert "'username'" in problem.message
    assert "'password'" in problem.message


def test_header_settings_are_refused(make_request: Req) -> None:
    request = make_request(mode="basic", secretRef={"name": "c"}, allowedUsers=["a"])
    with pytest.raises(InvalidShell) as caught:
        BasicAuth().configure(request)
    assert [p.path for p in caught.value.problems] == ["spec.auth.allowedUsers"]


def test_session_carries_username_and_password_digest() -> None:
    material = AuthMaterial({USER_REF: "alice", PASSWORD_REF: "correct horse"})
    session = BasicAuth().session_auth(SPLIT, material)
    assert session == {
        "mode": "basic",
        "username": "alice",
        "passwordSha256": sha256("correct horse"),
    }


def test_combined_value_splits_at_the_first_colon() -> None:
    material = AuthMaterial({PAIR_REF: "alice:pa:ss:word"})
    assert BasicAuth().credential(COMBINED, material) == ("alice", "pa:ss:word")


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_one_trailing_line_break_is_ignored(ending: str) -> None:
    # kubectl create secret --from-file keeps the file's final newline.
    split = AuthMaterial({USER_REF: "alice" + ending, PASSWORD_REF: "secret-pw" + ending})
    combined = AuthMaterial({PAIR_REF: "alice:secret-pw" + ending})
    assert BasicAuth().credential(SPLIT, split) == ("alice", "secret-pw")
    assert BasicAuth().credential(COMBINED, combined) == ("alice", "secret-pw")


@pytest.mark.parametrize(
    ("setup", "values", "expected"),
    [
        (COMBINED, {PAIR_REF: "alice-secret-pw"}, "key 'credential' must hold 'user:password'"),
        (COMBINED, {PAIR_REF: ":secret-pw"}, "key 'credential': the user name is empty"),
        (COMBINED, {PAIR_REF: "alice:"}, "key 'credential': the password is empty"),
        (SPLIT, {USER_REF: "", PASSWORD_REF: "secret-pw"}, "key 'username': the user name is"),
        (SPLIT, {USER_REF: "a:b", PASSWORD_REF: "secret-pw"}, "contains ':'"),
        (SPLIT, {USER_REF: "a\tb", PASSWORD_REF: "secret-pw"}, "control characters"),
        (SPLIT, {USER_REF: "alice", PASSWORD_REF: "secret\npw\n"}, "contains a line break"),
        (SPLIT, {USER_REF: "alice"}, "key 'password' (the basic auth credential) was not found"),
        (SPLIT, {}, "key 'username' (the basic auth credential) was not found"),
    ],
)
def test_unusable_credentials_name_the_secret_key_not_the_value(
    setup: AuthSetup, values: dict[SecretKeyRef, str], expected: str
) -> None:
    with pytest.raises(CredentialError) as caught:
        BasicAuth().session_auth(setup, AuthMaterial(values))
    message = str(caught.value)
    assert "Secret team-a/creds" in message
    assert expected in message
    assert "secret-pw" not in message
    assert "secret\npw" not in message


def test_setup_with_no_keys_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="one or two Secret keys, not 0"):
        BasicAuth().session_auth(AuthSetup(mode="basic"), AuthMaterial())


@given(username=usernames, password=passwords, combined=st.booleans())
def test_no_plain_password_anywhere(username: str, password: str, combined: bool) -> None:
    digest = sha256(password)
    assume(password not in username and password not in digest)
    assume(all(password not in word for word in ("basic", "username", "passwordSha256")))
    if combined:
        setup, material = COMBINED, AuthMaterial({PAIR_REF: f"{username}:{password}"})
    else:
        setup, material = SPLIT, AuthMaterial({USER_REF: username, PASSWORD_REF: password})
    # The setup never holds the password: one that happens to be part of its wording (field
    # names, Secret references) cannot be told from a leak.
    assume(password not in repr(setup) + json.dumps(dict(setup.params), ensure_ascii=False))
    session = BasicAuth().session_auth(setup, material)
    assert session == {"mode": "basic", "username": username, "passwordSha256": digest}
    for text in (
        repr(setup),
        repr(material),
        repr(session),
        json.dumps(session),
        json.dumps(session, ensure_ascii=False),
        json.dumps(dict(setup.params), ensure_ascii=False),
    ):
        assert password not in text


@given(username=usernames, password=passwords)
def test_error_messages_never_echo_the_value(username: str, password: str) -> None:
    # A value the user meant as user:password but stored in the wrong layout.
    assume(password not in "Secret team-a/creds key 'credential' must hold 'user:password'")
    value = (username + password).replace(":", "")
    assume(len(value) >= 8)
    with pytest.raises(CredentialError) as caught:
        BasicAuth().session_auth(COMBINED, AuthMaterial({PAIR_REF: value}))
    assert value not in str(caught.value)
