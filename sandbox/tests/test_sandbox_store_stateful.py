"""Stateful property test of the object store and watch cache: whatever sequence of creates,
updates, deletes, finalizer removals and compactions happens, replaying the watch from any
retained resourceVersion reproduces the listed state, and resourceVersions only grow."""

from __future__ import annotations

import asyncio

import pytest
from cloudtty_sandbox.builtin_kinds import register_builtins
from cloudtty_sandbox.cluster import Cluster, DeleteOptions, clone
from cloudtty_sandbox.errors import ApiError
from cloudtty_sandbox.resources import Registry
from cloudtty_sandbox.store import Store
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

NAMES = st.sampled_from(["a", "b", "c", "d"])


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()  # watchers use futures bound to a loop
        asyncio.set_event_loop(self.loop)
        registry = Registry()
        register_builtins(registry)
        self.store = Store(watch_window=8)
        self.cluster = Cluster(registry, self.store)
        self.rtype = registry.lookup("", "v1", "configmaps")
        ns_type = registry.lookup("", "v1", "namespaces")
        self.cluster.create(ns_type, None, {"metadata": {"name": "default"}})
        self.start_rv = self.store.rv
        self.last_rv = self.store.rv
        self.checkpoints: list[int] = [self.store.rv]
        self.log: list = []
        self.store.listen("configmaps", lambda storage, event: self.log.append(event))

    def teardown(self) -> None:
        self.loop.close()
        asyncio.set_event_loop(None)

    def _current(self) -> dict[str, dict]:
        return {o["metadata"]["name"]: o for o in self.store.items("configmaps", "default")}

    @rule(name=NAMES, value=st.integers(0, 3), held=st.booleans())
    def create(self, name: str, value: int, held: bool) -> None:
        meta = {"name": name, **({"finalizers": ["x.io/hold"]} if held else {})}
        body = {"metadata": meta, "data": {"v": str(value)}}
        if name in self._current():
            with pytest.raises(ApiError) as err:
                self.cluster.create(self.rtype, "default", body)
            assert err.value.code == 409
        else:
            self.cluster.create(self.rtype, "default", body)

    @rule(name=NAMES, value=st.integers(0, 3))
    def update(self, name: str, value: int) -> None:
        current = self._current().get(name)
        if current is None:
            return
        changed = clone(current)
        changed["data"] = {"v": str(value)}
        self.cluster.update(self.rtype, "default", name, changed)

    @rule(name=NAMES)
    def stale_update_conflicts(self, name: str) -> None:
        current = self._current().get(name)
        if current is None:
            return
        stale = clone(current)
        stale["metadata"]["resourceVersion"] = "1"
        stale["data"] = {"v": "stale"}
        with pytest.raises(ApiError) as err:
            self.cluster.update(self.rtype, "default", name, stale)
        assert err.value.code == 409

    @rule(name=NAMES)
    def delete(self, name: str) -> None:
        if name not in self._current():
            with pytest.raises(ApiError) as err:
                self.cluster.delete(self.rtype, "default", name, DeleteOptions())
            assert err.value.code == 404
        else:
            self.cluster.delete(self.rtype, "default", name, DeleteOptions())

    @rule(name=NAMES)
    def release_finalizers(self, name: str) -> None:
        current = self._current().get(name)
        if current is None or not current["metadata"].get("finalizers"):
            return
        changed = clone(current)
        changed["metadata"]["finalizers"] = []
        self.cluster.update(self.rtype, "default", name, changed)
        if current["metadata"].get("deletionTimestamp"):
            assert name not in self._current()

    @rule()
    def checkpoint(self) -> None:
        self.checkpoints.append(self.store.rv)

    @precondition(lambda self: len(self.checkpoints) > 0)
    @rule()
    def compact(self) -> None:
        self.store.compact()
        self.checkpoints = [self.store.rv]

    @invariant()
    def versions_grow(self) -> None:
        assert self.store.rv >= self.last_rv
        self.last_rv = self.store.rv
        for obj in self._current().values():
            assert int(obj["metadata"]["resourceVersion"]) <= self.store.rv

    @invariant()
    def full_log_reproduces_the_state(self) -> None:
        state: dict[str, dict] = {}
        rvs = [e.rv for e in self.log]
        assert rvs == sorted(rvs)
        assert len(set(rvs)) == len(rvs)
        for event in self.log:
            name = event.obj["metadata"]["name"]
            if event.type == "ADDED":
                assert name not in state
                state[name] = event.obj
            elif event.type == "MODIFIED":
                assert state[name] is event.prev  # each change starts from the last state
                state[name] = event.obj
            else:
                assert state.pop(name) is event.prev
        assert state == self._current()

    @invariant()
    def resume_returns_exactly_the_later_events(self) -> None:
        cache = self.store.cache("configmaps")
        for rv in self.checkpoints:
            if rv < cache.floor:
                with pytest.raises(ApiError) as err:
                    cache.since(rv)
                assert err.value.code == 410
                continue
            assert cache.since(rv) == [e for e in self.log if e.rv > rv]


StoreMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_store_and_watch_cache = StoreMachine.TestCase
