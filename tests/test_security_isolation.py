"""Security of a whole installation on a cluster that authenticates and authorizes every request.

The sandbox runs in its RBAC mode (bearer tokens checked, Roles and ClusterRoles enforced, HTTPS
with its own CA). The operator runs with a token of its own ServiceAccount bound to the chart's
ClusterRole -- not as an administrator -- and real webterm workers run as local processes that
read their sessions with their own pod's token. The scenario then shows:

(a) a shell's per-shell ServiceAccount (the kubeconfig the operator generates) can do what its
    ClusterRole grants in the shell's namespace, and nothing more;
(b) a worker's token -- which the terminal's user can read -- opens its own session Secret and
    nothing else: not another worker's session, not any other Secret;
(c) no kubeconfig, token or credential of the scenario appears in the operator's logs, in
    Events, in CloudShell objects, in pod specs, or in the command lines and environments of
    the processes the sandbox started;
(d) every terminal pod the operator made meets the restricted Pod Security Standard;
(e) a worker serves one shell: it is deleted with its account after the shell ends, its token
    stops working, and no later shell gets its pod name or its ServiceAccount.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import secrets
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("kubernetes")
pytest.importorskip("cloudtty_webterm")
sandbox_module = pytest.importorskip("cloudtty_sandbox")

from cloudtty_core import ObjectRef, OperatorSettings  # noqa: E402
from cloudtty_core.cli.manifests import DeployValues, build_manifests  # noqa: E402
from cloudtty_core.crd import crd_manifest  # noqa: E402
from cloudtty_core.runtime.client import KubeClient  # noqa: E402
from cloudtty_core.runtime.config import RuntimeConfig  # noqa: E402
from cloudtty_core.runtime.logs import configure_logging  # noqa: E402
from cloudtty_core.runtime.operator import OperatorThread  # noqa: E402
from cloudtty_core.runtime.testing import WARM_IMAGE, TestImages, wait_for  # noqa: E402
from cloudtty_core.testing import TEST_KUBECONFIG, restricted_violations  # noqa: E402

NS = "default"
OTHER_NS = "elsewhere"
OPERATOR_NS = "cloudtty-system"
SA_DIR = "var/run/secrets/kubernetes.io/serviceaccount"
SHELL_API = "cloudshell.cloudtty.io/v1alpha1"
SHELLS = f"/apis/{SHELL_API}"
MANAGED = "app.kubernetes.io/managed-by=cloudtty"


@pytest.fixture
def sandbox_config() -> Any:
    # The webterm image runs as a local process (the default); other images are simulated.
    return sandbox_module.SandboxConfig(pod_start_delay=0.05, bookmark_interval=0.5, rbac=True)


# ------------------------------------------------------------------------------ plumbing


class Caller:
    """Raw HTTPS requests to the sandbox API with one bearer token (what a user with a stolen
    token would do)."""

    def __init__(self, sandbox: Any, token: str) -> None:
        self.url = sandbox.url
        self.token = token
        self.context = ssl.create_default_context(cafile=str(sandbox.ca_path))

    def status(self, method: str, path: str, body: Any = None) -> int:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def get_json(self, path: str) -> Any:
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, context=self.context, timeout=10) as response:
            return json.loads(response.read())


def watch(name: str) -> str:
    query = f"watch=1&timeoutSeconds=1&fieldSelector=metadata.name%3D{name}"
    return f"/api/v1/namespaces/{NS}/secrets?{query}"


def secret_value(admin: Caller, name: str, key: str, namespace: str = NS) -> str:
    secret = admin.get_json(f"/api/v1/namespaces/{namespace}/secrets/{name}")
    return base64.b64decode(secret["data"][key]).decode()


def kubeconfig_token(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("token:"):
            return stripped.split(":", 1)[1].strip().strip("'\"")
    raise AssertionError("the kubeconfig has no token")


class Installation:
    """The chart's objects for the operator, its token, and the operator running with it."""

    def __init__(self, sandbox: Any, tmp_path: Path, cluster_role: str) -> None:
        self.sandbox = sandbox
        self.admin = KubeClient.from_kubeconfig(sandbox.kubeconfig_path)
        self.admin.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}}
        )
        self.admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OTHER_NS}})
        self.admin.create(crd_manifest())
        values = DeployValues(
            namespace=OPERATOR_NS, cluster_role=cluster_role, leader_election=False
        )
        for obj in build_manifests(values):
            if obj["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding"):
                self.admin.create(obj)
        self.operator_account = values.operator_name
        core = __import__("kubernetes").client.CoreV1Api(sandbox.api_client())
        request = {"spec": {"expirationSeconds": 3600}}
        self.token = core.create_namespaced_service_account_token(
            self.operator_account, OPERATOR_NS, request
        ).status.token
        self.kubeconfig = sandbox.write_kubeconfig(tmp_path / "operator.kubeconfig", self.token)
        self.settings = OperatorSettings(
            cluster_server=sandbox.url, cluster_role=cluster_role, min_idle=2
        )
        self.logs = io.StringIO()
        self.handler: logging.Handler | None = None
        self.running: OperatorThread | None = None

    def start(self, extra_plugins: tuple[Any, ...] = ()) -> None:
        config = RuntimeConfig(
            settings=self.settings,
            metrics_port=None,
            pool_namespaces=(NS,),
            leader_election=False,
            install_crd=False,
            events_api="events.k8s.io/v1",
        )
        self.handler = configure_logging("debug", stream=self.logs)
        self.running = OperatorThread(
            config,
            client=KubeClient.from_kubeconfig(self.kubeconfig),
            extra_plugins=extra_plugins,
        )
        self.running.start()

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
            self.running = None
        if self.handler is not None:
            logging.getLogger().removeHandler(self.handler)
            self.handler = None
        self.admin.close()

    def create(self, manifest: dict[str, Any]) -> None:
        self.admin.create(manifest)

    def shell(self, name: str) -> dict[str, Any] | None:
        return self.sandbox.get_object("cloudshells.cloudshell.cloudtty.io", NS, name)

    def wait_phase(self, name: str, phase: str, timeout: float = 40) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            shell = self.shell(name)
            return shell if (shell or {}).get("status", {}).get("phase") == phase else None

        try:
            return wait_for(check, timeout=timeout, what=f"{name} {phase}")
        except AssertionError as error:
            raise AssertionError(f"{error}; logs:\n{self.logs.getvalue()[-4000:]}") from None


@pytest.fixture
def installation(sandbox: Any, tmp_path: Path) -> Iterator[Installation]:
    installed = Installation(sandbox, tmp_path, "view")
    try:
        yield installed
    finally:
        installed.stop()


def shell(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cloudshell.cloudtty.io/v1alpha1",
        "kind": "CloudShell",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"exposureMode": "ClusterIP", **spec},
    }


def pods(sandbox: Any) -> list[dict[str, Any]]:
    items = sandbox.call(lambda: sandbox._sb.cluster.store.items("pods", NS))
    return json.loads(json.dumps(items))


def worker_root(sandbox: Any, pod: str) -> Path:
    """The pod directory of a local worker process (what its user sees as /)."""
    for process in sandbox.local_processes():
        if process["pod"] == pod:
            environ = Path(f"/proc/{process['pid']}/environ").read_bytes().split(b"\0")
            for item in environ:
                if item.startswith(b"CLOUDTTY_SANDBOX_ROOT="):
                    return Path(item.split(b"=", 1)[1].decode())
    raise AssertionError(f"no local process for pod {pod}")


def worker_token(sandbox: Any, pod: str) -> str:
    """The ServiceAccount token a worker's user can read (the projected token file)."""
    return (worker_root(sandbox, pod) / SA_DIR / "token").read_text().strip()


def has_session(sandbox: Any, pod: str) -> bool:
    """Whether the worker read its session (it stops answering 503 "waiting")."""
    (found,) = [p for p in pods(sandbox) if p["metadata"]["name"] == pod]
    url = f"http://{found['status']['podIP']}:7681/"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status != 503
    except urllib.error.HTTPError as error:
        return error.code != 503


def process_texts(sandbox: Any) -> dict[str, str]:
    """Command line and environment of every process the sandbox started (and their
    children), by ``process <pid>``."""
    texts = {}
    for pid in descendants({p["pid"] for p in sandbox.local_processes()}):
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            environ = Path(f"/proc/{pid}/environ").read_bytes().replace(b"\0", b"\n")
            texts[f"process {pid}"] = (cmdline + b"\n" + environ).decode(errors="replace")
    return texts


def ready_idle(sandbox: Any) -> list[str]:
    secrets = sandbox.call(lambda: sandbox._sb.cluster.store.items("secrets", NS))
    idle = {  # a worker's state is on its session Secret
        s["metadata"]["labels"].get("cloudtty.io/worker")
        for s in secrets
        if s["metadata"].get("labels", {}).get("cloudtty.io/state") == "idle"
    }
    return [
        p["metadata"]["name"]
        for p in pods(sandbox)
        if p["metadata"]["name"] in idle
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p.get("status", {}).get("conditions", ())
        )
        and sandbox.get_object("rolebindings.rbac.authorization.k8s.io", NS, p["metadata"]["name"])
    ]


def descendants(pids: set[int]) -> set[int]:
    """``pids`` and every process below them."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = set(pids)
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found and pid not in found}
        found |= more
        grew = bool(more)
    return found


# ------------------------------------------------------------------------------ the scenario


def test_tokens_open_exactly_what_they_should_and_nothing_leaks(
    sandbox: Any, installation: Installation
) -> None:
    admin = Caller(sandbox, sandbox.admin_token)
    password = secrets.token_urlsafe(18)
    user_token = f"user-kubeconfig-{secrets.token_urlsafe(24)}"
    user_kubeconfig = TEST_KUBECONFIG.replace("token: not-a-real-token", f"token: {user_token}")
    assert user_token in user_kubeconfig
    installation.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "bob-kubeconfig", "namespace": NS},
            "stringData": {"config": user_kubeconfig},
        }
    )
    installation.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/basic-auth",
            "metadata": {"name": "bob-login", "namespace": NS},
            "stringData": {"username": "bob", "password": password},
        }
    )
    installation.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "unrelated", "namespace": NS},
            "stringData": {"key": "unrelated-value"},
        }
    )
    installation.start()
    wait_for(lambda: len(ready_idle(sandbox)) == 2, what="the pool filled")
    # Two shells claim the two idle workers; the third finds none and makes its own worker.
    installation.create(shell("alice", auth={"mode": "token"}))
    installation.create(
        shell(
            "bob",
            secretRef={"name": "bob-kubeconfig"},
            auth={"mode": "basic", "secretRef": {"name": "bob-login"}},
        )
    )
    installation.create(shell("frank", secretRef={"name": "bob-kubeconfig"}))
    installation.create(shell("carol", imageBackend="ttyd", secretRef={"name": "bob-kubeconfig"}))
    names = ("alice", "bob", "frank", "carol")
    status = {n: installation.wait_phase(n, "Ready")["status"] for n in names}
    workers = {n: s["worker"] for n, s in status.items()}
    for name in ("alice", "bob", "frank"):
        wait_for(lambda name=name: has_session(sandbox, workers[name]), what=f"{name}'s session")
    kinds = {w.startswith("cloudtty-webterm-") for n, w in workers.items() if n != "carol"}
    assert kinds == {True, False}, workers  # claimed from the pool, and made on demand

    # (a) The per-shell ServiceAccount: ClusterRole view, in the shell's namespace only. --------
    alice_kubeconfig = secret_value(admin, status["alice"]["kubeconfigSecret"], "config")
    alice = Caller(sandbox, kubeconfig_token(alice_kubeconfig))
    pod = workers["alice"]
    allowed = [
        ("GET", f"/api/v1/namespaces/{NS}/pods"),
        ("GET", f"/api/v1/namespaces/{NS}/pods/{pod}"),
        ("GET", f"/api/v1/namespaces/{NS}/services"),
        ("GET", f"/api/v1/namespaces/{NS}/configmaps"),
        ("GET", f"/api/v1/namespaces/{NS}/serviceaccounts"),
        ("GET", f"/api/v1/namespaces/{NS}/pods?watch=1&timeoutSeconds=1"),
    ]
    new_pod = {
        "metadata": {"name": "intruder"},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }
    denied = [
        ("POST", f"/api/v1/namespaces/{NS}/pods", new_pod),
        ("DELETE", f"/api/v1/namespaces/{NS}/pods/{pod}", None),
        ("POST", f"/api/v1/namespaces/{NS}/pods/{pod}/exec", None),
        ("GET", f"/api/v1/namespaces/{NS}/secrets", None),
        ("GET", f"/api/v1/namespaces/{NS}/secrets/bob-kubeconfig", None),
        ("GET", f"/api/v1/namespaces/{NS}/secrets/{workers['alice']}-session", None),
        ("POST", f"/api/v1/namespaces/{NS}/configmaps", {"metadata": {"name": "x"}}),
        ("POST", f"/api/v1/namespaces/{NS}/serviceaccounts/default/token", {"spec": {}}),
        ("GET", f"/api/v1/namespaces/{OTHER_NS}/pods", None),
        ("GET", "/api/v1/nodes", None),
        ("GET", f"{SHELLS}/namespaces/{NS}/cloudshells", None),
        (
            "POST",
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/roles",
            {"metadata": {"name": "r"}},
        ),
    ]
    assert {path: alice.status(m, path) for m, path in allowed} == {p: 200 for _, p in allowed}
    assert {p: alice.status(m, p, b) for m, p, b in denied} == {p: 403 for _, p, _ in denied}

    # (b) Worker tokens: their own session, nothing else. ---------------------------------------
    tokens = {name: worker_token(sandbox, pod) for name, pod in workers.items() if name != "carol"}
    idle = wait_for(lambda: ready_idle(sandbox), what="the pool refilled")
    tokens["idle"] = worker_token(sandbox, idle[0])
    own = {**{n: w for n, w in workers.items() if n != "carol"}, "idle": idle[0]}
    other_secrets = [
        "bob-kubeconfig",
        "bob-login",
        "unrelated",
        status["alice"]["kubeconfigSecret"],
        status["alice"]["accessSecret"],
    ]
    for name, token in tokens.items():
        caller = Caller(sandbox, token)
        mine = f"{own[name]}-session"
        assert caller.status("GET", f"/api/v1/namespaces/{NS}/secrets/{mine}") == 200
        if name == "idle":  # its session Secret exists, but holds no session before a claim
            secret = sandbox.get_object("secrets", NS, mine)
            assert secret is not None
            assert "session.json" not in (secret.get("data") or {})
        assert caller.status("GET", watch(mine)) == 200
        for other in own:
            if other != name:
                theirs = f"{own[other]}-session"
                assert caller.status("GET", f"/api/v1/namespaces/{NS}/secrets/{theirs}") == 403
                assert caller.status("GET", watch(theirs)) == 403
        for secret in other_secrets:
            assert caller.status("GET", f"/api/v1/namespaces/{NS}/secrets/{secret}") == 403
        for path in (
            f"/api/v1/namespaces/{NS}/secrets",
            f"/api/v1/namespaces/{NS}/secrets?watch=1&timeoutSeconds=1",
            f"/api/v1/namespaces/{NS}/pods",
            f"/api/v1/namespaces/{OTHER_NS}/secrets/{mine}",
        ):
            assert caller.status("GET", path) == 403, (name, path)

    # The terminal servers' processes, while every session is live (scanned in (c)).
    early_processes = process_texts(sandbox)

    # (d) Every terminal pod the operator made meets the restricted profile. --------------------
    made = [
        p
        for p in pods(sandbox)
        if p["metadata"]["labels"].get("app.kubernetes.io/managed-by") == "cloudtty"
    ]
    webterm = [
        p
        for p in made
        if p["metadata"]["labels"].get("app.kubernetes.io/name") == "cloudtty-webterm"
    ]
    assert len(webterm) >= 5  # two claimed, one made on demand, the pool refilled
    for p in webterm:
        assert restricted_violations(p) == [], p["metadata"]["name"]
    for p in made:
        assert p["spec"]["serviceAccountName"] == p["metadata"]["name"]  # its own account

    # (e) A worker serves one shell. ------------------------------------------------------------
    served = set(workers.values())
    sandbox.exit_container(NS, workers["bob"], 0, "exit")
    installation.wait_phase("bob", "Completed")
    installation.admin.delete(ObjectRef(SHELL_API, "CloudShell", NS, "alice"))
    wait_for(lambda: installation.shell("alice") is None, what="alice deleted")
    for name in ("alice", "bob"):
        pod_name = workers[name]
        for storage in (
            "pods",
            "serviceaccounts",
            "roles.rbac.authorization.k8s.io",
            "rolebindings.rbac.authorization.k8s.io",
        ):
            wait_for(
                lambda s=storage, n=pod_name: sandbox.get_object(s, NS, n) is None,
                what=f"{storage} {pod_name} gone",
            )
        assert (
            Caller(sandbox, tokens[name]).status(
                "GET", f"/api/v1/namespaces/{NS}/secrets/{pod_name}-session"
            )
            == 401
        )  # the token died with its pod and account
    installation.create(shell("alice", auth={"mode": "token"}))
    installation.create(shell("dave"))
    again = {n: installation.wait_phase(n, "Ready")["status"]["worker"] for n in ("alice", "dave")}
    assert not served & set(again.values())
    for p in pods(sandbox):
        assert p["metadata"]["name"] not in served or p["metadata"]["name"] in (
            workers["carol"],
            workers["frank"],
        )

    # (c) Nothing secret anywhere it could be read. ---------------------------------------------
    secret_texts = {
        "admin token": sandbox.admin_token,
        "operator token": installation.token,
        "user kubeconfig": user_kubeconfig,
        "user kubeconfig token": user_token,
        "basic password": password,
        "generated kubeconfig": alice_kubeconfig,
        "generated kubeconfig token": alice.token,
        "access token": secret_value(admin, status["alice"]["accessSecret"], "token"),
        "login url": secret_value(admin, status["alice"]["accessSecret"], "url"),
        **{f"worker token {n}": t for n, t in tokens.items()},
    }
    for name in again:
        current = installation.shell(name)["status"]
        if current.get("accessSecret"):
            secret_texts[f"access token {name} (again)"] = secret_value(
                admin, current["accessSecret"], "token"
            )
    needles = {
        **secret_texts,
        **{f"{k} (base64)": base64.b64encode(v.encode()).decode() for k, v in secret_texts.items()},
    }
    places: dict[str, str] = {"operator logs": installation.logs.getvalue()}
    objects = 0
    for what, path in (
        ("events", "/apis/events.k8s.io/v1/events"),
        ("core events", "/api/v1/events"),
        ("cloudshells", f"{SHELLS}/cloudshells"),
        ("pods", "/api/v1/pods"),
        ("services", "/api/v1/services"),
    ):
        listed = admin.get_json(path)["items"]
        objects += len(listed)
        places[what] = json.dumps(listed)
    places.update(early_processes)
    places.update(process_texts(sandbox))
    processes = [p for p in places if p.startswith("process ")]
    assert "caches synced" in places["operator logs"]  # logs were captured (JSON, debug)
    hits = [
        f"{secret} in {place}"
        for secret, needle in needles.items()
        for place, text in places.items()
        if needle in text
    ]
    assert hits == []
    assert len(processes) >= 5
    print(
        f"security scan: {len(secret_texts)} secrets (+ base64), {objects} objects, "
        f"{len(processes)} processes, {len(installation.logs.getvalue())} log characters, "
        f"{len(hits)} hits"
    )


def test_an_edit_shell_account_can_edit_its_namespace_and_nothing_more(
    sandbox: Any, tmp_path: Path
) -> None:
    installation = Installation(sandbox, tmp_path, "edit")
    try:
        installation.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "team-secret", "namespace": NS},
                "stringData": {"key": "value"},
            }
        )
        installation.start(extra_plugins=(("test-images", TestImages()),))
        installation.create(shell("erin", imageBackend=WARM_IMAGE))
        ready = installation.wait_phase("erin", "Ready")["status"]
        admin = Caller(sandbox, sandbox.admin_token)
        erin = Caller(
            sandbox, kubeconfig_token(secret_value(admin, ready["kubeconfigSecret"], "config"))
        )
        configmap = {"metadata": {"name": "made-by-erin"}, "data": {"a": "b"}}
        rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}"
        binding = {
            "metadata": {"name": "escalate"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": NS}],
        }
        checks = {
            ("POST", f"/api/v1/namespaces/{NS}/configmaps", json.dumps(configmap)): 201,
            ("DELETE", f"/api/v1/namespaces/{NS}/configmaps/made-by-erin", "null"): 200,
            ("GET", f"/api/v1/namespaces/{NS}/secrets", "null"): 200,
            ("GET", f"/api/v1/namespaces/{NS}/secrets/team-secret", "null"): 200,
            ("GET", f"/api/v1/namespaces/{NS}/pods", "null"): 200,
            ("POST", f"{rbac}/roles", json.dumps({"metadata": {"name": "r"}, "rules": []})): 403,
            ("POST", f"{rbac}/rolebindings", json.dumps(binding)): 403,
            ("GET", f"/api/v1/namespaces/{OTHER_NS}/secrets", "null"): 403,
            ("POST", f"/api/v1/namespaces/{OTHER_NS}/configmaps", json.dumps(configmap)): 403,
            ("GET", "/api/v1/nodes", "null"): 403,
            ("GET", f"{SHELLS}/namespaces/{NS}/cloudshells", "null"): 403,
            ("DELETE", f"/api/v1/namespaces/{NS}", "null"): 403,
        }
        got = {key: erin.status(key[0], key[1], json.loads(key[2])) for key in checks}
        assert got == checks
    finally:
        installation.stop()
