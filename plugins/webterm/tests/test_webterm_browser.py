"""The terminal page in a real browser (Debian's Chromium through Playwright)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloudtty_webterm.testing import ServerProcess, run_cli
from playwright.sync_api import Browser, BrowserContext, Page, expect
from playwright.sync_api import Error as PlaywrightError

pytestmark = pytest.mark.browser
BASH = ["--", "bash", "--norc", "--noprofile"]


def screen(page: Page) -> str:
    return str(page.evaluate("window.webterm.text()"))


def wait_for_text(page: Page, pattern: str, timeout: float = 10_000) -> str:
    """Wait until a line of the terminal matches the regular expression ``pattern``."""
    page.wait_for_function(
        "(pattern) => new RegExp(pattern, 'm').test(window.webterm.text())",
        arg=pattern,
        timeout=timeout,
    )
    return screen(page)


def run_in_terminal(page: Page, command: str) -> None:
    page.locator("#terminal").click()
    page.keyboard.type(command)
    page.keyboard.press("Enter")


def open_terminal(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => window.webterm && window.webterm.state.connected")


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    ctx = chromium.new_context(viewport={"width": 1000, "height": 600}, accept_downloads=True)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    args = ["-p", "0", "-w", str(tmp_path), "--ttl", "600", *BASH]
    with run_cli(args) as running:
        yield running


def test_type_a_command_and_read_the_answer(server: ServerProcess, page: Page) -> None:
    open_terminal(page, server.url + "/")
    run_in_terminal(page, "echo $((6*7))")
    wait_for_text(page, r"^42$")
    # The TTL banner counts down from expiresAt.
    expect(page.locator("#banner")).to_have_text(re.compile(r"This shell expires in (10:00|9:5\d)"))


def test_resizing_the_window_resizes_the_pty(server: ServerProcess, page: Page) -> None:
    open_terminal(page, server.url + "/")
    before = page.evaluate("[window.term.cols, window.term.rows]")
    page.set_viewport_size({"width": 640, "height": 360})
    page.wait_for_function(
        "([cols, rows]) => window.term.cols < cols && window.term.rows < rows", arg=before
    )
    cols, rows = page.evaluate("[window.term.cols, window.term.rows]")
    run_in_terminal(page, "stty size")
    wait_for_text(page, rf"^{rows} {cols}$")


def test_reconnect_resumes_the_same_shell(server: ServerProcess, page: Page) -> None:
    open_terminal(page, server.url + "/")
    run_in_terminal(page, "echo pid=$$")
    text = wait_for_text(page, r"^pid=\d+$")
    pid = re.findall(r"^pid=(\d+)$", text, re.M)[-1]
    # A network blip: the socket drops, the page reconnects with its reconnect id.
    page.evaluate("window.webterm.state.socket.close()")
    page.wait_for_function(
        "() => window.webterm.state.connects >= 2 && window.webterm.state.connected"
    )
    wait_for_text(page, rf"^pid={pid}$")  # the scrollback came back
    run_in_terminal(page, "echo again=$$")
    wait_for_text(page, rf"^again={pid}$")
    # A reload resumes too.
    page.reload()
    page.wait_for_function("() => window.webterm && window.webterm.state.connected")
    wait_for_text(page, rf"^again={pid}$")


def test_once_ends_the_server_after_the_disconnect(tmp_path: Path, context: BrowserContext) -> None:
    log = tmp_path / "termination-log"
    args = ["-p", "0", "--once", "--reconnect-grace", "0.3", *BASH]
    with run_cli(args, env={"CLOUDTTY_TERMINATION_LOG": str(log)}) as server:
        page = context.new_page()
        open_terminal(page, server.url + "/")
        run_in_terminal(page, "echo $((6*7))")
        wait_for_text(page, r"^42$")
        page.close()
        assert server.wait(15) == 0
    assert log.read_text() == "once\n"


def test_idle_timeout_fires_and_the_page_says_so(tmp_path: Path, page: Page) -> None:
    log = tmp_path / "termination-log"
    args = ["-p", "0", "--idle-timeout", "1.5", *BASH]
    with run_cli(args, env={"CLOUDTTY_TERMINATION_LOG": str(log)}) as server:
        open_terminal(page, server.url + "/")
        expect(page.locator("#overlay-text")).to_contain_text("inactivity", timeout=10_000)
        expect(page.locator("#connection")).to_have_text("ended")
        assert page.evaluate("window.webterm.state.exitReason") == "idle"
        assert server.wait(15) == 0
    assert log.read_text() == "idle\n"


def test_token_auth_in_the_browser(tmp_path: Path, chromium: Browser) -> None:
    token_file = tmp_path / "token"
    args = ["-p", "0", "-b", "/shell/", "--auth", "token", "--token-file", str(token_file), *BASH]
    with run_cli(args) as server:
        token = token_file.read_text().strip()
        base = server.url + "/shell/"
        ctx = chromium.new_context()
        try:
            page = ctx.new_page()
            response = page.goto(base)
            assert response is not None
            assert response.status == 401
            response = page.goto(base + "?token=wrong")
            assert response is not None
            assert response.status == 401
            open_terminal(page, base + "?token=" + token)
            assert page.url == base  # redirected without the token
            [cookie] = ctx.cookies()
            assert cookie["httpOnly"] is True
            assert cookie["sameSite"] == "Strict"
            assert cookie["path"] == "/shell/"
            run_in_terminal(page, "echo $((6*7))")
            wait_for_text(page, r"^42$")
            # The cookie is reused: a new tab opens the bare URL.
            second = ctx.new_page()
            open_terminal(second, base)
            run_in_terminal(second, "echo $((7*6))")
            wait_for_text(second, r"^42$")
        finally:
            ctx.close()


def test_basic_auth_in_the_browser(tmp_path: Path, chromium: Browser) -> None:
    creds = tmp_path / "creds"
    creds.write_text("alice:open sesame")
    args = ["-p", "0", "--auth", "basic", "--credential-file", str(creds), *BASH]
    with run_cli(args) as server:
        # Headless Chromium cannot ask for a password: a refused login shows 401 or fails.
        for credentials in (None, {"username": "alice", "password": "wrong"}):
            ctx = chromium.new_context(http_credentials=credentials)  # type: ignore[arg-type]
            assert ctx.request.get(server.url + "/").status == 401
            page = ctx.new_page()
            try:
                response = page.goto(server.url + "/")
                outcome = str(response.status) if response is not None else "none"
            except PlaywrightError as exc:
                outcome = str(exc)
            assert outcome == "401" or "ERR_INVALID_AUTH_CREDENTIALS" in outcome
            ctx.close()
        ctx = chromium.new_context(
            http_credentials={"username": "alice", "password": "open sesame"}
        )
        try:
            page = ctx.new_page()
            open_terminal(page, server.url + "/")
            run_in_terminal(page, "echo $((6*7))")
            wait_for_text(page, r"^42$")
        finally:
            ctx.close()


def test_header_auth_in_the_browser(chromium: Browser) -> None:
    args = ["-p", "0", "--auth", "header", "--allow-user", "alice", *BASH]
    with run_cli(args) as server:
        denied = chromium.new_context(extra_http_headers={"X-Forwarded-User": "mallory"})
        response = denied.new_page().goto(server.url + "/")
        assert response is not None
        assert response.status == 403
        denied.close()
        allowed = chromium.new_context(extra_http_headers={"X-Forwarded-User": "alice"})
        try:
            page = allowed.new_page()
            open_terminal(page, server.url + "/")
            run_in_terminal(page, "echo $((6*7))")
            wait_for_text(page, r"^42$")
        finally:
            allowed.close()


def test_upload_and_download_a_file(server: ServerProcess, page: Page, tmp_path: Path) -> None:
    source = tmp_path / "outside" / "notes.txt"
    source.parent.mkdir()
    source.write_text("uploaded from the browser\n")
    open_terminal(page, server.url + "/")
    page.locator("#upload-input").set_input_files(str(source))
    expect(page.locator("#message")).to_have_text("uploaded notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "uploaded from the browser\n"
    run_in_terminal(page, "echo made-in-the-shell > result.txt")
    wait_for_text(page, r"echo made-in-the-shell")
    page.locator("#download-path").fill("result.txt")
    with page.expect_download() as info:
        page.locator("#download-button").click()
    download = info.value
    assert download.suggested_filename == "result.txt"
    assert Path(download.path()).read_text() == "made-in-the-shell\n"


def test_copy_and_paste_through_the_clipboard(server: ServerProcess, chromium: Browser) -> None:
    ctx = chromium.new_context()
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    try:
        page = ctx.new_page()
        open_terminal(page, server.url + "/")
        run_in_terminal(page, "echo copy-$((6*7))")
        wait_for_text(page, r"^copy-42$")
        page.evaluate("window.term.selectAll()")
        page.keyboard.press("Control+Shift+C")
        page.wait_for_function(
            "async () => (await navigator.clipboard.readText()).includes('copy-42')"
        )
        page.evaluate("navigator.clipboard.writeText('echo pasted-$((1+1))')")
        page.keyboard.press("Control+Shift+V")
        page.keyboard.press("Enter")
        wait_for_text(page, r"^pasted-2$")
    finally:
        ctx.close()
