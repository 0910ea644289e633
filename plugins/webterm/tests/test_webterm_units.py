"""Units of the terminal server: configuration, session documents, buffers, guards."""

from __future__ import annotations

import base64
import codecs
import json
from pathlib import Path

import pytest
from cloudtty_webterm import protocol
from cloudtty_webterm.auth import digest_matches, sha256_hex
from cloudtty_webterm.config import ConfigError, ServerConfig, normalize_base_path, parse_session
from cloudtty_webterm.files import FileAccessError, resolve_inside, safe_file_name
from cloudtty_webterm.paths import pod_path
from cloudtty_webterm.ratelimit import FailureLimiter
from cloudtty_webterm.recording import AsciicastRecorder, read_asciicast
from cloudtty_webterm.scrollback import Scrollback
from cloudtty_webterm.termination import ExitReason, write_termination_message
from cloudtty_webterm.worker import prepare_home, session_config, session_from_secret
from hypothesis import given
from hypothesis import strategies as st


def test_session_document_is_parsed_with_camel_case_fields() -> None:
    spec = parse_session(
        {
            "command": ["kubectl", "exec", "-it", "pod", "--", "sh"],
            "kubeconfig": "KUBECONFIG-TEXT",
            "basePath": "shells/a",
            "auth": {"mode": "header", "allowedUsers": ["alice"], "userHeader": "X-User"},
            "once": True,
            "readOnly": False,
            "idleTimeoutSeconds": 600,
            "expiresAt": "2030-01-01T00:00:00Z",
            "clientOptions": {"fontSize": "14", "theme": {"background": "#000"}},
            "shell": {"namespace": "ns", "name": "s"},
        }
    )
    assert spec.command == ("kubectl", "exec", "-it", "pod", "--", "sh")
    assert spec.base_path == "/shells/a/"
    assert spec.auth is not None
    assert spec.auth.user_header == "X-User"
    assert spec.auth.allowed_users == ("alice",)
    assert spec.idle_timeout == 600.0
    assert spec.client_options == {"fontSize": 14, "theme": {"background": "#000"}}
    assert spec.expires_at is not None
    assert spec.expires_at.year == 2030
    assert "KUBECONFIG-TEXT" not in repr(spec)  # the kubeconfig never shows in reprs (logs)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "must be a JSON object"),
        ({"command": []}, "command must be a non-empty list"),
        ({"once": "yes"}, "once must be bool"),
        ({"idleTimeoutSeconds": True}, "idleTimeoutSeconds must be int/float"),
        ({"auth": {"mode": "magic"}}, "auth mode must be one of"),
        ({"auth": {"mode": "token"}}, "token auth needs a token"),
        ({"auth": {"mode": "token", "tokenSha256": "abc"}}, "64 lowercase hex"),
        ({"auth": {"mode": "basic", "passwordSha256": "0" * 64}}, "needs a username"),
        ({"expiresAt": "2030-01-01T00:00:00"}, "needs a time zone"),
        ({"clientOptions": {"evil": 1}}, "unknown client option"),
        ({"basePath": "/a/../b/"}, "basePath"),
        ({"env": {"A=B": "c"}}, "env must map variable names to strings"),
        ({"env": {"A": 1}}, "env must map variable names to strings"),
    ],
)
def test_bad_session_documents_name_the_field(doc: object, message: str) -> None:
    with pytest.raises(ConfigError, match=r"session\.json") as info:
        parse_session(doc)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("", "/"), ("/", "/"), ("a", "/a/"), ("/a/b", "/a/b/"), ("//a//b//", "/a/b/")],
)
def test_base_path_normalisation(raw: str, normal: str) -> None:
    assert normalize_base_path(raw) == normal


def test_server_config_validation() -> None:
    with pytest.raises(ConfigError, match="TLS needs both"):
        ServerConfig(tls_cert=Path("c")).validate()
    with pytest.raises(ConfigError, match="idle timeout"):
        ServerConfig(idle_timeout=0).validate()
    ServerConfig().validate()


@given(st.lists(st.text(max_size=40), max_size=30), st.integers(min_value=1, max_value=64))
def test_scrollback_keeps_the_tail_on_a_character_boundary(chunks: list[str], limit: int) -> None:
    buffer = Scrollback(limit)
    data = b"".join(c.encode() for c in chunks)
    for chunk in chunks:
        buffer.append(chunk.encode())
    kept = buffer.snapshot()
    assert len(kept) <= limit
    assert data.endswith(kept)
    kept.decode("utf-8")  # never starts inside a character
    assert len(data) - len(kept) <= limit + 3 or len(kept) >= limit - 3


@given(st.text(), st.lists(st.integers(min_value=0, max_value=50), max_size=10))
def test_recording_survives_any_split_of_utf8_output(
    tmp_path_factory: pytest.TempPathFactory, text: str, cuts: list[int]
) -> None:
    path = tmp_path_factory.mktemp("rec") / "r.cast"
    data = text.encode()
    recorder = AsciicastRecorder(path, width=80, height=24, title="t", command="bash")
    start = 0
    for cut in sorted(set(cuts)):
        recorder.output(data[start:cut])
        start = max(start, cut)
    recorder.output(data[start:])
    recorder.close()
    header, events = read_asciicast(path)
    assert header["version"] == 2
    assert "".join(e[2] for e in events if e[1] == "o") == text


def test_recording_of_invalid_bytes_and_input(tmp_path: Path) -> None:
    path = tmp_path / "r.cast"
    recorder = AsciicastRecorder(
        path, width=80, height=24, title="t", command="sh", record_input=True
    )
    recorder.output(b"ok\xff\xc3")
    recorder.input(b"ls\r")
    recorder.close()
    _, events = read_asciicast(path)
    assert [e[1:] for e in events] == [["o", "ok\ufffd"], ["i", "ls\r"], ["o", "\ufffd"]]


def test_read_asciicast_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "bad.cast"
    path.write_text(json.dumps({"version": 2}) + "\n[1, 2]\n")
    with pytest.raises(ValueError, match="malformed event"):
        read_asciicast(path)


def test_resolve_inside_guards_traversal(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    assert resolve_inside(tmp_path, "d/../d") == (tmp_path / "d").resolve()
    assert resolve_inside(tmp_path, "/x") == (tmp_path / "x").resolve()
    for bad in ("..", "../x", "d/../../x"):
        with pytest.raises(FileAccessError) as info:
            resolve_inside(tmp_path, bad)
        assert info.value.status == 403
    with pytest.raises(FileAccessError):
        resolve_inside(tmp_path, "a\x00b")
    for name in ("", ".", "..", "a/b", "a\\b", "x" * 256):
        with pytest.raises(FileAccessError):
            safe_file_name(name)


def test_failure_limiter_window() -> None:
    now = [100.0]
    limiter = FailureLimiter(3, 60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after("a") is None
        limiter.failed("a")
    assert limiter.retry_after("a") == 60
    assert limiter.retry_after("b") is None
    now[0] += 30
    assert limiter.retry_after("a") == 30
    now[0] += 31
    assert limiter.retry_after("a") is None
    limiter.failed("a")
    limiter.succeeded("a")
    assert limiter.retry_after("a") is None


def test_limiter_memory_is_bounded() -> None:
    limiter = FailureLimiter(1, 60, max_addresses=10)
    for i in range(100):
        limiter.failed(f"10.0.0.{i}")
    assert limiter.retry_after("10.0.0.99") is not None
    assert limiter.retry_after("10.0.0.0") is None


def test_digest_comparison() -> None:
    assert digest_matches("t", sha256_hex("t"))
    assert not digest_matches("u", sha256_hex("t"))
    assert sha256_hex("t") == sha256_hex(b"t")


def test_protocol_control_messages() -> None:
    assert protocol.parse_control('{"type":"resize","cols":80,"rows":24}') == protocol.Resize(
        80, 24
    )
    assert protocol.parse_control('{"type":"input","data":"ls"}') == protocol.TextInput("ls")
    for bad in (
        "[]",
        '{"type":"resize","cols":0,"rows":1}',
        '{"type":"x"}',
        "{",
        '{"type":"input"}',
    ):
        with pytest.raises(protocol.ProtocolError):
            protocol.parse_control(bad)
    assert json.loads(protocol.exit_message("idle"))["message"].startswith("The session ended")


def test_pod_paths_map_through_the_sandbox_root() -> None:
    env = {"CLOUDTTY_SANDBOX_ROOT": "/pods/p1"}
    assert pod_path("/var/run/x", env) == Path("/pods/p1/var/run/x")
    assert pod_path("rel/x", env) == Path("rel/x")
    assert pod_path("/var/run/x", {}) == Path("/var/run/x")
    assert pod_path("/pods/p1/home", env) == Path("/pods/p1/home")


def test_termination_message(tmp_path: Path) -> None:
    target = tmp_path / "termination-log"
    assert write_termination_message(ExitReason.TTL, str(target))
    assert target.read_text() == "ttl\n"
    assert not write_termination_message(ExitReason.TTL, str(tmp_path / "no/such/dir/x"))


def test_session_secret_and_private_home(tmp_path: Path) -> None:
    doc = {"command": ["bash"], "kubeconfig": "KC", "auth": {"mode": "none"}}
    secret = {
        "metadata": {"name": "w-session"},
        "data": {"session.json": base64.b64encode(json.dumps(doc).encode()).decode()},
    }
    spec = session_from_secret(secret)
    assert spec is not None
    assert spec.kubeconfig == "KC"
    assert session_from_secret({"metadata": {"name": "w-session"}, "data": {}}) is None
    with pytest.raises(ConfigError, match=r"Secret w-session key session\.json"):
        session_from_secret({"metadata": {"name": "w-session"}, "data": {"session.json": "!!"}})
    config = session_config(ServerConfig(), spec, tmp_path)
    home = Path(config.child_env["HOME"])
    assert home.parent == tmp_path
    assert home.stat().st_mode & 0o777 == 0o700
    kubeconfig = Path(config.child_env["KUBECONFIG"])
    assert kubeconfig.read_text() == "KC"
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    assert config.workdir == home
    # Each session gets a fresh home.
    assert Path(prepare_home(tmp_path, None)["HOME"]) != home


def test_incremental_decoder_assumption() -> None:
    # The recorder relies on the incremental decoder holding back a split character.
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    assert decoder.decode(b"\xc3") == ""
    assert decoder.decode(b"\xa9") == "\u00e9"
