"""The planner's cheaper paths give what the straightforward computations give.

Each shortcut (a table computed once, exact-type fast paths, a status built from a draft,
objects built only while compared) is held here to a plain reference computation, and the
planner is checked not to change the cached objects it reads without copying.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import attrs
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cloudtty_core import (
    CloudShell,
    CloudShellStatus,
    Condition,
    Event,
    IllegalTransition,
    ObjectMeta,
    Phase,
    PlanContext,
    PoolKey,
    Snapshot,
    allowed_events,
    plan,
    plan_pool,
    transition,
)
from cloudtty_core.backends import ObjectRef, OperatorSettings, copy_json
from cloudtty_core.model import json_fields, json_name
from cloudtty_core.plan.identity import owned_by, session_binding, session_role
from cloudtty_core.plan.objects import contains, merge
from cloudtty_core.plan.pool import ClusterPoolView, claimable_worker
from cloudtty_core.plan.status import CONDITION_ORDER, READY, StatusBuilder
from cloudtty_core.plan.types import NO_HOOKS
from cloudtty_core.testing import (
    NOW,
    FakeImageBackend,
    apply_plan,
    cloudshell,
    create,
    fake_registry,
    fill_pool,
    kubeconfig_secret,
)

# ------------------------------------------------------------------------------ the phase table


def test_allowed_events_are_the_events_transition_accepts() -> None:
    for phase in (None, *Phase):
        accepted = set()
        for event in Event:
            try:
                transition(phase, event)
            except IllegalTransition:
                continue
            accepted.add(event)
        assert allowed_events(phase) == accepted


def test_json_fields_read_the_same_table_every_time() -> None:
    for cls in (CloudShell, ObjectMeta, CloudShellStatus, Condition):
        fresh = {json_name(f): f for f in attrs.fields(cls)}
        assert dict(json_fields(cls)) == fresh
        assert list(json_fields(cls)) == list(fresh)  # declaration order


# ------------------------------------------------------------------------------ JSON helpers

_keys = st.sampled_from(["a", "b", "c", "metadata", "labels", "spec"])
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "x", "y"]), st.just(1.5)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(_keys, inner, max_size=4),
    ),
    max_leaves=12,
)


def reference_contains(observed: Any, wanted: Any) -> bool:
    """contains() as first written: one call per value, ABC checks first."""
    if observed is wanted:
        return True
    if isinstance(wanted, Mapping):
        if not isinstance(observed, Mapping):
            return False
        return all(k in observed and reference_contains(observed[k], v) for k, v in wanted.items())
    if isinstance(wanted, list | tuple):
        return (
            isinstance(observed, list | tuple)
            and len(observed) == len(wanted)
            and all(reference_contains(o, w) for o, w in zip(observed, wanted, strict=True))
        )
    return bool(observed == wanted)


def reference_merge(observed: Any, wanted: Any) -> Any:
    """merge() as first written: the whole observed object copied at every level."""
    if isinstance(wanted, Mapping) and isinstance(observed, Mapping):
        out = dict(copy.deepcopy(observed))
        for key, value in wanted.items():
            out[key] = reference_merge(observed.get(key), value)
        return out
    same_length = isinstance(wanted, list | tuple) and isinstance(observed, list | tuple)
    if same_length and len(wanted) == len(observed):
        return [reference_merge(o, w) for o, w in zip(observed, wanted, strict=True)]
    return copy.deepcopy(wanted)


def ordered(value: Any) -> Any:
    """``value`` with every dict as its list of items: equal only with the same key order."""
    if isinstance(value, dict):
        return [(k, ordered(v)) for k, v in value.items()]
    if isinstance(value, list | tuple):
        return type(value)(ordered(v) for v in value)
    return value


def containers(value: Any) -> list[int]:
    """The ids of every dict and list inside ``value`` (tuples are looked into)."""
    if isinstance(value, dict):
        return [id(value), *(i for v in value.values() for i in containers(v))]
    if isinstance(value, list | tuple):
        own = [id(value)] if isinstance(value, list) else []
        return [*own, *(i for v in value for i in containers(v))]
    return []


@settings(max_examples=300, deadline=None)
@given(_json, _json)
def test_contains_agrees_with_the_plain_recursion(observed: Any, wanted: Any) -> None:
    assert contains(observed, wanted) == reference_contains(observed, wanted)
    assert contains(observed, observed)


@settings(max_examples=300, deadline=None)
@given(_json, _json)
def test_merge_agrees_with_the_plain_recursion_key_order_included(
    observed: Any, wanted: Any
) -> None:
    before = copy.deepcopy((observed, wanted))
    merged = merge(observed, wanted)
    assert ordered(merged) == ordered(reference_merge(observed, wanted))
    assert (observed, wanted) == before  # neither input is changed
    shared = set(containers(merged)) & set(containers(observed) + containers(wanted))
    assert not shared  # and the result can be changed without touching them


@settings(max_examples=200, deadline=None)
@given(_json)
def test_copy_json_is_a_deep_copy(value: Any) -> None:
    copied = copy_json(value)
    assert ordered(copied) == ordered(copy.deepcopy(value))
    assert not set(containers(copied)) & set(containers(value))


def test_grants_built_with_their_owner_are_the_owned_grants() -> None:
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "w", "namespace": "ns", "uid": "u-1"},
    }
    labels = {"cloudtty.io/pool": "p"}
    for build in (session_role, session_binding):
        with_owner = build("w", "ns", labels, owner=account)
        assert ordered(with_owner) == ordered(owned_by(build("w", "ns", labels), account))


# ------------------------------------------------------------------------------ the status draft

_TYPES = (*CONDITION_ORDER[:-1], "Custom")
_REASONS = ("Found", "Missing", "Ready")
_steps = st.sampled_from(list(Event))
_operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("condition"),
            st.sampled_from(_TYPES),
            st.booleans(),
            st.sampled_from(_REASONS),
            st.sampled_from(["", "m1", "m2"]),
        ),
        st.tuples(st.just("step"), _steps, st.sampled_from([None, "http://u/"])),
        st.tuples(st.just("url"), st.sampled_from([None, "http://v/"])),
        st.tuples(st.just("update"), st.sampled_from([None, "w1", "w2"])),
    ),
    max_size=12,
)
_conditions = st.lists(
    st.builds(
        Condition,
        type=st.sampled_from((*_TYPES, READY)),
        status=st.sampled_from(["True", "False"]),
        reason=st.sampled_from(_REASONS),
        message=st.sampled_from(["", "m1"]),
        last_transition_time=st.sampled_from([None, NOW - timedelta(hours=1)]),
        observed_generation=st.sampled_from([None, 1, 2]),
    ),
    max_size=7,  # duplicates of a type included: an unvalidated status may carry them
).map(tuple)
_statuses = st.builds(
    CloudShellStatus,
    phase=st.sampled_from([None, *Phase]),
    access_url=st.sampled_from([None, "http://old/"]),
    worker=st.sampled_from([None, "w1"]),
    observed_generation=st.sampled_from([None, 1, 2]),
    conditions=_conditions,
)


def reference_result(
    old: CloudShellStatus, generation: int, operations: list[tuple[Any, ...]]
) -> CloudShellStatus | None:
    """The status the builder made when it evolved a frozen status at every change."""
    status = attrs.evolve(old, observed_generation=generation)

    def set_condition(type_: str, ok: bool, reason: str, message: str) -> None:
        nonlocal status
        condition = Condition(
            type=type_,
            status="True" if ok else "False",
            reason=reason,
            message=message,
            last_transition_time=NOW,
            observed_generation=generation,
        )
        status = status.with_condition(condition)

    for operation in operations:
        if operation[0] == "condition":
            set_condition(*operation[1:])
        elif operation[0] == "step":
            if operation[1] not in allowed_events(status.phase):
                continue
            try:
                status = status.after(operation[1], access_url=operation[2])
            except IllegalTransition:
                continue
        elif operation[0] == "url":
            if status.phase is Phase.READY and operation[1]:
                status = attrs.evolve(status, access_url=operation[1])
        else:
            status = attrs.evolve(status, worker=operation[1])
    ready = status.phase is Phase.READY
    waiting = [c for c in status.conditions if c.type != READY and c.status == "False"]
    message = (
        f"the terminal is served at {status.access_url}"
        if ready
        else (waiting[0].message if waiting else "")
    )
    set_condition(READY, ready, "Ready" if ready else str(status.phase or Phase.PENDING), message)
    rank = {t: i for i, t in enumerate(CONDITION_ORDER)}
    final = attrs.evolve(
        status,
        conditions=tuple(sorted(status.conditions, key=lambda c: (rank.get(c.type, 99), c.type))),
    )
    return None if final == old else final


_TWICE_ACCEPTED = CloudShellStatus(
    conditions=(
        Condition("Accepted", "True", "Found", "", NOW - timedelta(hours=1), 1),
        Condition("Accepted", "True", "Found", "", None, 1),
    )
)


@settings(max_examples=400, deadline=None)
@given(_statuses, st.sampled_from([1, 2]), _operations)
@example(_TWICE_ACCEPTED, 1, [("condition", "Accepted", True, "Found", "")])
def test_the_status_draft_builds_what_evolving_the_status_built(
    old: CloudShellStatus, generation: int, operations: list[tuple[Any, ...]]
) -> None:
    shell = CloudShell(metadata=ObjectMeta(name="s"), status=old)
    builder = StatusBuilder(shell, generation, NOW, NO_HOOKS)
    for operation in operations:
        if operation[0] == "condition":
            builder.condition(*operation[1:])
        elif operation[0] == "step":
            if not builder.can(operation[1]):
                continue
            try:
                builder.step(operation[1], "why", url=operation[2])
            except IllegalTransition:
                continue
        elif operation[0] == "url":
            builder.set_url(operation[1])
        else:
            builder.update(worker=operation[1])
    assert builder.result() == reference_result(old, generation, operations)


# ------------------------------------------------------------------------------ cached objects


class SharedView:
    """A cluster view that hands out its stored objects themselves, as the runtime's caches
    do (a Snapshot hands out copies, which would hide a planner writing into them)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.objects = snapshot.objects
        self.snapshot = snapshot

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Any:
        return self.objects.get(ObjectRef(api_version, kind, namespace or None, name))

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: Mapping[str, str] | None = None,
    ) -> list[Any]:
        found = self.snapshot.list(api_version, kind, namespace, label_selector)
        return [self.objects[ObjectRef.of(copied)] for copied in found]

    def has_api(self, api_version: str, kind: str) -> bool:
        return self.snapshot.has_api(api_version, kind)


class FirstIdle:
    """The pool view of the runtime: idle workers straight from the shared objects."""

    def __init__(self, view: SharedView) -> None:
        self.view = view

    def idle_workers(self, key: PoolKey) -> list[Any]:
        sessions = self.view.list("v1", "Secret", key.namespace, {"cloudtty.io/state": "idle"})
        found = (claimable_worker(s, key, self.view) for s in sessions)
        return [pod for pod in found if pod is not None]


def test_planning_leaves_the_objects_it_reads_as_they_were() -> None:
    image = FakeImageBackend()
    key = PoolKey("default", image.name, image.default_image)
    registry = fake_registry()
    settings = OperatorSettings(min_idle=3)
    counter = itertools.count()
    snapshot = fill_pool(
        create(Snapshot.with_default_node(), kubeconfig_secret("kubeconfig", "default")),
        key,
        settings,
        registry,
        name_source=lambda: f"n{next(counter)}",
    )
    context = PlanContext(registry=registry, settings=settings)
    spec = {"exposureMode": "Fake", "imageBackend": "fake", "secretRef": {"name": "kubeconfig"}}
    snapshot = create(snapshot, cloudshell("one", **spec), cloudshell("two", **spec))
    ref_one = ObjectRef("cloudshell.cloudtty.io/v1alpha1", "CloudShell", "default", "one")
    view = SharedView(snapshot)
    first = plan(view.get(*attrs.astuple(ref_one)), view, FirstIdle(view), NOW, context)
    assert first.updates  # the claim
    ready = apply_plan(snapshot, first, shell=ref_one, now=NOW)

    for current in (snapshot, ready):
        shared = SharedView(current)
        before = copy.deepcopy(dict(current.objects))
        for name in ("one", "two"):
            raw = shared.get("cloudshell.cloudtty.io/v1alpha1", "CloudShell", "default", name)
            plan(raw, shared, FirstIdle(shared), NOW, context)
        plan_pool(
            key, shared, ClusterPoolView(shared), settings, registry, lambda: f"m{next(counter)}"
        )
        assert dict(current.objects) == before
