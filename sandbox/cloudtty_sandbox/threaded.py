"""Running a sandbox on its own event loop in a background thread, for synchronous code
(plain pytest tests, the demo command)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from .config import SandboxConfig
from .faults import FaultConfig
from .kubectl import run_kubectl
from .sandbox import Sandbox

if TYPE_CHECKING:
    import subprocess

T = TypeVar("T")


class ThreadedSandbox:
    """A ``Sandbox`` driven from another thread; every control method is thread-safe."""

    def __init__(self, config: SandboxConfig | None = None, **overrides: Any) -> None:
        self._config = config
        self._overrides = overrides
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.sandbox: Sandbox | None = None

    # lifecycle ----------------------------------------------------------------------
    def start(self, timeout: float = 30) -> ThreadedSandbox:
        self._thread = threading.Thread(target=self._main, name="cloudtty-sandbox", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the sandbox did not start in time")
        if self._error is not None:
            raise RuntimeError(f"the sandbox failed to start: {self._error}") from self._error
        return self

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            self.sandbox = Sandbox(self._config, **self._overrides)
            await self.sandbox.start()
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            if self.sandbox is not None:
                await self.sandbox.stop()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.sandbox.stop()

    def stop(self, timeout: float = 30) -> None:
        """Stop the sandbox (and every process it runs) and join its thread."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> ThreadedSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # calling into the loop -------------------------------------------------------------
    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args)`` on the sandbox's loop thread and return its result."""
        assert self._loop is not None

        async def run() -> T:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(30)

    @property
    def _sb(self) -> Sandbox:
        assert self.sandbox is not None, "the sandbox is not running"
        return self.sandbox

    # addresses ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._sb.url

    @property
    def kubeconfig_path(self) -> Path:
        assert self._sb.kubeconfig_path is not None
        return self._sb.kubeconfig_path

    @property
    def port(self) -> int:
        return self._sb.port

    @property
    def ingress_port(self) -> int | None:
        return self._sb.ingress_port

    @property
    def ingress_url(self) -> str | None:
        return self._sb.ingress_url

    @property
    def gateway_port(self) -> int | None:
        return self._sb.gateway_port

    @property
    def ca_path(self) -> Path | None:
        """The sandbox CA certificate file when the API speaks HTTPS (else None)."""
        return self._sb.ca_path

    @property
    def admin_token(self) -> str:
        return self._sb.admin_token

    @property
    def node_name(self) -> str:
        return self._sb.config.node_name

    # control -----------------------------------------------------------------------------
    def set_faults(self, faults: FaultConfig | dict[str, Any] | None = None, **fields: Any) -> None:
        self.call(self._sb.set_faults, faults, **fields)

    def clear_faults(self) -> None:
        self.call(self._sb.clear_faults)

    def compact(self) -> int:
        return self.call(self._sb.compact)

    def close_watches(self) -> None:
        self.call(self._sb.close_watches)

    def counters(self) -> dict[str, Any]:
        return self.call(self._sb.counters_snapshot)

    def reset_counters(self) -> None:
        self.call(self._sb.reset_counters)

    def exit_container(
        self,
        namespace: str,
        pod: str,
        exit_code: int = 0,
        message: str = "",
        container: str | None = None,
    ) -> bool:
        return self.call(self._sb.exit_container, namespace, pod, exit_code, message, container)

    def local_processes(self) -> list[dict[str, Any]]:
        return self.call(self._sb.local_processes)

    def get_object(self, storage: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A copy of a stored object (``storage`` like ``pods`` or ``cloudshells.cloudtty.io``)."""
        obj = self.call(self._sb.cluster.find, storage, namespace, name)
        return orjson.loads(orjson.dumps(obj)) if obj is not None else None

    def orphans(self) -> list[tuple[str, str, str]]:
        """Objects whose owners are all gone (empty once garbage collection caught up)."""
        assert self._sb.gc is not None
        return self.call(self._sb.gc.orphans)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the wheel's kubectl against this sandbox (own discovery cache per sandbox)."""
        cache = self.kubeconfig_path.parent / "kube-cache"
        return run_kubectl(
            self.kubeconfig_path, args, cache_dir=cache, input=input, check=check, timeout=timeout
        )

    def api_client(self, token: str | None = None) -> Any:
        """A configured ``kubernetes.client.ApiClient`` (admin unless ``token`` is given)."""
        from .client import api_client

        ca = self._sb.ca_path
        return api_client(self.url, token or self.admin_token, str(ca) if ca else None)

    def write_kubeconfig(self, path: Path, token: str) -> Path:
        """A kubeconfig for this sandbox authenticating with ``token`` (e.g. a SA token)."""
        return self._sb.write_kubeconfig(path, token)


@contextlib.contextmanager
def run_sandbox_in_thread(
    config: SandboxConfig | None = None, **overrides: Any
) -> Iterator[ThreadedSandbox]:
    """``with run_sandbox_in_thread(pod_start_delay=0) as sb:`` — a running sandbox."""
    sandbox = ThreadedSandbox(config, **overrides)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()
