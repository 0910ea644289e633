"""cloudtty-sandbox: a Kubernetes API emulator and simulated kubelet.

Start one with ``async with Sandbox(...) as sb`` or ``with run_sandbox_in_thread(...) as sb``;
both give ``sb.url`` and ``sb.kubeconfig_path`` for kubectl and the official client.
"""

from .auth import StaticUser
from .config import WEBTERM_IMAGE, SandboxConfig
from .faults import ErrorRule, FaultConfig
from .sandbox import Sandbox
from .threaded import ThreadedSandbox, run_sandbox_in_thread

__all__ = [
    "WEBTERM_IMAGE",
    "ErrorRule",
    "FaultConfig",
    "Sandbox",
    "SandboxConfig",
    "StaticUser",
    "ThreadedSandbox",
    "run_sandbox_in_thread",
]
