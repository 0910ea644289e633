"""Driving the planner against a snapshot the way the runtime would, until nothing changes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import attrs

from cloudtty_core.backends import ObjectRef, OperatorSettings, PoolKey, Snapshot
from cloudtty_core.model import API_VERSION, KIND, Manifest
from cloudtty_core.plan import ClusterPoolView, Plan, PlanContext, plan, plan_pool
from cloudtty_core.plan.identity import random_name_suffix
from cloudtty_core.registry import BackendRegistry
from cloudtty_core.simulation.api import apply_plan
from cloudtty_core.simulation.kubelet import start_pods

__all__ = ["NOW", "Converged", "NotConverging", "converge", "fill_pool", "shell_ref"]

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
"""A fixed 'now' for tests that do not care about time."""


class NotConverging(AssertionError):
    """Planning kept writing after the allowed number of rounds."""


@attrs.frozen
class Converged:
    """The cluster once planning stopped writing, and every plan that was applied."""

    snapshot: Snapshot
    plans: tuple[Plan, ...]

    def shell(self, ref: ObjectRef) -> Manifest | None:
        """The CloudShell as it ended up (None when it was deleted)."""
        return self.snapshot.get(ref.api_version, ref.kind, ref.namespace, ref.name)


def shell_ref(namespace: str, name: str) -> ObjectRef:
    """The reference of a CloudShell."""
    return ObjectRef(API_VERSION, KIND, namespace, name)


def converge(
    snapshot: Snapshot,
    shells: Iterable[ObjectRef],
    context: PlanContext,
    *,
    now: datetime = NOW,
    pools: Iterable[PoolKey] = (),
    kubelet: bool = True,
    max_rounds: int = 8,
) -> Converged:
    """Plan and apply for every shell (and pool key) until a whole round writes nothing.

    With ``kubelet`` every pod becomes Running and Ready between rounds. Raises
    :class:`NotConverging` when ``max_rounds`` were not enough.
    """
    refs = list(shells)
    keys = list(pools)
    applied: list[Plan] = []
    for _ in range(max_rounds):
        wrote = False
        for key in keys:
            pool_plan = plan_pool(
                key,
                snapshot,
                ClusterPoolView(snapshot),
                context.settings,
                context.registry,
                context.name_source,
            )
            if not pool_plan.is_empty:
                snapshot = apply_plan(snapshot, pool_plan, now=now)
                applied.append(pool_plan)
                wrote = True
        if kubelet:
            started = start_pods(snapshot)
            wrote = wrote or started != snapshot
            snapshot = started
        for ref in refs:
            raw = snapshot.get(ref.api_version, ref.kind, ref.namespace, ref.name)
            if raw is None:
                continue
            result = plan(raw, snapshot, ClusterPoolView(snapshot), now, context)
            if result.is_empty:
                continue
            snapshot = apply_plan(snapshot, result, shell=ref, now=now)
            applied.append(result)
            wrote = True
        if not wrote:
            return Converged(snapshot, tuple(applied))
    raise NotConverging(f"still writing after {max_rounds} rounds: {applied[-1]!r}")


def fill_pool(
    snapshot: Snapshot,
    key: PoolKey,
    settings: OperatorSettings,
    registry: BackendRegistry,
    *,
    name_source: Callable[[], str] = random_name_suffix,
    now: datetime = NOW,
    kubelet: bool = True,
    max_rounds: int = 8,
) -> Snapshot:
    """Plan and apply the pool of ``key`` until it writes nothing (a worker takes a few
    passes: its ServiceAccount, its idle session Secret, its pod, Role and RoleBinding); with
    ``kubelet`` the pods are then Running and Ready."""
    for _ in range(max_rounds):
        result = plan_pool(
            key, snapshot, ClusterPoolView(snapshot), settings, registry, name_source
        )
        if result.is_empty:
            return start_pods(snapshot) if kubelet else snapshot
        snapshot = apply_plan(snapshot, result, now=now)
    raise NotConverging(f"the pool {key} still writes after {max_rounds} rounds")
