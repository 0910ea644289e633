"""Planning a shell whose deletion was requested (``metadata.deletionTimestamp``).

One plan does it all, in the runtime's order: shared routes are given back (updates), what the
shell made is deleted, and last -- only when both succeeded -- the finalizer is removed.
"""

from __future__ import annotations

from cloudtty_core.backends import ClusterView, ObjectRef
from cloudtty_core.model import API_VERSION, KIND, CloudShell

from .names import FINALIZER, ShellIdentity
from .teardown import teardown
from .types import EventSpec, Patch, Plan, PlanContext

__all__ = ["plan_deletion"]


def plan_deletion(
    shell: CloudShell | None, ident: ShellIdentity, cluster: ClusterView, context: PlanContext
) -> Plan:
    """Release, delete, then drop the finalizer; nothing when the finalizer is gone already
    (garbage collection takes the owned objects)."""
    if FINALIZER not in ident.finalizers:
        return Plan()
    updates, deletes, warning = teardown(shell, ident, cluster, context.registry, context.settings)
    remaining = [f for f in ident.finalizers if f != FINALIZER]
    patch = Patch(
        ObjectRef(API_VERSION, KIND, ident.namespace, ident.name),
        {"metadata": {"finalizers": remaining, "resourceVersion": ident.resource_version}},
    )
    events = (EventSpec("Warning", "ReleaseFailed", warning),) if warning else ()
    return Plan(updates=updates, deletes=deletes, events=events, final_patches=(patch,))
