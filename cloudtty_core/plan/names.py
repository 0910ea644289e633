"""Names, labels and owner references of the objects the operator makes for a shell.

Everything the operator makes carries ``app.kubernetes.io/managed-by=cloudtty`` and, when it
belongs to a shell, ``cloudtty.io/shell=<name>`` (for people and Service selectors) and
``cloudtty.io/shell-uid=<uid>`` (how the planner finds what a shell made, in any namespace).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudtty_core.backends import dns_label, label_value
from cloudtty_core.model import API_VERSION, KIND

__all__ = [
    "FINALIZER",
    "LABEL_MANAGED_BY",
    "LABEL_POOL",
    "LABEL_ROLE",
    "LABEL_SHELL",
    "LABEL_SHELL_UID",
    "LABEL_STATE",
    "LABEL_WORKER",
    "MANAGED_BY",
    "ROLE_WORKER",
    "STATE_CLAIMED",
    "STATE_IDLE",
    "ShellIdentity",
    "access_secret_name",
    "kubeconfig_secret_name",
    "service_account_name",
    "service_name",
    "session_secret_name",
    "shell_worker_prefix",
    "worker_selector",
]

FINALIZER = "cloudshell.cloudtty.io/finalizer"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "cloudtty"
LABEL_SHELL = "cloudtty.io/shell"
LABEL_SHELL_UID = "cloudtty.io/shell-uid"
LABEL_ROLE = "cloudtty.io/role"
ROLE_WORKER = "worker"
LABEL_POOL = "cloudtty.io/pool"
LABEL_WORKER = "cloudtty.io/worker"
"""On every worker pod and session Secret: the worker's name (what a Service selects)."""
LABEL_STATE = "cloudtty.io/state"
"""On a warm worker's session Secret: ``idle`` until a shell claims it, then ``claimed``."""
STATE_IDLE = "idle"
STATE_CLAIMED = "claimed"


class ShellIdentity:
    """The parts of a shell's metadata the planner needs even when its spec is invalid."""

    def __init__(self, metadata: Mapping[str, Any]) -> None:
        self.name = str(metadata.get("name") or "")
        self.namespace = str(metadata.get("namespace") or "default")
        self.uid = str(metadata.get("uid") or "")
        self.resource_version = str(metadata.get("resourceVersion") or "")
        self.generation = int(metadata.get("generation") or 0)
        self.finalizers = tuple(str(f) for f in metadata.get("finalizers") or ())
        self.deleting = bool(metadata.get("deletionTimestamp"))

    def labels(self) -> dict[str, str]:
        """Labels of every object made for this shell."""
        return {
            LABEL_MANAGED_BY: MANAGED_BY,
            LABEL_SHELL: label_value(self.name),
            LABEL_SHELL_UID: self.uid,
        }

    def selector(self) -> dict[str, str]:
        """Selects what was made for this shell (whatever the namespace)."""
        return {LABEL_SHELL_UID: self.uid}

    def owner_reference(self) -> dict[str, Any]:
        """The shell as controller owner (only valid for objects in its namespace)."""
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def worker_selector(worker: str) -> dict[str, str]:
    """Selects the worker pod ``worker`` (a Service's selector). Pool workers keep the labels
    they were made with -- a claim writes their session Secret, never the pod -- so the pod is
    selected by its own name label."""
    return {LABEL_ROLE: ROLE_WORKER, LABEL_WORKER: worker}


def service_name(shell: str) -> str:
    """The shell's Service (as CloudTTY names it)."""
    return dns_label(f"cloudshell-{shell}")


def shell_worker_prefix(shell: str) -> str:
    """The first part of the name of a worker the shell makes itself (cold pods, warm workers
    made on demand); a random part follows, so a later shell of the same name never gets a
    name that served this one."""
    return dns_label(f"cloudshell-{shell}")


def session_secret_name(worker: str) -> str:
    """The Secret a warm worker waits for (worker contract)."""
    return f"{worker}-session"


def kubeconfig_secret_name(shell: str) -> str:
    """The Secret holding a generated kubeconfig."""
    return f"{dns_label(f'cloudshell-{shell}')}-kubeconfig"


def service_account_name(shell: str) -> str:
    """The per-shell ServiceAccount (and its RoleBinding) of shells without a kubeconfig."""
    return dns_label(f"cloudshell-{shell}")


def access_secret_name(shell: str) -> str:
    """The Secret holding the access token and full login URL."""
    return f"{dns_label(f'cloudshell-{shell}')}-access"
