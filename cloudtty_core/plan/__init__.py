"""The planner: pure functions from what is observed to what must be written.

``plan(shell, cluster, pool, now, context)`` plans one CloudShell; ``plan_pool(key, ...)``
keeps the warm pool of one (namespace, image backend, image) filled. Both return a
:class:`Plan`; the runtime applies it (see :class:`Plan` for the order) and plans again when
something changes.
"""

from .deletion import plan_deletion
from .lifecycle import plan
from .names import (
    FINALIZER,
    LABEL_MANAGED_BY,
    LABEL_POOL,
    LABEL_ROLE,
    LABEL_SHELL,
    LABEL_SHELL_UID,
    LABEL_STATE,
    MANAGED_BY,
    ROLE_WORKER,
    STATE_CLAIMED,
    STATE_IDLE,
)
from .pool import ClusterPoolView, plan_pool, pool_labels
from .status import (
    ACCEPTED,
    AUTH_READY,
    KUBECONFIG_READY,
    READY,
    ROUTE_READY,
    WORKER_READY,
)
from .types import (
    NO_HOOKS,
    EventSpec,
    KubeconfigIssue,
    NoHooks,
    Patch,
    Plan,
    PlanContext,
    PlanHooks,
    PoolView,
    random_token,
)

__all__ = [
    "ACCEPTED",
    "AUTH_READY",
    "FINALIZER",
    "KUBECONFIG_READY",
    "LABEL_MANAGED_BY",
    "LABEL_POOL",
    "LABEL_ROLE",
    "LABEL_SHELL",
    "LABEL_SHELL_UID",
    "LABEL_STATE",
    "MANAGED_BY",
    "NO_HOOKS",
    "READY",
    "ROLE_WORKER",
    "ROUTE_READY",
    "STATE_CLAIMED",
    "STATE_IDLE",
    "WORKER_READY",
    "ClusterPoolView",
    "EventSpec",
    "KubeconfigIssue",
    "NoHooks",
    "Patch",
    "Plan",
    "PlanContext",
    "PlanHooks",
    "PoolView",
    "plan",
    "plan_deletion",
    "plan_pool",
    "pool_labels",
    "random_token",
]
