"""The planner's window on the caches: a :class:`~cloudtty_core.ClusterView` over the
informers, and the :class:`~cloudtty_core.PoolView` of the warm pools (the idle workers shells
claim, the unclaimed workers the pool pass keeps).

Both read the live caches without copying (the planner and backends never mutate what a view
returns), so planning a shell costs no API request and no deep copy. Planning runs on the
event loop, where the caches change, so a plan always sees one consistent state.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence, Set

from cloudtty_core.backends import BUILTIN_APIS, PoolKey
from cloudtty_core.model import Manifest
from cloudtty_core.plan import claimable_worker, pool_labels
from cloudtty_core.plan.names import (
    LABEL_MANAGED_BY,
    LABEL_POOL,
    LABEL_ROLE,
    LABEL_STATE,
    LABEL_WORKER,
    MANAGED_BY,
    ROLE_WORKER,
    STATE_CLAIMED,
    STATE_IDLE,
)

from .informer import DELETED, Informers, in_a_pool

__all__ = [
    "CachePoolView",
    "CacheView",
    "ClaimedWorkers",
    "IdleSessions",
    "Reservations",
    "ReservingPoolView",
]

log = logging.getLogger(__name__)


class CacheView:
    """A :class:`~cloudtty_core.ClusterView` over the runtime's informers.

    A kind nobody watches reads as empty (and is logged once): the runtime watches every kind
    the planner and the installed exposure backends declare, so this points at a backend
    reading a kind it did not list in ``watched_kinds``.
    """

    def __init__(self, informers: Informers) -> None:
        self.informers = informers
        self._warned: set[tuple[str, str]] = set()

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Manifest | None:
        """See :meth:`ClusterView.get <cloudtty_core.ClusterView.get>`."""
        informer = self.informers.informer(api_version, kind)
        if informer is None:
            self._unwatched(api_version, kind)
            return None
        return informer.get(namespace, name)

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: Mapping[str, str] | None = None,
    ) -> Sequence[Manifest]:
        """See :meth:`ClusterView.list <cloudtty_core.ClusterView.list>`."""
        informer = self.informers.informer(api_version, kind)
        if informer is None:
            self._unwatched(api_version, kind)
            return []
        return informer.list(namespace, label_selector)

    def has_api(self, api_version: str, kind: str) -> bool:
        """Whether the kind is served: watched and served now, or built into every cluster."""
        if self.informers.serves(api_version, kind):
            return True
        watched = {(k.api_version, k.kind) for k in self.informers.kinds}
        return (api_version, kind) in BUILTIN_APIS and (api_version, kind) not in watched

    def _unwatched(self, api_version: str, kind: str) -> None:
        key = (api_version, kind)
        watched = {(k.api_version, k.kind) for k in self.informers.kinds}
        if key in watched or key in self._warned:
            return
        self._warned.add(key)
        log.warning(
            "%s %s is read but not watched; declare it in the backend's watched_kinds",
            api_version,
            kind,
        )


class Reservations:
    """Idle workers a shell is claiming right now: hidden from every other shell's plan until
    the claim succeeded (then the worker is no longer idle) or failed."""

    def __init__(self) -> None:
        self._by_worker: dict[tuple[str, str], object] = {}

    def reserve(self, namespace: str, name: str, owner: object) -> None:
        """Hide worker ``namespace/name`` from shells other than ``owner``."""
        self._by_worker[(namespace, name)] = owner

    def release(self, owner: object) -> None:
        """Un-hide every worker ``owner`` reserved."""
        for key in [k for k, v in self._by_worker.items() if v == owner]:
            del self._by_worker[key]

    def hidden_from(self, namespace: str, name: str, owner: object) -> bool:
        """Whether another shell is claiming this worker."""
        holder = self._by_worker.get((namespace, name))
        return holder is not None and holder != owner

    def __len__(self) -> int:
        return len(self._by_worker)


class IdleSessions:
    """The idle session Secrets of every warm pool, in the order they became idle, kept current
    from the Secret informer's events (:meth:`handle`).

    A shell that claims a worker takes the first claimable one: read from here, that costs a
    look at one or two workers however large the pool is, where a label-selected list of the
    cache would match and order the whole pool for every shell. Oldest first also means the
    worker that has waited longest is the one handed out.
    """

    def __init__(self) -> None:
        self._by_pool: dict[str, dict[tuple[str, str], None]] = {}
        self._pool_of: dict[tuple[str, str], str] = {}

    def handle(self, type_: str, secret: Manifest, old: Manifest | None) -> None:
        """Informer handler for Secrets."""
        meta = secret.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        labels = meta.get("labels") or {}
        idle_in = (
            labels.get(LABEL_POOL)
            if type_ != DELETED
            and not meta.get("deletionTimestamp")
            and labels.get(LABEL_STATE) == STATE_IDLE
            and labels.get(LABEL_ROLE) == ROLE_WORKER
            and labels.get(LABEL_MANAGED_BY) == MANAGED_BY
            else None
        )
        current = self._pool_of.get(key)
        if current == idle_in:
            return
        if current is not None:
            sessions = self._by_pool[current]
            del sessions[key]
            if not sessions:
                del self._by_pool[current]
            del self._pool_of[key]
        if idle_in is not None:
            self._by_pool.setdefault(str(idle_in), {})[key] = None
            self._pool_of[key] = str(idle_in)

    def of(self, pool: PoolKey) -> Iterator[tuple[str, str]]:
        """(namespace, name) of the idle session Secrets of ``pool``, oldest first. Read it
        without awaiting in between: the events that change it run on the same loop."""
        return iter(self._by_pool.get(pool.hash, {}))

    def __len__(self) -> int:
        return len(self._pool_of)


class ClaimedWorkers:
    """The warm workers serving a shell -- those whose session Secret is ``claimed`` (and not
    being deleted) -- kept current from the Secret informer's events (:meth:`handle`).

    A claimed worker is its shell's: the pool pass leaves it out (:meth:`CachePoolView.unclaimed`)
    and the caches need not keep its objects decoded for the pool pass (:meth:`keeps_decoded`).
    Functions given to :meth:`on_claim` hear of each worker as it is claimed, to encode what
    the caches held decoded for it.
    """

    def __init__(self) -> None:
        self._pool_of: dict[tuple[str, str], str] = {}
        self._by_namespace: dict[str, set[str]] = {}
        self._per_pool: Counter[str] = Counter()
        self._listeners: list[Callable[[str, str], None]] = []

    def on_claim(self, listener: Callable[[str, str], None]) -> None:
        """Call ``listener(namespace, worker)`` whenever a worker becomes claimed."""
        self._listeners.append(listener)

    def handle(self, type_: str, secret: Manifest, old: Manifest | None) -> None:
        """Informer handler for Secrets."""
        meta = secret.get("metadata") or {}
        labels = meta.get("labels") or {}
        pool = labels.get(LABEL_POOL)
        worker = labels.get(LABEL_WORKER)
        if not pool or not worker:
            return
        key = (str(meta.get("namespace") or ""), str(worker))
        claimed = (
            type_ != DELETED
            and not meta.get("deletionTimestamp")
            and labels.get(LABEL_STATE) == STATE_CLAIMED
        )
        current = self._pool_of.get(key)
        if claimed and current is None:
            self._pool_of[key] = str(pool)
            self._by_namespace.setdefault(key[0], set()).add(key[1])
            self._per_pool[str(pool)] += 1
            for listener in self._listeners:
                listener(*key)
        elif not claimed and current is not None:
            del self._pool_of[key]
            names = self._by_namespace[key[0]]
            names.discard(key[1])
            if not names:
                del self._by_namespace[key[0]]
            self._per_pool[current] -= 1
            if not self._per_pool[current]:
                del self._per_pool[current]

    def names(self, namespace: str) -> Set[str]:
        """The claimed workers of ``namespace``."""
        return self._by_namespace.get(namespace, _NONE)

    def count(self, pool: PoolKey) -> int:
        """How many workers of ``pool`` are claimed."""
        return self._per_pool.get(pool.hash, 0)

    def keeps_decoded(self, obj: Manifest) -> bool:
        """Whether a cache keeps ``obj`` decoded: a part of an unclaimed pool worker (the pool
        pass reads those whole), not of a claimed one, nor a claimed session Secret."""
        if not in_a_pool(obj):
            return False
        meta = obj["metadata"]
        if meta["labels"].get(LABEL_STATE) == STATE_CLAIMED:
            return False
        # A worker's pod, account, Role and RoleBinding are all named like the worker.
        return meta.get("name") not in self.names(str(meta.get("namespace") or ""))

    def __len__(self) -> int:
        return len(self._pool_of)


_NONE: Set[str] = frozenset()


class CachePoolView:
    """The :class:`~cloudtty_core.PoolView` of the caches: the pool pass's, and the base of
    each shell's (:class:`ReservingPoolView`).

    :param idle: the pools' idle session Secrets, which the idle workers are read from.
    :param claimed: the claimed workers, which :meth:`unclaimed` leaves out.
    """

    def __init__(self, view: CacheView, idle: IdleSessions, claimed: ClaimedWorkers) -> None:
        self._view = view
        self._idle = idle
        self._claimed = claimed

    def idle_workers(self, key: PoolKey) -> Iterator[Manifest]:
        """Ready idle workers of ``key``, oldest first (lazily)."""
        for namespace, name in self._idle.of(key):
            if namespace != key.namespace:
                continue
            session = self._view.get("v1", "Secret", namespace, name)
            if session is None or self._passed_over(namespace, session):
                continue
            pod = claimable_worker(session, key, self._view)
            if pod is not None:
                yield pod

    def _passed_over(self, namespace: str, session: Manifest) -> bool:
        """Whether the worker of an idle session Secret is not offered (before its pod is
        read)."""
        return False

    def unclaimed(self, key: PoolKey, api_version: str, kind: str) -> Sequence[Manifest]:
        """See :meth:`PoolView.unclaimed <cloudtty_core.PoolView.unclaimed>`: the claimed
        workers' objects are left out before they are read (the caches keep them encoded)."""
        informer = self._view.informers.informer(api_version, kind)
        if informer is None:
            return []
        namespace = key.namespace
        return informer.list(namespace, pool_labels(key), skip=self._claimed.names(namespace))


class ReservingPoolView(CachePoolView):
    """The :class:`~cloudtty_core.PoolView` of one shell: Ready idle workers of the caches,
    minus those other shells are claiming. Shells planned at the same time therefore pick
    different workers instead of racing for the first one."""

    def __init__(
        self,
        view: CacheView,
        reservations: Reservations,
        owner: object,
        idle: IdleSessions,
        claimed: ClaimedWorkers,
    ) -> None:
        super().__init__(view, idle, claimed)
        self._reservations = reservations
        self._owner = owner

    def _passed_over(self, namespace: str, session: Manifest) -> bool:
        # The session names its worker (the pod claimable_worker reads). In a burst the oldest
        # idle workers are the ones other shells are claiming: they are passed over before
        # their pods are checked.
        worker = str(((session.get("metadata") or {}).get("labels") or {}).get(LABEL_WORKER))
        return self._reservations.hidden_from(namespace, worker, self._owner)
