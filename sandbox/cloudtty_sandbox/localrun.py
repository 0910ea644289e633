"""Running a container as a local process: its pod directory, volumes, environment, log file,
termination message, and stopping its whole process group."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cluster import Cluster
from .deathsig import die_with_parent
from .selectors import field_value
from .tokens import TokenIssuer

TERMINATION_LOG = "/dev/termination-log"
MAX_MESSAGE = 4096


class ContainerConfigError(Exception):
    """A referenced Secret/ConfigMap key is missing (the kubelet retries until it appears)."""


def sandbox_path(root: Path, absolute: str) -> Path:
    """Map an absolute path inside the container to the pod directory."""
    relative = Path(absolute.lstrip("/"))
    if ".." in relative.parts:
        raise ContainerConfigError(f"path {absolute!r} must not contain '..'")
    return root / relative


def _decode(value: str) -> bytes:
    try:
        return base64.b64decode(value)
    except (ValueError, TypeError):
        return b""


def _field_ref(pod: dict[str, Any], path: str) -> str:
    meta = pod["metadata"]
    for prefix in ("metadata.labels", "metadata.annotations"):
        if path.startswith(prefix + "[") and path.endswith("]"):
            key = path[len(prefix) + 1 : -1].strip("'\"")
            return str((meta.get(prefix.split(".")[1]) or {}).get(key, ""))
    if path == "status.hostIP":
        return "127.0.0.1"
    return field_value(pod, path)


class PodFiles:
    """The pod directory: volumes materialised under it, logs and termination messages."""

    def __init__(
        self, root: Path, pod: dict[str, Any], cluster: Cluster, tokens: TokenIssuer
    ) -> None:
        self.root = root
        self.pod = pod
        self.cluster = cluster
        self.tokens = tokens

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    def _secret(self, name: str, optional: bool) -> dict[str, bytes] | None:
        obj = self.cluster.find("secrets", self.namespace, name)
        if obj is None:
            if optional:
                return None
            raise ContainerConfigError(f'secret "{name}" not found')
        data = {k: _decode(v) for k, v in (obj.get("data") or {}).items()}
        data.update({k: str(v).encode() for k, v in (obj.get("stringData") or {}).items()})
        return data

    def _config_map(self, name: str, optional: bool) -> dict[str, bytes] | None:
        obj = self.cluster.find("configmaps", self.namespace, name)
        if obj is None:
            if optional:
                return None
            raise ContainerConfigError(f'configmap "{name}" not found')
        data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
        data.update({k: _decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        return data

    # environment ----------------------------------------------------------------
    def environment(self, container: dict[str, Any], base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        for source in container.get("envFrom") or ():
            prefix = source.get("prefix", "")
            if "secretRef" in source:
                ref = source["secretRef"]
                data = self._secret(ref.get("name", ""), bool(ref.get("optional")))
            elif "configMapRef" in source:
                ref = source["configMapRef"]
                data = self._config_map(ref.get("name", ""), bool(ref.get("optional")))
            else:
                continue
            for key, value in (data or {}).items():
                env[prefix + key] = value.decode(errors="replace")
        for item in container.get("env") or ():
            name = item.get("name")
            if not name:
                continue
            if "value" in item:
                env[name] = expand_references(str(item.get("value") or ""), env)
                continue
            source = item.get("valueFrom") or {}
            value: str | None = None
            if "fieldRef" in source:
                value = _field_ref(self.pod, source["fieldRef"].get("fieldPath", ""))
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                data = self._secret(ref.get("name", ""), bool(ref.get("optional")))
                if data is not None:
                    if ref.get("key") in data:
                        value = data[ref["key"]].decode(errors="replace")
                    elif not ref.get("optional"):
                        raise ContainerConfigError(
                            f"couldn't find key {ref.get('key')} in Secret "
                            f"{self.namespace}/{ref.get('name')}"
                        )
            elif "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                data = self._config_map(ref.get("name", ""), bool(ref.get("optional")))
                if data is not None:
                    if ref.get("key") in data:
                        value = data[ref["key"]].decode(errors="replace")
                    elif not ref.get("optional"):
                        raise ContainerConfigError(
                            f"couldn't find key {ref.get('key')} in ConfigMap "
                            f"{self.namespace}/{ref.get('name')}"
                        )
            elif "resourceFieldRef" in source:
                value = "0"
            if value is not None:
                env[name] = value
        return env

    # volumes ---------------------------------------------------------------------
    def materialise(self, container: dict[str, Any]) -> None:
        volumes = {v.get("name"): v for v in (self.pod.get("spec") or {}).get("volumes") or ()}
        for mount in container.get("volumeMounts") or ():
            volume = volumes.get(mount.get("name"))
            if volume is None:
                continue
            target = sandbox_path(self.root, mount.get("mountPath", "/"))
            if mount.get("subPath"):
                target = target.parent / ("." + target.name + ".subpath")
            files = self._volume_files(volume)
            if files is None:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.mkdir(parents=True, exist_ok=True)
            for rel, data, mode in files:
                path = sandbox_path(target, rel)
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_bytes(data)
                os.chmod(tmp, mode)
                tmp.replace(path)
            if mount.get("subPath"):
                final = sandbox_path(self.root, mount["mountPath"])
                final.parent.mkdir(parents=True, exist_ok=True)
                source = target / mount["subPath"]
                if source.exists():
                    shutil.copyfile(source, final)

    def _items(
        self, data: dict[str, bytes] | None, items: Any, mode: int
    ) -> list[tuple[str, bytes, int]]:
        if data is None:
            return []
        if items:
            return [
                (i.get("path", i.get("key")), data.get(i.get("key"), b""), int(i.get("mode", mode)))
                for i in items
                if i.get("key") in data
            ]
        return [(key, value, mode) for key, value in data.items()]

    def _volume_files(self, volume: dict[str, Any]) -> list[tuple[str, bytes, int]] | None:
        if "secret" in volume:
            src = volume["secret"]
            mode = int(src.get("defaultMode", 0o644))
            return self._items(
                self._secret(src.get("secretName", ""), bool(src.get("optional"))),
                src.get("items"),
                mode,
            )
        if "configMap" in volume:
            src = volume["configMap"]
            mode = int(src.get("defaultMode", 0o644))
            return self._items(
                self._config_map(src.get("name", ""), bool(src.get("optional"))),
                src.get("items"),
                mode,
            )
        if "downwardAPI" in volume:
            src = volume["downwardAPI"]
            return self._downward(src.get("items") or (), int(src.get("defaultMode", 0o644)))
        if "projected" in volume:
            src = volume["projected"]
            mode = int(src.get("defaultMode", 0o644))
            out: list[tuple[str, bytes, int]] = []
            for source in src.get("sources") or ():
                if "serviceAccountToken" in source:
                    out.append(
                        (
                            source["serviceAccountToken"].get("path", "token"),
                            self._token(source["serviceAccountToken"]).encode(),
                            0o600,
                        )
                    )
                elif "secret" in source:
                    s = source["secret"]
                    out += self._items(
                        self._secret(s.get("name", ""), bool(s.get("optional"))),
                        s.get("items"),
                        mode,
                    )
                elif "configMap" in source:
                    s = source["configMap"]
                    out += self._items(
                        self._config_map(s.get("name", ""), bool(s.get("optional"))),
                        s.get("items"),
                        mode,
                    )
                elif "downwardAPI" in source:
                    out += self._downward(source["downwardAPI"].get("items") or (), mode)
            return out
        return None  # emptyDir, hostPath and others: an empty directory

    def _downward(self, items: Any, mode: int) -> list[tuple[str, bytes, int]]:
        out = []
        for item in items:
            ref = item.get("fieldRef") or {}
            path = ref.get("fieldPath", "")
            if path in ("metadata.labels", "metadata.annotations"):
                values = self.pod["metadata"].get(path.split(".")[1]) or {}
                text = "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
            else:
                text = _field_ref(self.pod, path)
            out.append((item.get("path", ""), text.encode(), int(item.get("mode", mode))))
        return out

    def _token(self, source: dict[str, Any]) -> str:
        spec = self.pod.get("spec") or {}
        sa_name = spec.get("serviceAccountName") or "default"
        sa = self.cluster.find("serviceaccounts", self.namespace, sa_name)
        uid = sa["metadata"]["uid"] if sa else ""
        audience = source.get("audience")
        token, _ = self.tokens.issue(
            self.namespace,
            sa_name,
            uid,
            audiences=[audience] if audience else None,
            expiration_seconds=int(source.get("expirationSeconds", 3607)),
            bound={
                "kind": "Pod",
                "name": self.pod["metadata"]["name"],
                "uid": self.pod["metadata"]["uid"],
            },
        )
        return token

    def termination_message(self, container: dict[str, Any]) -> str:
        path = sandbox_path(self.root, container.get("terminationMessagePath") or TERMINATION_LOG)
        try:
            return path.read_bytes()[:MAX_MESSAGE].decode(errors="replace")
        except OSError:
            return ""

    def log_path(self, container_name: str) -> Path:
        return self.root / "logs" / f"{container_name}.log"


def expand_references(value: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` references to earlier variables."""
    if "$(" not in value:
        return value
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$(", i):
            out.append("$(")
            i += 3
        elif value.startswith("$(", i) and ")" in value[i:]:
            end = value.index(")", i)
            name = value[i + 2 : end]
            out.append(env.get(name, value[i : end + 1]))
            i = end + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def search_path() -> str:
    """PATH for local containers: the sandbox's own interpreter directory first (its venv)."""
    own = str(Path(sys.executable).parent)
    rest = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    return own + os.pathsep + rest


class LocalProcess:
    """One container's process, in its own session (process group) so all of it can be stopped."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], log_path: Path) -> None:
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def start(self) -> None:
        executable = shutil.which(self.argv[0], path=self.env.get("PATH"))
        if executable is None:
            raise FileNotFoundError(f'exec: "{self.argv[0]}": executable file not found in $PATH')
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                executable,
                *self.argv[1:],
                cwd=self.cwd,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )

    async def wait(self) -> int:
        assert self.process is not None
        code = await self.process.wait()
        self._kill_group(signal.SIGKILL)  # helpers the main process left behind
        return code

    def _kill_group(self, sig: signal.Signals) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    async def stop(self, grace: float) -> None:
        """SIGTERM the process group, then SIGKILL after ``grace`` seconds."""
        if self.process is None:
            return
        if self.process.returncode is None:
            self._kill_group(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=max(grace, 0.0))
            except TimeoutError:
                pass
        self._kill_group(signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            await self.process.wait()
        # Children re-parented away from the leader die asynchronously after SIGKILL.
        for _ in range(100):
            if not group_members(self.process.pid):
                break
            await asyncio.sleep(0.02)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, read from /proc."""
    members = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return members
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields: state, ppid, pgrp, ...
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


Callback = Callable[[], None]
