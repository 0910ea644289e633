"""JSON log lines with the shell in context, and credentials redacted whatever logger wrote
them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudtty_core.runtime.logs import (
    REDACTED,
    configure_logging,
    current_context,
    log_context,
    redact,
)


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    libraries = [logging.getLogger(name) for name in ("kubernetes", "urllib3")]
    levels = [logger.level for logger in (root, *libraries)]
    handler = configure_logging("debug", stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for logger, level in zip((root, *libraries), levels, strict=True):
            logger.setLevel(level)


def records(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_is_one_json_object_with_the_base_fields(lines):
    logging.getLogger("cloudtty.runtime.test").info("hello %s", "world")
    logging.getLogger("cloudtty.runtime.test").warning("multi\nline")
    first, second = records(lines)
    assert first["message"] == "hello world"
    assert first["level"] == "info"
    assert first["logger"] == "cloudtty.runtime.test"
    assert first["time"].endswith("Z")
    assert "T" in first["time"]
    assert second["message"] == "multi\nline"
    assert len(lines.getvalue().splitlines()) == 2


def test_lines_inside_a_shell_context_carry_its_namespace_and_name(lines):
    log = logging.getLogger("cloudtty.runtime.test")
    log.info("before")
    with log_context("team-a", "shell-1"):
        log.info("reconciling")
        logging.getLogger("kubernetes.client").warning("from a library")
        with log_context(worker="pool-x"):
            log.info("claimed")
    log.info("after")
    before, inside, library, nested, after = records(lines)
    assert "namespace" not in before
    assert "name" not in before
    assert (inside["namespace"], inside["name"]) == ("team-a", "shell-1")
    assert (library["namespace"], library["name"]) == ("team-a", "shell-1")
    assert nested["worker"] == "pool-x"
    assert nested["name"] == "shell-1"
    assert "namespace" not in after


def test_the_context_follows_tasks_and_worker_threads_without_leaking_between_them(lines):
    log = logging.getLogger("cloudtty.runtime.test")

    async def reconcile(name: str) -> None:
        with log_context("ns", name):
            await anyio.sleep(0.01)
            await anyio.to_thread.run_sync(lambda: log.info("in a thread"))
            log.info("on the loop")

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for name in ("a", "b", "c"):
                group.start_soon(reconcile, name)

    anyio.run(main)
    by_name: dict[str, list[str]] = {}
    for entry in records(lines):
        if entry["logger"] != "cloudtty.runtime.test":
            continue
        by_name.setdefault(entry["name"], []).append(entry["message"])
    assert sorted(by_name) == ["a", "b", "c"]
    for messages in by_name.values():
        assert sorted(messages) == ["in a thread", "on the loop"]
    assert current_context() == {}


def test_extra_fields_and_exceptions_stay_on_one_line(lines):
    log = logging.getLogger("cloudtty.runtime.test")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("reconcile failed", extra={"attempt": 3, "obj": object()})
    (entry,) = records(lines)
    assert entry["attempt"] == 3
    assert entry["obj"].startswith("<object object")
    assert "RuntimeError: boom" in entry["exception"]
    assert len(lines.getvalue().splitlines()) == 1


TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXZhbHVl"
KUBECONFIG = f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: 'https://kubernetes.default.svc'}}}}]
users:
- name: u
  user:
    token: {TOKEN}
    client-key-data: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t
"""


def test_credentials_never_reach_the_stream_in_any_part_of_a_record(lines):
    log = logging.getLogger("cloudtty.runtime.apply")
    log.debug("request headers: {'Authorization': 'Bearer sk-live-abcdefgh123'}")
    log.info("kubeconfig written: %s", KUBECONFIG)
    log.info("token issued", extra={"token": "opaque-admin-token-1", "data": {"password": "pw1"}})
    log.info("login URL http://10.0.0.1:30001/?arg=x&token=opaque-url-token-9")
    try:
        raise ValueError(f"bad answer carrying {TOKEN}")
    except ValueError:
        log.exception("failed")
    with log_context("ns", "shell", authorization="Basic dXNlcjpwYXNz"):
        log.info("with a secret in the context")
    output = lines.getvalue()
    for secret in (
        TOKEN,
        "sk-live-abcdefgh123",
        "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t",
        "opaque-admin-token-1",
        "pw1",
        "opaque-url-token-9",
        "dXNlcjpwYXNz",
    ):
        assert secret not in output, secret
    assert output.count(REDACTED) >= 7
    assert all(json.loads(line) for line in output.splitlines())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-123456", "Authorization: Bearer [REDACTED]"),
        ('-H "Authorization: Basic dXNlcjpwYXNz" x', '-H "Authorization: [REDACTED]" x'),
        ('{"token": "abc def", "x": 1}', '{"token": "[REDACTED]", "x": 1}'),
        ("?arg=1&token=abcdef&b=2", "?arg=1&token=[REDACTED]&b=2"),
        ("password=hunter2;", "password=[REDACTED];"),
        ("-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----!", "[REDACTED]!"),
        (r"{\"token\": \"abc\"}", r"{\"token\": \"[REDACTED]\"}"),
    ],
)
def test_redaction_of_common_credential_shapes(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "auth mode basic configured",
        "token: true",
        "waiting for Secret team-a/kubeconfig-x (key config)",
        "tokens: 3, token_source=random",
        "phase Ready, url http://127.0.0.1:30001/",
    ],
)
def test_ordinary_messages_are_left_alone(text):
    assert redact(text) == text


@given(
    secret=st.text(
        alphabet=st.characters(codec="ascii", categories=["L", "N"]), min_size=6, max_size=40
    ),
    key=st.sampled_from(["token", "password", "access_token", "client-key-data", "api_key"]),
    form=st.sampled_from(["{k}: {v}", "{k}={v}", '"{k}": "{v}"', "'{k}': '{v}'"]),
    before=st.text(max_size=20),
)
def test_a_secret_after_a_credential_key_never_survives(secret, key, form, before):
    if secret.lower() in ("true", "false", "null", "none"):
        return
    text = before + " " + form.format(k=key, v=secret)
    assert secret not in redact(text).removeprefix(before)


def test_redaction_is_idempotent():
    once = redact(KUBECONFIG + " Authorization: Bearer abcdefghijk")
    assert redact(once) == once


def test_text_format_for_people(lines):
    stream = io.StringIO()
    root = logging.getLogger()
    handler = configure_logging("info", fmt="text", stream=stream)
    try:
        with log_context("team-a", "shell-1"):
            logging.getLogger("cloudtty.runtime.test").info("ready token=abc12345")
    finally:
        root.removeHandler(handler)
    line = stream.getvalue().strip()
    assert "info" in line
    assert "[team-a/shell-1] ready token=[REDACTED]" in line


def test_an_unknown_level_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="debug, info, warning, error, critical"):
        configure_logging("verbose")


def test_client_libraries_stay_quiet_even_at_debug(lines):
    # configure_logging("debug") ran in the fixture.
    logging.getLogger("kubernetes.client.rest").debug("response body: {'data': {'config': 'x'}}")
    logging.getLogger("urllib3.connectionpool").debug("GET /api/v1/secrets 200")
    logging.getLogger("cloudtty.runtime.test").debug("ours")
    assert [entry["message"] for entry in records(lines)] == ["ours"]
