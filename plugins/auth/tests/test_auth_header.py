"""Auth mode ``header``: headers of an auth proxy, allow-lists that must not be empty."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from cloudtty_auth import HeaderAuth
from hypothesis import given
from hypothesis import strategies as st

from cloudtty_core import AuthMaterial, AuthRequest, AuthSetup, InvalidShell

Req = Callable[..., AuthRequest]

names = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), exclude_characters=",*"),
    min_size=1,
    max_size=20,
)


def problems(make_request: Req, **auth: object) -> dict[str, str]:
    with pytest.raises(InvalidShell) as caught:
        HeaderAuth().configure(make_request(mode="header", **auth))
    return {p.path: p.message for p in caught.value.problems}


def test_defaults_are_oauth2_proxy_headers(make_request: Req) -> None:
    backend = HeaderAuth()
    setup = backend.configure(make_request(mode="header", allowedUsers=["alice"]))
    assert setup.mode == "header"
    assert setup.secret_refs == ()
    assert setup.token_param is None
    assert dict(setup.params) == {
        "userHeader": "X-Forwarded-User",
        "groupsHeader": "X-Forwarded-Groups",
        "allowedUsers": ["alice"],
        "allowedGroups": [],
        "allowAnyUser": False,
    }
    assert backend.session_auth(setup, AuthMaterial()) == {
        "mode": "header",
        "userHeader": "X-Forwarded-User",
        "groupsHeader": "X-Forwarded-Groups",
        "allowedUsers": ["alice"],
        "allowedGroups": [],
    }


def test_headers_and_groups_from_the_spec(make_request: Req) -> None:
    request = make_request(
        mode="header",
        userHeader="X-Auth-Request-User",
        groupsHeader="X-Auth-Request-Groups",
        allowedUsers=["alice", "bob"],
        allowedGroups=["sre", "team:a"],
    )
    backend = HeaderAuth()
    session = backend.session_auth(backend.configure(request), AuthMaterial())
    assert session == {
        "mode": "header",
        "userHeader": "X-Auth-Request-User",
        "groupsHeader": "X-Auth-Request-Groups",
        "allowedUsers": ["alice", "bob"],
        "allowedGroups": ["sre", "team:a"],
    }


def test_operator_wide_default_headers(make_request: Req) -> None:
    backend = HeaderAuth(default_user_header="Remote-User", default_groups_header="Remote-Groups")
    setup = backend.configure(make_request(mode="header", allowedGroups=["sre"]))
    assert setup.params["userHeader"] == "Remote-User"
    assert setup.params["groupsHeader"] == "Remote-Groups"


def test_empty_allow_list_is_invalid_not_open(make_request: Req) -> None:
    found = problems(make_request)
    assert list(found) == ["spec.auth.allowedUsers"]
    assert "needs an allow-list" in found["spec.auth.allowedUsers"]
    assert "spec.auth.allowedGroups" in found["spec.auth.allowedUsers"]


def test_star_admits_every_proxy_user_on_purpose(make_request: Req) -> None:
    backend = HeaderAuth()
    setup = backend.configure(make_request(mode="header", allowedUsers=["*"]))
    assert setup.params["allowAnyUser"] is True
    assert setup.params["allowedUsers"] == []
    session = backend.session_auth(setup, AuthMaterial())
    assert session["allowedUsers"] == []
    assert session["allowedGroups"] == []


@pytest.mark.parametrize(
    "auth", [{"allowedUsers": ["*", "alice"]}, {"allowedUsers": ["*"], "allowedGroups": ["sre"]}]
)
def test_star_must_stand_alone(make_request: Req, auth: dict[str, list[str]]) -> None:
    found = problems(make_request, **auth)
    assert "must be the only entry" in found["spec.auth.allowedUsers"]


@pytest.mark.parametrize(
    ("field", "entries", "path", "expected"),
    [
        ("allowedUsers", ["alice", ""], "spec.auth.allowedUsers[1]", "must not be empty"),
        ("allowedUsers", [" alice"], "spec.auth.allowedUsers[0]", "leading or trailing spaces"),
        ("allowedUsers", ["al\x00ice"], "spec.auth.allowedUsers[0]", "control characters"),
        ("allowedGroups", ["a,b"], "spec.auth.allowedGroups[0]", "comma-separated"),
        ("allowedGroups", ["*"], "spec.auth.allowedGroups[0]", "only meaningful in allowedUsers"),
    ],
)
def test_entries_that_could_never_match_are_refused(
    make_request: Req, field: str, entries: list[str], path: str, expected: str
) -> None:
    auth = {field: entries}
    if field == "allowedGroups":
        auth["allowedUsers"] = ["alice"]
    found = problems(make_request, **auth)
    assert expected in found[path]


def test_same_header_for_user_and_groups(make_request: Req) -> None:
    found = problems(make_request, allowedUsers=["a"], userHeader="X-Who", groupsHeader="x-who")
    assert "must differ from the user header" in found["spec.auth.groupsHeader"]


def test_bad_header_name_from_an_operator_default(make_request: Req) -> None:
    # Specs are checked by the core's schema; defaults given in code are checked here.
    with pytest.raises(InvalidShell) as caught:
        HeaderAuth(default_user_header="X User").configure(
            make_request(mode="header", allowedUsers=["a"])
        )
    assert [p.path for p in caught.value.problems] == ["spec.auth.userHeader"]


def test_secret_ref_is_refused(make_request: Req) -> None:
    found = problems(make_request, allowedUsers=["a"], secretRef={"name": "c"})
    assert "auth mode 'basic' does" in found["spec.auth.secretRef"]


def test_every_problem_at_once(make_request: Req) -> None:
    found = problems(
        make_request,
        secretRef={"name": "c"},
        allowedGroups=[" x"],
        userHeader="X-A",
        groupsHeader="X-A",
    )
    assert set(found) == {
        "spec.auth.secretRef",
        "spec.auth.allowedGroups[0]",
        "spec.auth.groupsHeader",
    }


def test_setup_without_allow_list_never_becomes_an_open_session() -> None:
    setup = AuthSetup(mode="header", params={"allowedUsers": [], "allowedGroups": []})
    with pytest.raises(ValueError, match="must set allowAnyUser"):
        HeaderAuth().session_auth(setup, AuthMaterial())


@given(users=st.lists(names, max_size=4), groups=st.lists(names, max_size=4))
def test_allow_lists_reach_the_session_unchanged(
    make_request: Req, users: list[str], groups: list[str]
) -> None:
    backend = HeaderAuth()
    request = make_request(mode="header", allowedUsers=users, allowedGroups=groups)
    if not users and not groups:
        with pytest.raises(InvalidShell):
            backend.configure(request)
        return
    session = backend.session_auth(backend.configure(request), AuthMaterial())
    assert json.loads(json.dumps(session)) == {
        "mode": "header",
        "userHeader": "X-Forwarded-User",
        "groupsHeader": "X-Forwarded-Groups",
        "allowedUsers": users,
        "allowedGroups": groups,
    }
