"""The whole system, end to end, in a real browser (Debian's Chromium through Playwright).

From the demo's library form -- sandbox cluster, the operator with every installed plugin, a
warm pool, a sample CloudShell with token auth -- a browser opens the login URL from the
shell's access Secret, types ``kubectl get cloudshells`` and sees its own shell Ready. Deleting
the CloudShell ends the session on the page, and then no pod, Service, Secret, route or local
process of the shell remains. Once through a NodePort, once through the sandbox's ingress
listener (host and path routing), and once with ``cloudtty shell --exec`` into a pod.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cloudtty_core import LABEL_SHELL_UID
from cloudtty_core.cli import main
from cloudtty_core.cli.sandboxdemo import (
    SAMPLE_APP,
    Demo,
    DemoOptions,
    kubectl_directory,
    processes_using,
)
from cloudtty_core.runtime.client import Resource

pytest.importorskip("kubernetes")
pytest.importorskip("cloudtty_sandbox")
pytest.importorskip("cloudtty_webterm")
playwright = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.slow]

T = TypeVar("T")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Kinds a shell's objects may be of (the route kinds included).
SHELL_KINDS = (
    Resource("v1", "Pod", "pods"),
    Resource("v1", "Service", "services"),
    Resource("v1", "Secret", "secrets"),
    Resource("v1", "ServiceAccount", "serviceaccounts"),
    Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    Resource("networking.k8s.io/v1", "Ingress", "ingresses"),
)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium (never a downloaded browser)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing: `./dev setup` installs Debian's chromium")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1200, "height": 700})
    yield context.new_page()
    context.close()


def wait_for(check: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value!r}")
        time.sleep(0.1)


def screen(page: Any) -> str:
    return str(page.evaluate("window.webterm.text()"))


def open_terminal(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => window.webterm && window.webterm.state.connected")


def run_in_terminal(page: Any, command: str) -> None:
    page.locator("#terminal").click()
    page.keyboard.type(command)
    page.keyboard.press("Enter")


def wait_for_text(page: Any, pattern: str, timeout: float = 30_000) -> str:
    """Wait until a line of the terminal matches ``pattern``; the screen's text."""
    page.wait_for_function(
        "(pattern) => new RegExp(pattern, 'm').test(window.webterm.text())",
        arg=pattern,
        timeout=timeout,
    )
    return screen(page)


def expect_session_ended(page: Any) -> None:
    page.wait_for_function("() => window.webterm.state.ended", timeout=30_000)
    assert page.locator("#connection").inner_text() == "ended"
    assert page.locator("#overlay").is_visible()


def secret_text(demo: Demo, namespace: str, name: str, key: str) -> str:
    assert demo.cluster is not None
    secret = demo.cluster.client.get(Resource("v1", "Secret", "secrets"), namespace, name)
    return base64.b64decode(secret["data"][key]).decode()


def objects_of(demo: Demo, shell: dict[str, Any]) -> list[str]:
    """Every object the operator made for ``shell`` that still exists."""
    assert demo.cluster is not None
    meta, status = shell["metadata"], shell["status"]
    names = {
        str(status.get("worker")),
        f"{status.get('worker')}-session",
        str(status.get("accessSecret")),
        str(status.get("kubeconfigSecret")),
    }
    found = []
    for resource in SHELL_KINDS:
        listed = demo.cluster.client.list(resource, meta["namespace"])
        for obj in listed.get("items") or ():
            m = obj["metadata"]
            owned = any(o.get("uid") == meta["uid"] for o in m.get("ownerReferences") or ())
            labelled = (m.get("labels") or {}).get(LABEL_SHELL_UID) == meta["uid"]
            if owned or labelled or m["name"] in names:
                found.append(f"{resource.kind}/{m['name']}")
    return found


def pod_directory(demo: Demo, namespace: str, pod: str) -> Path:
    root = demo.sandbox_pod_dir()
    assert root is not None
    (found,) = root.glob(f"{namespace}_{pod}_*")
    return found


def delete_and_check_nothing_is_left(demo: Demo, page: Any, shell: dict[str, Any]) -> None:
    """Delete the CloudShell: the page says the session ended, and every object and process
    of the shell goes away."""
    assert demo.cluster is not None
    meta = shell["metadata"]
    worker = shell["status"]["worker"]
    worker_dir = pod_directory(demo, meta["namespace"], worker)
    assert processes_using(worker_dir), "the worker's processes run before the deletion"
    assert objects_of(demo, shell)
    assert demo.cluster.delete(meta["namespace"], meta["name"])
    expect_session_ended(page)
    assert demo.cluster.wait_gone(meta["namespace"], meta["name"], 30)
    wait_for(lambda: not objects_of(demo, shell), "the shell's objects to be deleted")
    wait_for(lambda: not processes_using(worker_dir), "the worker's processes to end")
    assert worker not in {p["pod"] for p in demo.local_processes()}


@pytest.mark.parametrize(
    ("exposure", "host"),
    [("NodePort", None), ("Ingress", "*.cloudtty.localhost")],
)
def test_a_browser_uses_the_demo_shell_and_deleting_it_ends_the_session(
    exposure: str, host: str | None, page: Any, tmp_path: Path
) -> None:
    options = DemoOptions(exposure=exposure, ingress_host=host, work_dir=tmp_path / "demo")
    with Demo(options) as demo:
        assert demo.shell is not None
        shell = demo.shell
        status = shell["status"]
        # The login URL is the access Secret's; the status holds the URL without the token.
        url = secret_text(demo, "default", status["accessSecret"], "url")
        assert url == demo.login_url
        assert url.startswith(status["accessUrl"] + "?token=")
        if exposure == "Ingress":
            assert demo.sandbox.ingress_port is not None
            assert status["accessUrl"] == (
                f"http://demo-default.cloudtty.localhost:{demo.sandbox.ingress_port}"
                "/apis/v1alpha1/cloudshell/demo/"
            )
        else:
            assert re.fullmatch(r"http://127\.0\.0\.1:3\d{4}/", status["accessUrl"])

        open_terminal(page, url)
        # The token went into a cookie: the address bar no longer shows it.
        assert "token=" not in page.url
        run_in_terminal(page, "kubectl get cloudshells; echo END-$((6*7))")
        text = wait_for_text(page, r"^END-42$")
        assert re.search(rf"^demo\s+bash\s+{exposure}\s+\S+\s+Ready\s", text, re.M), text

        # kubectl is the wheel's, and it speaks as the shell's own ServiceAccount.
        token = json.loads(
            base64.urlsafe_b64decode(
                _jwt_payload(secret_text(demo, "default", status["kubeconfigSecret"], "config"))
            )
        )
        assert token["sub"] == "system:serviceaccount:default:cloudshell-demo"
        run_in_terminal(
            page,
            "command -v kubectl; kubectl config view --raw --minify "
            "-o jsonpath='{.users[0].user.token}' | sha256sum; echo END2",
        )
        text = wait_for_text(page, r"^END2$")
        wheel_kubectl = kubectl_directory() / "kubectl"
        assert re.search(rf"^{re.escape(str(wheel_kubectl))}$", text, re.M), text
        digest = hashlib.sha256(_kubeconfig_token(demo, status).encode()).hexdigest()
        assert f"{digest}  -" in text

        delete_and_check_nothing_is_left(demo, page, shell)
    assert processes_using(tmp_path / "demo") == []


def _kubeconfig_token(demo: Demo, status: dict[str, Any]) -> str:
    import yaml

    config = yaml.safe_load(secret_text(demo, "default", status["kubeconfigSecret"], "config"))
    return str(config["users"][0]["user"]["token"])


def _jwt_payload(kubeconfig: str) -> str:
    import yaml

    token = str(yaml.safe_load(kubeconfig)["users"][0]["user"]["token"])
    payload = token.split(".")[1]
    return payload + "=" * (-len(payload) % 4)


def test_cloudtty_shell_exec_opens_a_terminal_inside_a_sandbox_pod(
    page: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = DemoOptions(sample_shell=False, work_dir=tmp_path / "demo")
    with Demo(options) as demo:
        assert demo.cluster is not None
        app_pids = wait_for(
            lambda: [p["pid"] for p in demo.local_processes() if p["pod"] == SAMPLE_APP],
            "the sample app to run",
        )
        app_dir = pod_directory(demo, "default", SAMPLE_APP)
        assert set(processes_using(app_dir)) == set(app_pids)

        argv = ["shell", "--exec", SAMPLE_APP, "--name", "into-app"]
        status = main([*argv, "--kubeconfig", str(demo.kubeconfig_path)])
        out, err = capsys.readouterr()
        assert status == 0, err
        shell = demo.cluster.get("default", "into-app")
        assert shell is not None
        assert shell["spec"]["commandAction"].startswith(
            f"kubectl exec -it -n default {SAMPLE_APP} -- sh -c "
        )

        open_terminal(page, out.strip())
        # The terminal is inside the app's container: its environment and working directory.
        run_in_terminal(page, 'echo "$GREETING in $(basename "$PWD")"')
        wait_for_text(page, r"^hello from the sample app in workdir$")
        assert len(processes_using(app_dir)) > len(app_pids)  # the exec'd shell

        delete_and_check_nothing_is_left(demo, page, shell)
        # The exec session ended with the terminal; the app itself runs on.
        wait_for(lambda: set(processes_using(app_dir)) == set(app_pids), "the exec'd shell to end")
    assert processes_using(tmp_path / "demo") == []
