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
    LABEL_WORKER,
    MANAGED_BY,
    ROLE_WORKER,
    STATE_CLAIMED,
    STATE_IDLE,
    session_secret_name,
)
from .pool import (
    ClusterPoolView,
    claimable_worker,
    idle_pods,
    plan_pool,
    pool_labels,
    session_state,
)
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
from .worker import claimed_worker

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
    "LABEL_WORKER",
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
    "claimable_worker",
    "claimed_worker",
    "idle_pods",
    "plan",
    "plan_deletion",
    "plan_pool",
    "pool_labels",
    "random_token",
    "session_secret_name",
    "session_state",
]
