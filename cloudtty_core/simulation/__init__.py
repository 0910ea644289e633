"""An in-memory stand-in for the API server and kubelet, driving the pure planner.

Pure like the rest of the core: no I/O. ``cloudtty render`` uses it to show what the operator
would create, the test kit builds on it, and an embedding controller can use it to preview a
shell's objects without a cluster.
"""

from cloudtty_core.simulation.api import (
    AlreadyExists,
    ApiError,
    Conflict,
    NotFound,
    apply_plan,
)
from cloudtty_core.simulation.converge import NOW, Converged, NotConverging, converge, shell_ref
from cloudtty_core.simulation.kubelet import end_pod, fail_pod, start_pods

__all__ = [
    "NOW",
    "AlreadyExists",
    "ApiError",
    "Conflict",
    "Converged",
    "NotConverging",
    "NotFound",
    "apply_plan",
    "converge",
    "end_pod",
    "fail_pod",
    "shell_ref",
    "start_pods",
]
