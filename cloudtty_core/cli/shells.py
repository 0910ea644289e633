"""CloudShells in a live cluster, for the commands that create, list and delete them
(``cloudtty shell``, ``ls``, ``rm``) and for the demo.

Everything goes through the runtime's :class:`~cloudtty_core.runtime.client.KubeClient` (the
official ``kubernetes`` client underneath), imported only when a command runs: the ``runtime``
extra stays optional for the other commands. Failures a user must fix -- no reachable API
server, no CloudShell CRD, no operator -- become one-line :class:`CliError`\\ s.
"""

from __future__ import annotations

import argparse
import base64
import shlex
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from cloudtty_core.cli.errors import CliError
from cloudtty_core.model import API_VERSION, KIND, PLURAL, Manifest

T = TypeVar("T")

if TYPE_CHECKING:
    from cloudtty_core.runtime.client import KubeClient, Resource

__all__ = [
    "CRD_MISSING",
    "NOT_READY",
    "ShellCluster",
    "access_login_url",
    "add_cluster_options",
    "connect",
    "exec_command",
    "format_age",
    "logs_command",
    "parse_duration",
    "summarize_status",
]

RUNTIME_EXTRA = "pip install 'cloudtty-core[runtime]'"

CRD_MISSING = (
    "the CloudShell CRD is not installed in this cluster: run "
    "`cloudtty manifests | kubectl apply -f -` (operator and CRD) or "
    "`cloudtty crd | kubectl apply -f -` (CRD only)"
)
"""The one line printed when the cluster does not serve CloudShells."""

NOT_READY = (
    "is the operator running? (`cloudtty run`, or `cloudtty manifests | kubectl apply -f -`)"
)
"""The hint added when a shell does not become Ready in time."""

ACCESS_URL_KEY = "url"
"""The key of the access Secret (``status.accessSecret``) holding the full login URL."""

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, what: str = "duration") -> int:
    """``"90"``, ``"90s"``, ``"15m"``, ``"1h30m"``, ``"2d"`` as whole seconds (> 0).

    Raises ``ValueError`` naming ``what`` for anything else.
    """
    raw = text.strip().lower()
    if raw.isdigit():
        seconds = int(raw)
    else:
        seconds, number = 0, ""
        for char in raw:
            if char.isdigit():
                number += char
            elif char in _DURATION_UNITS and number:
                seconds += int(number) * _DURATION_UNITS[char]
                number = ""
            else:
                number = "x"  # poison: reported below
                break
        if number or not raw:
            raise ValueError(
                f"{what}: expected a duration like 90s, 15m, 1h or 1h30m, got {text!r}"
            )
    if seconds <= 0:
        raise ValueError(f"{what}: must be positive, got {text!r}")
    return seconds


def exec_command(
    pod: str, namespace: str, container: str | None = None, command: Sequence[str] = ()
) -> str:
    """``commandAction`` that opens a shell in ``pod`` (``kubectl exec -it``), quoted safely.

    Without ``command`` it runs bash when the container has it, else sh.
    """
    argv = ["kubectl", "exec", "-it", "-n", namespace, pod]
    if container:
        argv += ["-c", container]
    argv.append("--")
    argv += list(command) or ["sh", "-c", "command -v bash >/dev/null && exec bash || exec sh"]
    return shlex.join(argv)


def logs_command(pod: str, namespace: str, container: str | None = None) -> str:
    """``commandAction`` that follows the log of ``pod`` (``kubectl logs -f``), quoted safely."""
    argv = ["kubectl", "logs", "-f", "-n", namespace, pod]
    if container:
        argv += ["-c", container]
    return shlex.join(argv)


def format_age(created: str | None, now: datetime | None = None) -> str:
    """A creationTimestamp as kubectl shows ages: ``42s``, ``5m``, ``3h``, ``2d``."""
    if not created:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 3600 * 2:
        return f"{seconds // 60}m"
    if seconds < 86400 * 2:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def summarize_status(shell: Mapping[str, Any]) -> str:
    """A shell's phase and its conditions that are not True, as one line."""
    status = shell.get("status") or {}
    phase = status.get("phase") or "no status yet"
    waiting = []
    for condition in status.get("conditions") or ():
        if condition.get("status") != "True":
            detail = condition.get("message") or condition.get("reason") or ""
            waiting.append(f"{condition.get('type')}={condition.get('status')} ({detail})")
    return f"phase {phase}" + (": " + "; ".join(waiting) if waiting else "")


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """``--kubeconfig`` and ``--context``."""
    group = parser.add_argument_group("cluster connection")
    group.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    group.add_argument("--context", help="kubeconfig context (default: the current one)")


def connect(args: argparse.Namespace) -> ShellCluster:
    """A :class:`ShellCluster` for the ``--kubeconfig``/``--context`` of ``args``."""
    return ShellCluster.from_kubeconfig(getattr(args, "kubeconfig", None), args.context)


def access_login_url(shell: Mapping[str, Any], secret: Mapping[str, Any] | None) -> str | None:
    """The URL a user opens: the access Secret's ``url`` (it carries the token) when the shell
    names one, else ``status.accessUrl``."""
    status = shell.get("status") or {}
    if status.get("accessSecret"):
        if secret is None:
            return None
        data = secret.get("data") or {}
        if ACCESS_URL_KEY in data:
            return base64.b64decode(str(data[ACCESS_URL_KEY])).decode()
        value = (secret.get("stringData") or {}).get(ACCESS_URL_KEY)
        return str(value) if value else None
    url = status.get("accessUrl")
    return str(url) if url else None


@attrs.define
class ShellCluster:
    """CloudShells of one cluster: create, read, wait for, list and delete them."""

    client: KubeClient
    default_namespace: str = "default"

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, context: str | None = None) -> ShellCluster:
        """Connect with a kubeconfig (default: ``$KUBECONFIG`` or ``~/.kube/config``)."""
        try:
            from kubernetes import config

            from cloudtty_core.runtime.client import KubeClient
        except ImportError as error:
            raise CliError(
                f"this command needs the runtime extra ({error.name} is missing): {RUNTIME_EXTRA}"
            ) from None
        try:
            client = KubeClient.from_kubeconfig(path, context)
            namespace = "default"
            _, current = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
            if context is not None:
                contexts, _ = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
                current = next((c for c in contexts if c.get("name") == context), current)
            namespace = str(((current or {}).get("context") or {}).get("namespace") or "default")
        except Exception as error:
            if type(error).__name__ == "ConfigException" or isinstance(error, OSError):
                raise CliError(f"cannot load the cluster configuration: {error}") from None
            raise
        return cls(client, namespace)

    @classmethod
    def for_url(cls, url: str, token: str) -> ShellCluster:
        """Connect to ``url`` with a bearer token (the sandbox's admin token)."""
        from cloudtty_core.runtime.client import KubeClient

        return cls(KubeClient.for_url(url, token))

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    # Requests ------------------------------------------------------------------------------

    @property
    def shells(self) -> Resource:
        """The CloudShell resource."""
        from cloudtty_core.runtime.client import Resource

        return Resource(API_VERSION, KIND, PLURAL)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()``, its API failures turned into one-line errors starting with ``what``."""
        from cloudtty_core.runtime.client import ApiError, TransportError

        try:
            return fn()
        except TransportError as error:
            raise CliError(
                f"cannot reach the API server at {self.client.server}: {error}", exit_status=1
            ) from None
        except ApiError as error:
            if (
                error.status == 404
                and error.reason in ("NotFound", "")
                and not self.crd_installed()
            ):
                raise CliError(CRD_MISSING, exit_status=1) from None
            raise CliError(f"{what}: {error.message or error}", exit_status=1) from None

    def crd_installed(self) -> bool:
        """Whether the cluster serves CloudShells (asks discovery)."""
        from cloudtty_core.runtime.client import ApiError, TransportError

        try:
            return self.client.serves(API_VERSION, KIND)
        except TransportError as error:
            raise CliError(
                f"cannot reach the API server at {self.client.server}: {error}", exit_status=1
            ) from None
        except ApiError as error:
            raise CliError(
                f"cannot read the API server's discovery: {error}", exit_status=1
            ) from None

    def require_crd(self) -> None:
        """Raise the one-line :data:`CRD_MISSING` error when CloudShells are not served."""
        if not self.crd_installed():
            raise CliError(CRD_MISSING, exit_status=1)

    def create(self, manifest: Manifest) -> Manifest:
        """Create a CloudShell."""
        meta = manifest.get("metadata") or {}
        what = f"creating CloudShell {meta.get('name') or meta.get('generateName', '')}"
        return self._call(what, lambda: self.client.create(manifest))

    def get(self, namespace: str, name: str) -> Manifest | None:
        """A CloudShell, or None when it does not exist."""
        from cloudtty_core.runtime.client import NotFound

        def fetch() -> Manifest | None:
            try:
                return self.client.get(self.shells, namespace, name)
            except NotFound:
                if not self.crd_installed():
                    raise
                return None

        return self._call(f"reading CloudShell {namespace}/{name}", fetch)

    def list(self, namespace: str | None) -> list[Manifest]:
        """Every CloudShell of ``namespace`` (all namespaces when None), oldest first."""
        items: list[Manifest] = []
        token: str | None = None
        while True:
            page = self._call(
                "listing CloudShells",
                lambda token=token: self.client.list(  # type: ignore[misc]
                    self.shells, namespace, limit=500, continue_=token
                ),
            )
            items += list(page.get("items") or ())
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                break
        return sorted(
            items,
            key=lambda s: (s["metadata"].get("namespace", ""), s["metadata"].get("name", "")),
        )

    def delete(self, namespace: str, name: str) -> bool:
        """Delete a CloudShell; False when it did not exist."""
        from cloudtty_core.backends import ObjectRef
        from cloudtty_core.runtime.client import NotFound

        def delete() -> bool:
            try:
                self.client.delete(ObjectRef(API_VERSION, KIND, namespace, name))
            except NotFound:
                if not self.crd_installed():
                    raise
                return False
            return True

        return self._call(f"deleting CloudShell {namespace}/{name}", delete)

    def login_url(self, shell: Mapping[str, Any]) -> str | None:
        """The URL to open for ``shell`` (reads its access Secret when it has one)."""
        from cloudtty_core.runtime.client import NotFound, Resource

        status = shell.get("status") or {}
        name = status.get("accessSecret")
        if not name:
            return access_login_url(shell, None)
        namespace = str(shell["metadata"].get("namespace") or self.default_namespace)

        def read() -> Manifest | None:
            try:
                return self.client.get(Resource("v1", "Secret", "secrets"), namespace, str(name))
            except NotFound:
                return None  # the operator writes it a moment later

        secret = self._call(
            f"reading Secret {namespace}/{name} (the shell's login URL with its token)", read
        )
        return access_login_url(shell, secret)

    # Waiting -------------------------------------------------------------------------------

    def watch_phases(
        self, namespace: str, name: str, timeout: float, interval: float = 0.2
    ) -> Iterator[Manifest | None]:
        """The shell as it is every ``interval`` seconds until ``timeout`` (None: gone)."""
        deadline = time.monotonic() + timeout
        while True:
            yield self.get(namespace, name)
            if time.monotonic() >= deadline:
                return
            time.sleep(interval)

    def wait_ready(
        self,
        namespace: str,
        name: str,
        timeout: float,
        on_change: Callable[[Manifest], None] | None = None,
    ) -> Manifest:
        """Wait until the shell is Ready with a login URL; return it.

        Raises a one-line :class:`CliError` when it fails, disappears, or is not Ready within
        ``timeout`` seconds (naming its phase and the conditions that are not True).
        """
        last: Manifest | None = None
        for shell in self.watch_phases(namespace, name, timeout):
            if shell is None:
                raise CliError(f"CloudShell {namespace}/{name} was deleted", exit_status=1)
            if on_change is not None and shell != last:
                on_change(shell)
            last = shell
            phase = (shell.get("status") or {}).get("phase")
            if phase == "Ready" and self.login_url(shell):
                return shell
            if phase in ("Failed", "Completed", "Complete"):
                raise CliError(
                    f"CloudShell {namespace}/{name} ended: {summarize_status(shell)}",
                    exit_status=1,
                )
        assert last is not None
        raise CliError(
            f"CloudShell {namespace}/{name} is not Ready after {timeout:g}s "
            f"({summarize_status(last)}); {NOT_READY}",
            exit_status=1,
        )

    def wait_gone(self, namespace: str, name: str, timeout: float) -> bool:
        """Wait until the shell no longer exists; False when it still does after ``timeout``."""
        return any(shell is None for shell in self.watch_phases(namespace, name, timeout))
