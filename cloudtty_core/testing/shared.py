"""The conformance suite of shared routes: one route object (a shared Ingress, a shared Istio
VirtualService, ...) that several shells add their entries to and remove them from.

Subclass :class:`SharedRouteTests`, make ``shell_spec`` point the shells at one shared object,
and tell the suite which shells the object routes now (``route_shells``)::

    class TestSharedIngress(SharedRouteTests):
        @pytest.fixture
        def backend(self):
            return IngressBackend()

        def shell_spec(self, backend, name):
            return {**super().shell_spec(backend, name), "ingressConfig": {"ingressName": "shells"}}

        def route_shells(self, snapshot):
            ...  # one shell name per entry found in the shared Ingress

Besides the whole exposure suite (with schema checks), a hypothesis test adds and deletes
shells in an order it chooses -- sometimes planning several shells against the same observed
state and applying their plans in any order, as concurrent reconciles would, where a stale
write fails with 409 and is planned again -- and checks that the shared object ends with
exactly one entry per live shell, and that entries the shells do not own are kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtty_core.backends import ExposureBackend, ObjectRef, Snapshot
from cloudtty_core.model import API_VERSION, KIND, Manifest
from cloudtty_core.plan import ClusterPoolView, Plan, PlanContext, plan
from cloudtty_core.simulation.api import ApiError, apply_plan
from cloudtty_core.simulation.converge import NOW, converge
from cloudtty_core.simulation.kubelet import start_pods
from cloudtty_core.testing.schema import SchemaCheckedExposureTests

__all__ = ["SharedRouteTests"]


def _steps(shells: int) -> st.SearchStrategy[tuple[str, Any]]:
    index = st.integers(0, shells - 1)
    return st.one_of(
        st.tuples(st.just("add"), index),
        st.tuples(st.just("add"), index),  # twice: more shells alive at once
        st.tuples(st.just("delete"), index),
        st.tuples(st.just("settle"), st.none()),
        # Plan every shell against one observed state, apply in the order given.
        st.tuples(st.just("race"), st.permutations(range(shells))),
    )


class SharedRouteTests(SchemaCheckedExposureTests):
    """Shared-route conformance. Subclasses provide ``backend``, a ``shell_spec`` that makes
    every shell use the same shared object, and :meth:`route_shells`."""

    shared_pool: tuple[str, ...] = ("s0", "s1", "s2", "s3")
    """Names the hypothesis test draws shells from."""
    shared_examples: int = 25
    """How many orders hypothesis tries."""

    def route_shells(self, snapshot: Snapshot) -> Sequence[str]:
        """The shell names the shared object routes now, one per entry (a shell listed twice
        has two entries). Subclasses must implement it."""
        raise NotImplementedError("subclasses of SharedRouteTests implement route_shells")

    def foreign_routes(self, snapshot: Snapshot) -> Sequence[Any]:
        """Entries of the shared object that belong to no shell (an administrator's routes);
        they must survive every shell coming and going. Override when ``cluster`` has some."""
        return ()

    # Helpers ---------------------------------------------------------------------------------

    def _existing(self, snapshot: Snapshot) -> list[str]:
        return [
            name
            for name in self.shared_pool
            if snapshot.get(API_VERSION, KIND, self.namespace, name) is not None
        ]

    def _live(self, snapshot: Snapshot) -> list[str]:
        """Shells that exist and are not being deleted."""
        live = []
        for name in self._existing(snapshot):
            shell = snapshot.get(API_VERSION, KIND, self.namespace, name) or {}
            if not (shell.get("metadata") or {}).get("deletionTimestamp"):
                live.append(name)
        return live

    def _settle(self, snapshot: Snapshot, context: PlanContext) -> Snapshot:
        return converge(snapshot, self.refs(*self.shared_pool), context, max_rounds=12).snapshot

    def _race(self, snapshot: Snapshot, order: Sequence[int], context: PlanContext) -> Snapshot:
        snapshot = start_pods(snapshot)
        plans: dict[str, Plan] = {}
        for name in self._existing(snapshot):
            raw = snapshot.get(API_VERSION, KIND, self.namespace, name)
            plans[name] = plan(raw or {}, snapshot, ClusterPoolView(snapshot), NOW, context)
        for i in order:
            name = self.shared_pool[i]
            if name not in plans or plans[name].is_empty:
                continue
            ref = ObjectRef(API_VERSION, KIND, self.namespace, name)
            try:
                snapshot = apply_plan(snapshot, plans[name], shell=ref, now=NOW)
            except ApiError:
                continue  # stale: the runtime plans this shell again from fresh observations
        return snapshot

    # The contract ----------------------------------------------------------------------------

    def test_shared_route_holds_exactly_the_live_shells(
        self, backend: ExposureBackend, cluster: Snapshot, context: PlanContext
    ) -> None:
        """Whatever the order of additions, deletions and concurrent plans, once planning
        settles the shared object has one entry per live shell and keeps foreign entries."""
        base = self.with_shells(cluster, backend)
        foreign = list(self.foreign_routes(base))
        pool = range(len(self.shared_pool))

        @settings(
            max_examples=self.shared_examples,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            database=None,
        )
        @given(
            st.lists(st.sampled_from(pool), min_size=1, unique=True),
            st.permutations(pool),
            st.lists(_steps(len(self.shared_pool)), max_size=12),
        )
        def run(first: list[int], order: list[int], steps: list[tuple[str, Any]]) -> None:
            # Several shells appear at once and race for the shared object first.
            opening: list[tuple[str, Any]] = [("add", i) for i in first] + [("race", order)]
            snapshot = base
            for action, arg in [*opening, *steps]:
                if action == "add":
                    name = self.shared_pool[arg]
                    if name not in self._existing(snapshot):
                        shell: Manifest = {
                            "apiVersion": API_VERSION,
                            "kind": KIND,
                            "metadata": {"name": name, "namespace": self.namespace},
                            "spec": self.shell_spec(backend, name),
                        }
                        snapshot = apply_plan(snapshot, Plan(creates=(shell,)), now=NOW)
                elif action == "delete":
                    name = self.shared_pool[arg]
                    if name in self._existing(snapshot):
                        ref = ObjectRef(API_VERSION, KIND, self.namespace, name)
                        snapshot = apply_plan(snapshot, Plan(deletes=(ref,)), now=NOW)
                elif action == "race":
                    snapshot = self._race(snapshot, arg, context)
                else:
                    snapshot = self._settle(snapshot, context)
                    self._check(snapshot)
                assert Counter(self.foreign_routes(snapshot)) == Counter(foreign)
            snapshot = self._settle(snapshot, context)
            self._check(snapshot)
            assert Counter(self.foreign_routes(snapshot)) == Counter(foreign)

        run()

    def _check(self, snapshot: Snapshot) -> None:
        routed = Counter(self.route_shells(snapshot))
        live = Counter(self._live(snapshot))
        assert routed == live, f"shared route holds {dict(routed)}, live shells {dict(live)}"
        for name in self._live(snapshot):
            status = (snapshot.get(API_VERSION, KIND, self.namespace, name) or {}).get("status")
            assert (status or {}).get("phase") == "Ready", (name, status)
