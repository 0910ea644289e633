"""Claimed warm workers in the runtime's caches: the caches let go of a worker's decoded objects
once it is claimed, and the pool pass over the caches reads only the pool's own workers --
planning what it plans over the whole cluster. (The index of claimed workers itself is tested
with the other session index, in test_runtime_idle_sessions.py.)"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from cloudtty_core import OperatorSettings, PlanContext, PoolKey, Snapshot
from cloudtty_core.backends import copy_json
from cloudtty_core.plan import ClusterPoolView, plan_pool
from cloudtty_core.plan.identity import WORKER_KINDS
from cloudtty_core.plan.names import (
    LABEL_POOL,
    LABEL_SHELL,
    LABEL_SHELL_UID,
    LABEL_STATE,
    STATE_CLAIMED,
)
from cloudtty_core.runtime import controller as controller_module
from cloudtty_core.runtime.client import Resource
from cloudtty_core.runtime.controller import Controller, ShellKey
from cloudtty_core.runtime.informer import Informer, Informers
from cloudtty_core.runtime.queue import WorkQueue
from cloudtty_core.runtime.view import ClaimedWorkers
from cloudtty_core.testing import FakeImageBackend, fake_registry, fill_pool

# ------------------------------------------------------------ caches over a simulated pool
IMAGE = FakeImageBackend()
KEY = PoolKey("team-a", IMAGE.name, IMAGE.default_image)
REGISTRY = fake_registry(image=IMAGE)
KINDS = [("v1", "Pod"), ("v1", "Secret"), *WORKER_KINDS]


def filled_pool(workers: int) -> Snapshot:
    counter = iter(range(1, 1000))
    return fill_pool(
        Snapshot(),
        KEY,
        OperatorSettings(min_idle=workers),
        REGISTRY,
        name_source=lambda: f"n{next(counter)}",
    )


class Caches:
    """Informers of the worker kinds, fed from a snapshot, wired to a controller as the
    operator wires them: the claimed index decides what stays decoded, and the controller has
    a claimed worker's objects encoded (:meth:`Controller.settle_claimed_workers`)."""

    def __init__(self) -> None:
        self.claimed = ClaimedWorkers()
        self.informers = Informers(None, None, keep_decoded=self.claimed.keeps_decoded)  # type: ignore[arg-type]
        self.by_kind: dict[tuple[str, str], Informer] = {}
        for api_version, kind in KINDS:
            informer = Informer(
                Resource(api_version, kind, kind.lower() + "s"),
                None,  # type: ignore[arg-type]
                None,  # type: ignore[arg-type]
                index_labels=(LABEL_SHELL_UID, LABEL_POOL, LABEL_SHELL, LABEL_STATE),
                keep_decoded=self.claimed.keeps_decoded,
            )
            self.by_kind[(api_version, kind)] = informer
            self.informers._active[(api_version, kind)] = informer
        self.queue: WorkQueue[Any] = WorkQueue()
        self.controller = Controller(
            self.informers,
            None,  # type: ignore[arg-type]  # nothing is applied here
            PlanContext(REGISTRY),
            self.queue,
            claimed=self.claimed,
        )
        self.controller.connect([])
        self.view = self.controller.view
        self.pool = self.controller.pool_view

    async def settled(self, kinds: list[tuple[str, str]], name: str) -> None:
        """Wait (a few seconds at most) until the caches keep ``name`` of ``kinds`` encoded."""
        with anyio.fail_after(5):
            while any(self.decoded(kind, name) for kind in kinds):
                await anyio.sleep(0.01)

    def load(self, snap: Snapshot) -> None:
        for obj in snap.objects.values():
            informer = self.by_kind.get((obj["apiVersion"], obj["kind"]))
            if informer is not None:
                copied = copy_json(obj)
                copied["metadata"].setdefault("resourceVersion", "1")
                informer.observe(copied)

    def decoded(self, kind: tuple[str, str], name: str) -> bool | None:
        return self.by_kind[kind].kept_decoded(KEY.namespace, name)


def claim(snap: Snapshot, worker: str, version: str) -> tuple[Snapshot, dict[str, Any]]:
    """``snap`` with the session Secret of ``worker`` claimed (what a shell's claim writes)."""
    found = snap.get("v1", "Secret", KEY.namespace, f"{worker}-session")
    assert found is not None
    secret = copy_json(found)
    secret["metadata"]["labels"][LABEL_STATE] = STATE_CLAIMED
    secret["metadata"]["labels"][LABEL_SHELL_UID] = f"uid-of-{worker}"
    secret["metadata"]["resourceVersion"] = version
    return snap.put(secret), secret


@pytest.fixture(autouse=True)
def quick_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controller_module, "SETTLE_DELAY", 0.01)


def test_a_claimed_workers_objects_are_encoded_and_the_pool_pass_does_not_read_them() -> None:
    async def main() -> None:
        snap = filled_pool(4)
        caches = Caches()
        caches.load(snap)
        names = sorted(a["metadata"]["name"] for a in snap.list("v1", "ServiceAccount"))
        for kind in (("v1", "Pod"), *WORKER_KINDS):
            assert all(caches.decoded(kind, name) for name in names)  # the pool's: decoded

        before = {
            kind: copy_json(caches.view.get(*kind, KEY.namespace, names[0])) for kind in KINDS
        }
        snap, secret = claim(snap, names[0], "100")
        caches.by_kind[("v1", "Secret")].observe(copy_json(secret))
        parts = [("v1", "Pod"), *WORKER_KINDS]
        async with anyio.create_task_group() as group:
            group.start_soon(caches.controller.settle_claimed_workers)
            await caches.settled(parts, names[0])
            group.cancel_scope.cancel()
        for kind in parts:
            assert caches.decoded(kind, names[0]) is False, kind
            assert all(caches.decoded(kind, name) for name in names[1:])
        assert caches.decoded(("v1", "Secret"), f"{names[0]}-session") is False
        # Encoded, the objects read back the same.
        for kind in (("v1", "Pod"), *WORKER_KINDS):
            caches.by_kind[kind]._recent.clear()
            assert caches.view.get(*kind, KEY.namespace, names[0]) == before[kind]

        # The pool pass reads the pool's own workers only: none of the claimed one's objects
        # is decoded for it.
        decodes: list[bytes] = []
        for informer in caches.by_kind.values():
            original = informer._codec.decode

            def counting(blob: bytes, original: Any = original) -> Any:
                decodes.append(blob)
                return original(blob)

            informer._codec.decode = counting  # type: ignore[method-assign]
            informer._recent.clear()  # nothing read lately: every read of an encoded one decodes
        unclaimed = caches.pool.unclaimed(KEY, "v1", "ServiceAccount")
        assert [a["metadata"]["name"] for a in unclaimed] == names[1:]
        assert [p["metadata"]["name"] for p in caches.pool.unclaimed(KEY, "v1", "Pod")] == (
            names[1:]
        )
        settings = OperatorSettings(min_idle=4)
        from_caches = plan_pool(KEY, caches.view, caches.pool, settings, REGISTRY, lambda: "new")
        assert decodes == []
        # ... and plans what a pass over the whole cluster plans: one new worker, nothing else.
        whole = plan_pool(KEY, snap, ClusterPoolView(snap), settings, REGISTRY, lambda: "new")
        assert from_caches == whole
        assert [o["kind"] for o in whole.creates] == ["ServiceAccount"]
        assert not whole.deletes
        assert not whole.updates

    anyio.run(main)


def test_a_worker_whose_session_is_gone_is_the_pools_again_and_its_account_is_deleted() -> None:
    async def main() -> None:
        snap = filled_pool(2)
        caches = Caches()
        caches.load(snap)
        worker = sorted(a["metadata"]["name"] for a in snap.list("v1", "ServiceAccount"))[0]
        snap, secret = claim(snap, worker, "100")
        caches.by_kind[("v1", "Secret")].observe(copy_json(secret))
        assert worker in caches.claimed.names(KEY.namespace)
        # The shell went: its session Secret, and the pod it owned, are gone.
        for api_version, kind, name in (
            ("v1", "Secret", f"{worker}-session"),
            ("v1", "Pod", worker),
        ):
            # A watch's DELETED event carries the object's last state.
            gone = copy_json(caches.view.get(api_version, kind, KEY.namespace, name))
            gone["metadata"]["resourceVersion"] = "200"
            caches.by_kind[(api_version, kind)]._deliver([{"type": "DELETED", "object": gone}])
        assert worker not in caches.claimed.names(KEY.namespace)
        result = plan_pool(
            KEY, caches.view, caches.pool, OperatorSettings(min_idle=2), REGISTRY, lambda: "new"
        )
        deleted = {(r.kind, r.name) for r in result.deletes}
        assert ("ServiceAccount", worker) in deleted

    anyio.run(main)


def test_claimed_workers_are_encoded_once_no_shell_waits_in_the_queue() -> None:
    """In a burst, encoding the claimed workers' objects waits for the shells to be served."""

    async def main() -> None:
        snap = filled_pool(2)
        caches = Caches()
        caches.load(snap)
        worker = sorted(a["metadata"]["name"] for a in snap.list("v1", "ServiceAccount"))[0]
        caches.queue.add(ShellKey(KEY.namespace, "waiting"))
        snap, secret = claim(snap, worker, "100")
        caches.by_kind[("v1", "Secret")].observe(copy_json(secret))
        parts = [("v1", "Pod"), *WORKER_KINDS]
        async with anyio.create_task_group() as group:
            group.start_soon(caches.controller.settle_claimed_workers)
            await anyio.sleep(0.2)  # twenty times the delay: the queue is still busy
            assert all(caches.decoded(kind, worker) for kind in parts)
            key = await caches.queue.get()
            caches.queue.done(key)
            await caches.settled(parts, worker)
            group.cancel_scope.cancel()

    anyio.run(main)
