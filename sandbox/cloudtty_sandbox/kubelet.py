"""The simulated kubelet: schedules pods to the sandbox node, moves them Pending -> Running ->
Ready, runs containers of locally runnable images as local processes (others are simulated),
ends restartPolicy Never pods with their termination message, and honours deletion grace."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout

from . import meta
from .cluster import Cluster, DeleteOptions
from .config import SandboxConfig
from .errors import ApiError
from .localrun import (
    ContainerConfigError,
    LocalProcess,
    PodFiles,
    expand_references,
    search_path,
)
from .podexec import ExecSession, ExecTarget
from .podnet import PodIPAllocator
from .pods import TERMINAL_PHASES
from .tokens import TokenIssuer
from .watchcache import Event

log = logging.getLogger(__name__)

EXIT_AFTER = "sandbox.cloudtty.io/exit-after-seconds"
EXIT_CODE = "sandbox.cloudtty.io/exit-code"
EXIT_MESSAGE = "sandbox.cloudtty.io/termination-message"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
_PASSTHROUGH_ENV = ("LANG", "LC_ALL", "TZ", "TMPDIR")


class ContainerRun:
    """One container of a pod: a local process or a simulated one."""

    def __init__(self, spec: dict[str, Any], local_argv: list[str] | None) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.local_argv = local_argv
        self.process: LocalProcess | None = None
        self.exit_future: asyncio.Future[tuple[int, str | None]] = (
            asyncio.get_running_loop().create_future()
        )
        self.started_at = ""
        self.restart_count = 0
        self.ready = False
        self.last_state: dict[str, Any] | None = None

    @property
    def local(self) -> bool:
        return self.local_argv is not None

    def exit(self, code: int, message: str | None) -> None:
        if not self.exit_future.done():
            self.exit_future.set_result((code, message))


class PodWorker:
    """Drives one pod on the node from start to its final deletion."""

    def __init__(self, kubelet: Kubelet, pod: dict[str, Any]) -> None:
        self.kubelet = kubelet
        self.namespace: str = pod["metadata"]["namespace"]
        self.name: str = pod["metadata"]["name"]
        self.uid: str = pod["metadata"]["uid"]
        self.pod = pod
        self.ip: str | None = None
        self.containers: list[ContainerRun] = []
        self.files: PodFiles | None = None
        self.terminating = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.finished = False

    # status helpers ---------------------------------------------------------------
    def _write_status(self, change: Callable[[dict[str, Any]], None]) -> None:
        def apply(pod: dict[str, Any]) -> bool | None:
            if pod["metadata"]["uid"] != self.uid:
                return False
            pod.setdefault("status", {})
            change(pod["status"])
            return None

        updated = self.kubelet.cluster.mutate(
            "pods", self.namespace, self.name, apply, subresource="status"
        )
        if updated is not None:
            self.pod = updated

    def _container_statuses(self) -> list[dict[str, Any]]:
        out = []
        for c in self.containers:
            entry: dict[str, Any] = {
                "name": c.name,
                "image": c.spec.get("image", ""),
                "imageID": f"sandbox://{c.spec.get('image', '')}",
                "containerID": f"sandbox://{self.uid[:8]}-{c.name}",
                "ready": c.ready,
                "started": not c.exit_future.done(),
                "restartCount": c.restart_count,
                "state": (
                    {"running": {"startedAt": c.started_at}}
                    if not c.exit_future.done()
                    else {"terminated": self._terminated(c)}
                ),
            }
            if c.last_state:
                entry["lastState"] = c.last_state
            out.append(entry)
        return out

    def _terminated(self, c: ContainerRun) -> dict[str, Any]:
        code, message = c.exit_future.result()
        state: dict[str, Any] = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": c.started_at,
            "finishedAt": meta.rfc3339(),
            "containerID": f"sandbox://{self.uid[:8]}-{c.name}",
        }
        if message:
            state["message"] = message
        return state

    @staticmethod
    def _set_condition(status: dict[str, Any], type_: str, value: bool, reason: str = "") -> None:
        conditions = status.setdefault("conditions", [])
        wanted = "True" if value else "False"
        for cond in conditions:
            if cond.get("type") == type_:
                if cond.get("status") != wanted:
                    cond["status"] = wanted
                    cond["lastTransitionTime"] = meta.rfc3339()
                if reason:
                    cond["reason"] = reason
                else:
                    cond.pop("reason", None)
                return
        entry = {
            "type": type_,
            "status": wanted,
            "lastProbeTime": None,
            "lastTransitionTime": meta.rfc3339(),
        }
        if reason:
            entry["reason"] = reason
        conditions.append(entry)

    # lifecycle ----------------------------------------------------------------------
    async def run(self) -> None:
        kubelet = self.kubelet
        config = kubelet.config
        try:
            if config.pod_start_delay > 0:
                await self._sleep_unless_terminating(config.pod_start_delay)
            if self.terminating.is_set():
                return
            spec = self.pod.get("spec") or {}
            self.ip = kubelet.ips.allocate()
            for container in spec.get("containers") or ():
                self.containers.append(ContainerRun(container, kubelet.local_argv(container)))
            # A pod of simulated containers gets its directory only when something needs it
            # (an exec materialises its volumes there), not a mkdir and rmtree per pod.
            local = any(c.local for c in self.containers)
            self.files = PodFiles(
                kubelet.pod_dir(self.pod, create=local), self.pod, kubelet.cluster, kubelet.tokens
            )
            self._write_status(self._running_status)
            kubelet.event(self.pod, "Normal", "Started", "Started pod containers")
            waits = [asyncio.create_task(self._container_loop(c)) for c in self.containers]
            term = asyncio.create_task(self.terminating.wait())
            done_all = asyncio.gather(*waits)
            await asyncio.wait([done_all, term], return_when=asyncio.FIRST_COMPLETED)
            if not term.done():
                term.cancel()
                self._finish_terminal()
                await self.terminating.wait()
            else:
                await self._stop_containers()
                for w in waits:
                    w.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await done_all
        finally:
            await self._stop_containers(grace=0)
            self.finished = True
            kubelet._reapable.add(self.uid)
            kubelet._pending.add((self.namespace, self.name))
            kubelet._wake.set()

    async def _sleep_unless_terminating(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.terminating.wait(), seconds)

    def _running_status(self, status: dict[str, Any]) -> None:
        now = meta.rfc3339()
        status.update(
            {
                "phase": "Running",
                "hostIP": "127.0.0.1",
                "hostIPs": [{"ip": "127.0.0.1"}],
                "podIP": self.ip,
                "podIPs": [{"ip": self.ip}],
                "startTime": now,
            }
        )
        for c in self.containers:
            c.started_at = now
        for type_, value in (
            ("PodReadyToStartContainers", True),
            ("Initialized", True),
            ("Ready", False),
            ("ContainersReady", False),
            ("PodScheduled", True),
        ):
            self._set_condition(status, type_, value, "" if value else "ContainersNotReady")
        status["containerStatuses"] = self._container_statuses()

    async def _container_loop(self, c: ContainerRun) -> None:
        """Start the container, wait for it to exit, restart it per restartPolicy."""
        policy = (self.pod.get("spec") or {}).get("restartPolicy", "Always")
        while True:
            await self._start(c)
            if not c.exit_future.done():
                self.kubelet.spawn(self._become_ready(c))
            code, _ = await c.exit_future
            c.ready = False
            if policy == "Never" or (policy == "OnFailure" and code == 0):
                self._write_status(self._update_containers)
                return
            c.last_state = {"terminated": self._terminated(c)}
            c.restart_count += 1
            self._write_status(self._update_containers)
            await asyncio.sleep(self.kubelet.config.restart_backoff)
            c.exit_future = asyncio.get_running_loop().create_future()
            c.started_at = meta.rfc3339()

    async def _start(self, c: ContainerRun) -> None:
        assert self.files is not None
        if not c.local:
            self._simulate_exit(c)
            return
        while True:
            self.files.pod = self.pod  # the pod as stored now: podIP and node are set
            try:
                self.files.materialise(c.spec)
                env = self.kubelet.base_env(self.files.root)
                env = self.files.environment(c.spec, env)
                break
            except ContainerConfigError as exc:
                self._write_status(
                    lambda s, m=str(exc): self._waiting(s, c, "CreateContainerConfigError", m)
                )
                await asyncio.sleep(0.5)
        termination = self.files.root / "dev" / "termination-log"
        termination.parent.mkdir(parents=True, exist_ok=True)
        termination.touch()
        workdir = c.spec.get("workingDir")
        cwd = self.files.root / (workdir.lstrip("/") if workdir else "workdir")
        argv = [expand_references(arg, env) for arg in c.local_argv or []]
        process = LocalProcess(argv, cwd, env, self.files.log_path(c.name))
        try:
            await process.start()
        except (FileNotFoundError, PermissionError, OSError) as exc:
            c.exit(128, f"failed to start container: {exc}")
            return
        c.process = process
        self.kubelet.event(self.pod, "Normal", "Started", f"Started container {c.name}")

        async def wait_exit() -> None:
            code = await process.wait()
            assert self.files is not None
            message = self.files.termination_message(c.spec)
            if (
                not message
                and code != 0
                and c.spec.get("terminationMessagePolicy") == ("FallbackToLogsOnError")
            ):
                message = self.kubelet.read_log(self.namespace, self.name, c.name, 80)[-2048:]
            c.exit(code, message or None)

        self.kubelet.spawn(wait_exit())

    def _waiting(self, status: dict[str, Any], c: ContainerRun, reason: str, message: str) -> None:
        statuses = self._container_statuses()
        for entry in statuses:
            if entry["name"] == c.name:
                entry["state"] = {"waiting": {"reason": reason, "message": message}}
                entry["started"] = False
        status["containerStatuses"] = statuses

    def _simulate_exit(self, c: ContainerRun) -> None:
        annotations = self.pod["metadata"].get("annotations") or {}
        after: float | None = self.kubelet.config.simulated_exit_after
        code = self.kubelet.config.simulated_exit_code
        with contextlib.suppress(ValueError):
            if EXIT_AFTER in annotations:
                after = float(annotations[EXIT_AFTER])
            if EXIT_CODE in annotations:
                code = int(annotations[EXIT_CODE])
        message = annotations.get(EXIT_MESSAGE)
        if after is not None:
            asyncio.get_running_loop().call_later(max(after, 0), c.exit, code, message)

    async def _become_ready(self, c: ContainerRun) -> None:
        probe = c.spec.get("readinessProbe")
        if c.local and probe:
            await self._probe_until_ready(c, probe)
        elif self.kubelet.config.pod_ready_delay > 0:
            await asyncio.sleep(self.kubelet.config.pod_ready_delay)
        if c.exit_future.done() or self.terminating.is_set():
            return
        c.ready = True
        self._write_status(self._update_containers)

    async def _probe_until_ready(self, c: ContainerRun, probe: dict[str, Any]) -> None:
        await asyncio.sleep(min(float(probe.get("initialDelaySeconds", 0)), 1.0))
        period = min(float(probe.get("periodSeconds", 10)), 0.2)
        while not c.exit_future.done() and not self.terminating.is_set():
            if await self._probe_once(c, probe):
                return
            await asyncio.sleep(period)

    async def _probe_once(self, c: ContainerRun, probe: dict[str, Any]) -> bool:
        port_of = self.kubelet.named_port
        if "httpGet" in probe:
            get = probe["httpGet"]
            port = port_of(c.spec, get.get("port"))
            url = f"http://{self.ip}:{port}{get.get('path', '/')}"
            try:
                async with (
                    ClientSession(timeout=ClientTimeout(total=1)) as session,
                    session.get(url, allow_redirects=False) as resp,
                ):
                    return 200 <= resp.status < 400
            except Exception:  # any failure to connect or read is a failed probe
                return False
        if "tcpSocket" in probe:
            port = port_of(c.spec, probe["tcpSocket"].get("port"))
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(self.ip, port), 1)
                writer.close()
                return True
            except (OSError, TimeoutError):
                return False
        return True

    def _update_containers(self, status: dict[str, Any]) -> None:
        status["containerStatuses"] = self._container_statuses()
        all_ready = bool(self.containers) and all(c.ready for c in self.containers)
        reason = "" if all_ready else "ContainersNotReady"
        self._set_condition(status, "ContainersReady", all_ready, reason)
        self._set_condition(status, "Ready", all_ready, reason)

    def _finish_terminal(self) -> None:
        """Every container ended for good: the pod is Succeeded or Failed."""
        codes = [c.exit_future.result()[0] for c in self.containers if c.exit_future.done()]
        phase = "Succeeded" if all(code == 0 for code in codes) else "Failed"

        def change(status: dict[str, Any]) -> None:
            self._update_containers(status)
            status["phase"] = phase
            self._set_condition(status, "Ready", False, "PodCompleted")
            self._set_condition(status, "ContainersReady", False, "PodCompleted")

        self._write_status(change)
        self.kubelet.event(
            self.pod,
            "Normal" if phase == "Succeeded" else "Warning",
            "Completed" if phase == "Succeeded" else "Failed",
            f"pod ended: {phase}",
        )

    async def _stop_containers(self, grace: float | None = None) -> None:
        if grace is None:
            grace = float(self.pod["metadata"].get("deletionGracePeriodSeconds") or 0)
            cap = self.kubelet.config.max_grace_seconds
            if cap is not None:
                grace = min(grace, cap)
        stops = [c.process.stop(grace) for c in self.containers if c.process is not None]
        if stops:
            await asyncio.gather(*stops, return_exceptions=True)
        for c in self.containers:
            c.exit(137 if c.local else 0, None)


class Kubelet:
    """Watches pods of the sandbox node (through in-process store listeners) and runs them."""

    def __init__(
        self,
        cluster: Cluster,
        config: SandboxConfig,
        root: Path,
        tokens: TokenIssuer,
        api_address: Callable[[], tuple[str, int]],
    ) -> None:
        self.cluster = cluster
        self.config = config
        self.root = root
        self.tokens = tokens
        self.api_address = api_address
        self.ips = PodIPAllocator()
        self.workers: dict[str, PodWorker] = {}
        self._pending: set[tuple[str, str]] = set()
        # Workers that may be done with: finished, or whose pod was just removed.
        self._reapable: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._background: set[asyncio.Task[Any]] = set()
        self.exec_sessions: set[ExecSession] = set()
        cluster.store.listen("pods", self._on_event)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sandbox-kubelet")

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a background step, keeping a reference until it is done."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        """Stop every container (local processes included) and forget all pods."""
        self._stopping = True
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for session in list(self.exec_sessions):
            session.kill()
        workers = list(self.workers.values())
        for w in workers:
            w.terminating.set()
        await asyncio.gather(
            *(w._stop_containers(grace=1.0) for w in workers), return_exceptions=True
        )
        for w in workers:
            if w.task:
                w.task.cancel()
        await asyncio.gather(*(w.task for w in workers if w.task), return_exceptions=True)
        self.workers.clear()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # events ----------------------------------------------------------------------
    def _on_event(self, storage: str, event: Event) -> None:
        meta_ = event.obj["metadata"]
        self._pending.add((meta_.get("namespace", ""), meta_["name"]))
        if event.type == "DELETED":
            worker = self.workers.get(meta_["uid"])
            if worker is not None:
                worker.terminating.set()
                self._reapable.add(meta_["uid"])
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            pending, self._pending = self._pending, set()
            for ns, name in pending:
                try:
                    self._sync(ns, name)
                except Exception:  # the kubelet keeps serving other pods
                    log.exception("kubelet failed on pod %s/%s", ns, name)
            self._reap()

    def _sync(self, namespace: str, name: str) -> None:
        pod = self.cluster.find("pods", namespace, name)
        if pod is None:
            return
        spec = pod.get("spec") or {}
        meta_ = pod["metadata"]
        if not spec.get("nodeName"):
            if meta_.get("deletionTimestamp"):
                return
            self._schedule(pod)
            return
        if spec["nodeName"] != self.config.node_name:
            return
        worker = self.workers.get(meta_["uid"])
        if meta_.get("deletionTimestamp"):
            if worker is None:
                self._final_delete(pod)
            elif not worker.terminating.is_set():
                worker.pod = pod  # carries deletionGracePeriodSeconds
                self.event(pod, "Normal", "Killing", "Stopping container(s)")
                worker.terminating.set()
                self.spawn(self._finish_deletion(worker))
            return
        if worker is None and (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES:
            worker = PodWorker(self, pod)
            self.workers[meta_["uid"]] = worker
            worker.task = asyncio.create_task(worker.run(), name=f"pod-{namespace}/{name}")
        elif worker is not None:
            worker.pod = pod

    def _schedule(self, pod: dict[str, Any]) -> None:
        node = self.config.node_name

        def bind(p: dict[str, Any]) -> None:
            # One write, as the API server's binding does: the node and PodScheduled together.
            p["spec"]["nodeName"] = node
            PodWorker._set_condition(p.setdefault("status", {}), "PodScheduled", True)

        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if self.cluster.mutate("pods", ns, name, bind, with_status=True) is None:
            return
        self.event(pod, "Normal", "Scheduled", f"Successfully assigned {ns}/{name} to {node}")

    async def _finish_deletion(self, worker: PodWorker) -> None:
        if worker.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker.task
        pod = self.cluster.find("pods", worker.namespace, worker.name)
        if pod is not None and pod["metadata"]["uid"] == worker.uid:
            self._final_delete(pod)

    def _final_delete(self, pod: dict[str, Any]) -> None:
        rtype = self.cluster.registry.lookup("", "v1", "pods")
        assert rtype is not None
        with contextlib.suppress(ApiError):
            self.cluster.delete(
                rtype,
                pod["metadata"]["namespace"],
                pod["metadata"]["name"],
                DeleteOptions(grace_period_seconds=0, uid=pod["metadata"]["uid"]),
            )

    def _reap(self) -> None:
        reapable, self._reapable = self._reapable, set()
        for uid in reapable:
            worker = self.workers.get(uid)
            if worker is None:
                continue
            # Not finished yet, or its pod still stored: the worker comes back here when it
            # finishes or when the pod is removed.
            if worker.finished and self.cluster.store.by_uid(uid) is None:
                self.ips.release(worker.ip)
                del self.workers[uid]
                root = worker.files.root if worker.files is not None else None
                if root is not None and not self._stopping and root.exists():
                    shutil.rmtree(root, ignore_errors=True)

    # helpers ---------------------------------------------------------------------
    def pod_dir(self, pod: dict[str, Any], *, create: bool = True) -> Path:
        m = pod["metadata"]
        path = self.root / _SAFE.sub("_", f"{m['namespace']}_{m['name']}_{m['uid'][:8]}")
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def local_argv(self, container: dict[str, Any]) -> list[str] | None:
        """The argv to run locally, or None when the image is simulated."""
        image = str(container.get("image") or "")
        match = max(
            (p for p in self.config.local_images if image.startswith(p)), key=len, default=None
        )
        if match is None:
            return None
        command = list(container.get("command") or self.config.local_images[match] or [])
        args = list(container.get("args") or [])
        argv = command + args
        return argv or ["/bin/false"]

    def base_env(self, root: Path) -> dict[str, str]:
        host, port = self.api_address()
        env = {k: os.environ[k] for k in _PASSTHROUGH_ENV if k in os.environ}
        env.update(
            {
                "PATH": search_path(),
                "HOME": str(root / "home"),
                "KUBERNETES_SERVICE_HOST": host,
                "KUBERNETES_SERVICE_PORT": str(port),
                "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
                "CLOUDTTY_SANDBOX_ROOT": str(root),
            }
        )
        (root / "home").mkdir(parents=True, exist_ok=True)
        env.update(self.config.local_env)
        return env

    @staticmethod
    def named_port(container: dict[str, Any], port: Any) -> int:
        if isinstance(port, int):
            return port
        if isinstance(port, str) and port.isdigit():
            return int(port)
        for p in container.get("ports") or ():
            if p.get("name") == port:
                return int(p["containerPort"])
        return 0

    def event(self, pod: dict[str, Any], type_: str, reason: str, message: str) -> None:
        """Record a core/v1 Event about a pod (shown by ``kubectl describe``)."""
        if not self.config.emit_events:
            return
        rtype = self.cluster.registry.lookup("", "v1", "events")
        m = pod["metadata"]
        if rtype is None or self.cluster.find("namespaces", "", m["namespace"]) is None:
            return
        now = meta.rfc3339()
        body = {
            "metadata": {"name": f"{m['name']}.{secrets.token_hex(8)}"},
            "involvedObject": {
                "kind": "Pod",
                "namespace": m["namespace"],
                "name": m["name"],
                "uid": m["uid"],
                "apiVersion": "v1",
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": "kubelet", "host": self.config.node_name},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": "kubelet",
            "reportingInstance": self.config.node_name,
        }
        with contextlib.suppress(ApiError):
            self.cluster.create(rtype, m["namespace"], body)

    def exit_container(
        self, namespace: str, name: str, code: int, message: str, container: str | None
    ) -> bool:
        pod = self.cluster.find("pods", namespace, name)
        worker = self.workers.get(pod["metadata"]["uid"]) if pod else None
        if worker is None:
            return False
        hit = False
        for c in worker.containers:
            if (container is None or c.name == container) and not c.exit_future.done():
                if c.process is not None:
                    self.spawn(c.process.stop(0))
                c.exit(code, message or None)
                hit = True
        return hit

    def read_log(self, namespace: str, name: str, container: str | None, tail: int | None) -> str:
        pod = self.cluster.find("pods", namespace, name)
        if pod is None:
            return ""
        worker = self.workers.get(pod["metadata"]["uid"])
        if worker is None or worker.files is None:
            return ""
        names = [c.name for c in worker.containers]
        chosen = container or (names[0] if names else "")
        try:
            text = worker.files.log_path(chosen).read_text(errors="replace")
        except OSError:
            return ""
        if tail is not None and tail >= 0:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail:]) if tail else ""
        return text

    def follow_log(
        self, namespace: str, name: str, container: str | None
    ) -> tuple[Path | None, Callable[[], bool]]:
        """The log file of a container and a check whether it may still grow."""
        pod = self.cluster.find("pods", namespace, name)
        worker = self.workers.get(pod["metadata"]["uid"]) if pod else None
        if worker is None or worker.files is None or not worker.containers:
            return None, lambda: False
        chosen = next((c for c in worker.containers if c.name == container), worker.containers[0])

        def running() -> bool:
            policy = (worker.pod.get("spec") or {}).get("restartPolicy", "Always")
            return not worker.finished and (not chosen.exit_future.done() or policy != "Never")

        return worker.files.log_path(chosen.name), running

    def exec_target(
        self, namespace: str, name: str, container: str | None, command: list[str]
    ) -> tuple[list[str], ExecTarget]:
        """The argv and environment for ``kubectl exec`` into a locally run container."""
        pod = self.cluster.find("pods", namespace, name)
        worker = self.workers.get(pod["metadata"]["uid"]) if pod else None
        if pod is None or worker is None or worker.files is None or not worker.containers:
            raise ApiError(
                400, f'pod "{name}" is not running on the sandbox node', reason="BadRequest"
            )
        chosen = next((c for c in worker.containers if c.name == container), None)
        if container and chosen is None:
            raise ApiError(
                400, f"container {container} is not valid for pod {name}", reason="BadRequest"
            )
        chosen = chosen or worker.containers[0]
        if chosen.exit_future.done():
            raise ApiError(400, f"container {chosen.name} is not running", reason="BadRequest")
        if not chosen.local:
            # A simulated container has no process, but its exec runs like a local one's: in
            # the pod's private directory, with its volumes and environment.
            worker.files.pod = pod
            try:
                worker.files.materialise(chosen.spec)
                env = worker.files.environment(chosen.spec, self.base_env(worker.files.root))
            except ContainerConfigError as exc:
                raise ApiError(
                    400, f"container {chosen.name} cannot run: {exc}", reason="BadRequest"
                ) from None
        else:
            env = worker.files.environment(chosen.spec, self.base_env(worker.files.root))
        workdir = chosen.spec.get("workingDir")
        cwd = worker.files.root / (workdir.lstrip("/") if workdir else "workdir")
        executable = shutil.which(command[0], path=env.get("PATH"))
        argv = [executable or command[0], *command[1:]]
        return argv, ExecTarget(env, cwd)

    def processes(self) -> list[dict[str, Any]]:
        out = []
        for worker in self.workers.values():
            for c in worker.containers:
                if (
                    c.process is not None
                    and c.process.process is not None
                    and (c.process.process.returncode is None)
                ):
                    out.append(
                        {
                            "namespace": worker.namespace,
                            "pod": worker.name,
                            "container": c.name,
                            "pid": c.process.pid,
                            "podIP": worker.ip,
                        }
                    )
        return out
