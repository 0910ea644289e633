"""Informers: a list+watch cache per kind, kept current without polling.

An :class:`Informer` lists its kind once (in pages), then watches from the list's
resourceVersion with bookmarks, so the steady state costs no request at all. A stream that
ends (server timeout, cut connection) is resumed from the last resourceVersion seen -- an
event's or a bookmark's -- and loses nothing; when the server has compacted that version
away (410 Gone) the informer lists again and reports the difference as events, deletions
included. A watch's body is read by the event loop itself (:mod:`.watchstream`), where the cache
and the handlers live (single-threaded, no locks); a body the loop cannot read is read by a
thread that hands the decoded events over in batches.

The cache keeps each object encoded (:mod:`.frozen`: compressed JSON, about a tenth of the
dict) and decodes it when it is read; the objects read or written last are kept decoded too
(:attr:`Informer.recent_size`), so a plan that reads a shell and its children several times,
and the handlers that compare an object with its previous version, decode each once.

Objects the operator wrote itself are put into the cache at once (:meth:`Informer.observe`),
so the next plan sees them without waiting for the watch; the watch's echo of the same
resourceVersion is then ignored. ResourceVersions are compared as numbers when both are
numbers (they are etcd revisions on every real API server), otherwise a different version
counts as newer.

:class:`Informers` holds the informers of all watched kinds. Kinds served by a
CustomResourceDefinition (the CloudShell kind itself, Istio's VirtualService) are watched as
soon as their CRD is established, and dropped when it goes.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import sys
import threading
from collections import OrderedDict
from collections.abc import (
    Callable,
    Collection,
    Container,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio.abc import TaskGroup

from cloudtty_core.backends import KindRef
from cloudtty_core.model import Manifest
from cloudtty_core.plan.names import LABEL_POOL

from .api import AsyncApi
from .client import ApiError, Gone, KubeClient, WatchStream
from .compact import compact, trimmed
from .frozen import Codec
from .inbox import LoopInbox, inbox_of
from .resources import BUILTIN_RESOURCES, Resource

__all__ = [
    "ADDED",
    "DELETED",
    "MODIFIED",
    "Handler",
    "Informer",
    "InformerStats",
    "Informers",
    "in_a_pool",
    "is_newer",
]

log = logging.getLogger(__name__)

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"

Handler = Callable[[str, Manifest, "Manifest | None"], None]
"""Called on the event loop for every change: (ADDED/MODIFIED/DELETED, object, previous)."""

_Key = tuple[str, str]
_Manifests = list[Manifest]
_KeyList = list[_Key]

CRD_RESOURCE = Resource(
    "apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", False
)


def _rv(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def is_newer(candidate: str, current: str) -> bool:
    """Whether resourceVersion ``candidate`` is newer than ``current``."""
    if candidate.isdigit() and current.isdigit():
        return int(candidate) > int(current)
    return candidate != current


class InformerStats:
    """What an informer did: for tests, metrics and the benchmark."""

    def __init__(self) -> None:
        self.lists = 0
        self.watches = 0
        self.events = 0
        self.bookmarks = 0
        self.gone = 0
        self.errors = 0


class Informer:
    """The cache of one kind (in one namespace, or cluster-wide).

    :param resource: the kind.
    :param client: the synchronous client (watch streams run in threads).
    :param api: the async client (lists).
    :param namespace: watch only this namespace (namespaced kinds; None: all).
    :param index_labels: label keys to index; a ``list`` whose selector names one of them
        touches only the matching objects.
    :param page_size: objects per LIST page.
    :param watch_timeout: seconds after which the server ends a watch (it is resumed).
    :param recent_size: objects kept decoded besides their encoded copy: the ones read or
        written last.
    :param keep_decoded: which objects are never encoded but kept as (compact) dicts. By
        default the warm pool's workers (:func:`in_a_pool`), which every pool pass reads whole
        -- decoding them all on every pass would double its time. The operator passes one
        that lets go of workers once claimed (the pool pass no longer reads them); an object
        it lets go of is encoded at its next change or :meth:`settle`.

    Create it inside the event loop.
    """

    def __init__(
        self,
        resource: Resource,
        client: KubeClient,
        api: AsyncApi,
        *,
        namespace: str | None = None,
        index_labels: Iterable[str] = (),
        page_size: int = 500,
        watch_timeout: int = 300,
        max_backoff: float = 30.0,
        recent_size: int = 256,
        keep_decoded: Callable[[Manifest], bool] | None = None,
    ) -> None:
        self.resource = resource
        self.client = client
        self.api = api
        self.namespace = namespace if resource.namespaced else None
        self.index_labels = frozenset(index_labels)
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.max_backoff = max_backoff
        self.resource_version: str | None = None
        self.synced = anyio.Event()
        self.stats = InformerStats()
        # namespace -> name -> the object encoded, or the object itself when JSON cannot
        # carry it exactly (see Codec.encode).
        self._objects: dict[str, dict[str, bytes | Manifest]] = {}
        self._codec = Codec()
        self.recent_size = recent_size
        self.keep_decoded = keep_decoded or in_a_pool
        self._recent: OrderedDict[_Key, Manifest] = OrderedDict()
        self._loop_thread = threading.get_ident()
        # label -> value -> the one object's key, or a set of two or more: most indexed values
        # (a shell's uid, its name) label one object per kind, and a set costs 200 bytes.
        self._index: dict[str, dict[str, _Key | set[_Key]]] = {}
        self._count = 0
        self._handlers: list[Handler] = []
        self._stream: WatchStream | None = None
        self._pending: collections.deque[_Manifests] = collections.deque()
        self._inbox: LoopInbox | None = None
        self._stopping = False
        self._limiter = anyio.CapacityLimiter(1)

    def __repr__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"<Informer {self.resource}{where}: {self._count} objects>"

    # Reading -----------------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> Manifest | None:
        """The cached object, or None. Never mutate it."""
        ns = namespace or ""
        entry = self._objects.get(ns, {}).get(name)
        return None if entry is None else self._load(ns, name, entry)

    def _load(self, ns: str, name: str, entry: bytes | Manifest) -> Manifest:
        """The object of cache entry ``entry`` (decoded, unless it is recent)."""
        if type(entry) is not bytes:
            return entry  # type: ignore[return-value]
        key = (ns, name)
        recent = self._recent
        obj = recent.get(key)
        if obj is not None:
            try:
                recent.move_to_end(key)
            except KeyError:  # a reader in another thread, while the loop dropped it
                pass
            return obj
        obj = self._codec.decode(entry)
        if threading.get_ident() == self._loop_thread:
            # Only the event loop changes the recent objects: a metrics scrape in the HTTP
            # server's thread reads without keeping what it decoded.
            self._remember(key, obj)
        return obj

    def _remember(self, key: _Key, obj: Manifest) -> None:
        recent = self._recent
        recent[key] = obj
        recent.move_to_end(key)
        if len(recent) > self.recent_size:
            recent.popitem(last=False)

    def list(
        self,
        namespace: str | None = None,
        labels: Mapping[str, str] | None = None,
        *,
        skip: Container[str] = (),
    ) -> _Manifests:
        """Cached objects in ``namespace`` (None: all) whose labels match ``labels``, sorted
        by namespace and name, leaving out those named in ``skip`` (before reading them: they
        cost no decoding). Never mutate them."""
        candidates = self._candidates(namespace, labels)
        if candidates is None:
            spaces = [namespace or ""] if namespace is not None else sorted(self._objects)
            candidates = [(ns, name) for ns in spaces for name in self._objects.get(ns) or {}]
        found: _Manifests = []
        for ns, name in sorted(candidates):
            if name in skip:
                continue
            entry = self._objects[ns][name]
            obj = self._load(ns, name, entry)
            if _labels_match(obj, labels):
                found.append(obj)
        return found

    def _candidates(
        self, namespace: str | None, labels: Mapping[str, str] | None
    ) -> _KeyList | None:
        best: Collection[_Key] | None = None
        for key, value in (labels or {}).items():
            if key in self.index_labels:
                keys = self._indexed(key, value)
                if best is None or len(keys) < len(best):
                    best = keys
        if best is None:
            return None
        if namespace is None:
            return list(best)
        return [k for k in best if k[0] == (namespace or "")]

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Manifest]:
        # A walk over everything (a relist, metrics) decodes without keeping what it decoded:
        # the recent objects stay those the plans work on.
        recent, decode = self._recent, self._codec.decode
        for ns, bucket in list(self._objects.items()):
            for name, entry in list(bucket.items()):
                if type(entry) is not bytes:
                    yield entry  # type: ignore[misc]
                    continue
                obj = recent.get((ns, name))
                yield decode(entry) if obj is None else obj

    def stopping(self) -> bool:
        """Whether :meth:`run` is ending (read by a watch's reader)."""
        return self._stopping

    # Handlers ----------------------------------------------------------------------------

    def add_handler(self, handler: Handler) -> None:
        """Call ``handler`` for every change from now on."""
        self._handlers.append(handler)

    def _notify(self, type_: str, obj: Manifest, old: Manifest | None) -> None:
        for handler in self._handlers:
            try:
                handler(type_, obj, old)
            except Exception:  # one broken handler must not stop the cache
                log.exception("handler of %s failed on %s", self.resource, type_)

    # Writing the cache -------------------------------------------------------------------

    def observe(self, obj: Any) -> bool:
        """Put an object the operator just wrote into the cache (when it is newer)."""
        if not isinstance(obj, dict) or not (obj.get("metadata") or {}).get("name"):
            return False
        return self._upsert(obj)

    def _normalize(self, obj: Manifest) -> None:
        # List items come without apiVersion/kind; the planner needs both on every object.
        obj.setdefault("apiVersion", self.resource.api_version)
        obj.setdefault("kind", self.resource.kind)
        obj["metadata"].pop("managedFields", None)

    def _pinned(self, obj: Manifest) -> bool:
        """Whether ``obj`` is kept decoded (see ``keep_decoded``)."""
        return self.keep_decoded(obj)

    def kept_decoded(self, namespace: str | None, name: str) -> bool | None:
        """Whether the cached object ``namespace/name`` is kept decoded (not encoded); None
        when it is not cached."""
        entry = self._objects.get(namespace or "", {}).get(name)
        return None if entry is None else not isinstance(entry, bytes)

    def settle(self, namespace: str | None, name: str) -> bool:
        """Encode the cached object ``namespace/name`` when it is kept decoded but
        ``keep_decoded`` lets go of it now (a warm worker just claimed); whether it was."""
        ns = namespace or ""
        bucket = self._objects.get(ns)
        entry = bucket.get(name) if bucket is not None else None
        if bucket is None or entry is None or isinstance(entry, bytes) or self._pinned(entry):
            return False
        return self._store(bucket, ns, name, entry, pinned=False)

    def _store(
        self, bucket: dict[str, bytes | Manifest], ns: str, name: str, obj: Manifest, pinned: bool
    ) -> bool:
        """Put ``obj`` in the cache: encoded, and decoded too while it is recent; or -- kept
        decoded for good, or not encodable -- as itself. Whether it was encoded."""
        blob = None if pinned else self._codec.encode(obj)
        if blob is None:
            bucket[name] = obj
            self._recent.pop((ns, name), None)
            return False
        bucket[name] = blob
        self._remember((ns, name), obj)
        return True

    def _prepare(self, obj: Manifest, pinned: bool = False) -> Manifest:
        """``obj`` trimmed to what the cache keeps (see :func:`.compact.trimmed`), or, when it
        is kept decoded for good, made into its compact copy (:func:`.compact.compact`:
        interned). ``obj`` itself is what is cached (encoded, and decoded while it is recent),
        its content replaced by the trimmed copy's, so the operator's own writes are read back
        as the very objects it holds."""
        small = compact(obj) if pinned else trimmed(obj)
        if small is not obj:
            obj.clear()
            obj.update(small)
        return obj

    def _upsert(self, obj: Manifest, *, force: bool = False) -> bool:
        self._normalize(obj)
        meta = obj["metadata"]
        # Interned: the bucket's key and the index's keys are then one string per object,
        # however often it changes.
        ns, name = _intern(str(meta.get("namespace") or "")), _intern(str(meta["name"]))
        bucket = self._objects.setdefault(ns, {})
        entry = bucket.get(name)
        old = None if entry is None else self._load(ns, name, entry)
        if old is not None and not force and not is_newer(_rv(obj), _rv(old)):
            return False  # e.g. the watch's echo of a write observed already: not encoded
        pinned = self._pinned(obj)
        obj = self._prepare(obj, pinned)
        self._store(bucket, ns, name, obj, pinned)
        if old is None:
            self._count += 1
        else:
            self._unindex((ns, name), old)
        self._reindex((ns, name), obj)
        self._notify(ADDED if old is None else MODIFIED, obj, old)
        return True

    def _remove(self, obj: Manifest, *, force: bool = False) -> bool:
        self._normalize(obj)
        meta = obj["metadata"]
        ns, name = str(meta.get("namespace") or ""), str(meta["name"])
        bucket = self._objects.get(ns)
        entry = bucket.get(name) if bucket else None
        if entry is None or bucket is None:
            return False
        old = self._load(ns, name, entry)
        if not force and is_newer(_rv(old), _rv(obj)):
            return False  # a newer object of that name replaced the deleted one already
        del bucket[name]
        self._recent.pop((ns, name), None)
        if not bucket:
            del self._objects[ns]
        self._count -= 1
        self._unindex((ns, name), old)
        self._notify(DELETED, obj, old)
        return True

    def _indexed(self, label: str, value: str) -> Collection[_Key]:
        found = self._index.get(label, {}).get(value)
        if found is None:
            return ()
        return found if isinstance(found, set) else (found,)

    def _reindex(self, key: _Key, obj: Manifest) -> None:
        for label, value in ((obj.get("metadata") or {}).get("labels") or {}).items():
            if label in self.index_labels:
                by_value = self._index.setdefault(label, {})
                found = by_value.get(value)
                if found is None:
                    # One string per value for every kind's index (a shell's uid labels all
                    # its children): decoded objects do not share strings as interned ones do.
                    by_value[_intern(value) if type(value) is str else value] = key
                elif isinstance(found, set):
                    found.add(key)
                elif found != key:
                    by_value[value] = {found, key}

    def _unindex(self, key: _Key, obj: Manifest) -> None:
        for label, value in ((obj.get("metadata") or {}).get("labels") or {}).items():
            by_value = self._index.get(label) if label in self.index_labels else None
            found = by_value.get(value) if by_value is not None else None
            if by_value is None or found is None:
                continue
            if isinstance(found, set):
                found.discard(key)
                if len(found) == 1:
                    by_value[value] = next(iter(found))
            elif found == key:
                del by_value[value]

    def clear(self) -> None:
        """Forget everything (the kind is no longer served), reporting each object deleted."""
        for obj in list(self):
            self._remove(obj, force=True)
        self.resource_version = None

    # Listing and watching ----------------------------------------------------------------

    async def run(self) -> None:
        """List, then watch forever (until cancelled); resume, relist on 410, back off on
        errors."""
        failures = 0
        try:
            while True:
                try:
                    if self.resource_version is None:
                        await self._relist()
                        self.synced.set()
                    started = anyio.current_time()
                    outcome, delivered = await self._watch(self.resource_version or "")
                    if outcome == "gone":
                        self.stats.gone += 1
                        log.info("%s: resourceVersion expired, listing again", self.resource)
                        self.resource_version = None
                        failures = 0
                        continue
                    quick = anyio.current_time() - started < 1.0
                    failures = (
                        failures + 1 if outcome == "error" or (quick and not delivered) else 0
                    )
                except Gone:
                    self.stats.gone += 1
                    self.resource_version = None
                    failures = 0
                    continue
                except ApiError as error:
                    self.stats.errors += 1
                    failures += 1
                    log.warning("%s: %s (attempt %d)", self.resource, error, failures)
                if failures:
                    await anyio.sleep(self._backoff(failures))
        finally:
            self._stopping = True
            stream = self._stream
            if stream is not None:
                stream.close()

    def _backoff(self, failures: int) -> float:
        delay = min(0.05 * 2 ** min(failures, 12), self.max_backoff)
        return float(delay * (0.5 + random.random() / 2))

    async def _relist(self) -> None:
        items: list[Manifest] = []
        continue_: str | None = None
        version = ""
        while True:
            try:
                page = await self.api.list(
                    self.resource, self.namespace, limit=self.page_size, continue_=continue_
                )
            except Gone:
                if continue_ is None:
                    raise
                items, continue_ = [], None  # the snapshot expired between pages: start over
                continue
            if continue_ is None:
                version = str((page.get("metadata") or {}).get("resourceVersion") or "")
            items.extend(page.get("items") or ())
            continue_ = (page.get("metadata") or {}).get("continue") or None
            if not continue_:
                break
        self.stats.lists += 1
        self._replace(items, version)
        self.resource_version = version

    def _replace(self, items: Sequence[Manifest], version: str) -> None:
        listed: set[_Key] = set()
        for obj in items:
            meta = obj["metadata"]
            listed.add((str(meta.get("namespace") or ""), str(meta["name"])))
            self._upsert(obj)
        for obj in list(self):
            meta = obj["metadata"]
            key = (str(meta.get("namespace") or ""), str(meta["name"]))
            if key in listed:
                continue
            if version and is_newer(_rv(obj), version):
                continue  # written by the operator after the list's snapshot
            self._remove(obj, force=True)

    async def _watch(self, version: str) -> tuple[str, int]:
        """One watch stream: ("ended"|"gone"|"error", events delivered). An ERROR event ends
        it, after the events before it.

        The stream is read on the event loop when it can be (see :mod:`.watchstream`), else
        in a thread that hands batches over without waiting for the loop (see :mod:`.inbox`).
        """
        stream = await self.api.call(
            self.client.watch,
            self.resource,
            self.namespace,
            version,
            timeout_seconds=self.watch_timeout,
        )
        self._stream = stream
        self.stats.watches += 1
        try:
            if self.stopping():  # stopped while the stream was being opened
                return "ended", 0
            inbox = _running_inbox()  # None off asyncio: no loop to follow the stream on
            followed = await self._follow(stream) if inbox is not None else None
            if followed is not None:
                return followed
            self._inbox = inbox
            try:
                return await anyio.to_thread.run_sync(
                    self._read_in_thread, stream, abandon_on_cancel=True, limiter=self._limiter
                )
            finally:
                self._deliver_pending()  # what the stream brought last, before what ended it
        finally:
            stream.close()
            self._stream = None

    async def _follow(self, stream: WatchStream) -> tuple[str, int] | None:
        """(Event loop) Read ``stream`` on the loop; None when it cannot be read so."""
        outcome, delivered = "ended", 0

        def on_batch(batch: _Manifests) -> None:
            nonlocal outcome, delivered
            events, ended = self._until_error(batch)
            if events:
                self._deliver(events)
                delivered += len(events)
            if ended is not None:
                outcome = ended
                stream.close()

        done = stream.follow(on_batch, idle_timeout=self.watch_timeout + 30)
        if done is None:
            return None
        await done
        return outcome, delivered

    def _read_in_thread(self, stream: WatchStream) -> tuple[str, int]:
        """(Thread) Read ``stream``, handing its batches to the event loop."""
        delivered = 0
        for batch in stream:
            if self.stopping():
                return "ended", delivered
            events, outcome = self._until_error(batch)
            if events:
                self._pending.append(events)
                if not self._hand_over():
                    return "ended", delivered
                delivered += len(events)
            if outcome is not None:
                return outcome, delivered
        return "ended", delivered

    def _until_error(self, batch: _Manifests) -> tuple[_Manifests, str | None]:
        """The events of ``batch`` before an ERROR event, and how that error ends the
        stream ("gone" for 410, else "error"); None when there is none."""
        for position, event in enumerate(batch):
            if event.get("type") != "ERROR":
                continue
            obj = event.get("object")
            code = obj.get("code") if isinstance(obj, dict) else None
            if code == 410:
                return batch[:position], "gone"
            message = obj.get("message") if isinstance(obj, dict) else None
            log.warning("%s: watch error %s: %s", self.resource, code, message)
            self.stats.errors += 1
            return batch[:position], "error"
        return batch, None

    def _hand_over(self) -> bool:
        """(Thread) Have the event loop deliver the pending batches; False when it is gone."""
        inbox = self._inbox
        if inbox is not None:
            inbox.post(self._deliver_pending)
            return True
        try:  # not on asyncio: anyio's hand-over, waiting for the loop
            anyio.from_thread.run_sync(self._deliver_pending)
        except RuntimeError:  # the event loop is gone: the operator stopped
            return False
        return True

    def _deliver_pending(self) -> None:
        """(Event loop) Deliver the batches a reading thread handed over, in order."""
        pending = self._pending
        while pending:
            self._deliver(pending.popleft())

    def _deliver(self, batch: _Manifests) -> None:
        """(Event loop) Apply a batch of watch events to the cache."""
        if self.stopping():
            return
        for event in batch:
            type_ = event.get("type")
            obj = event.get("object")
            if not isinstance(obj, dict):
                continue
            if type_ == "BOOKMARK":
                self.stats.bookmarks += 1
                version = _rv(obj)
                if version:
                    self.resource_version = version
                continue
            if not (obj.get("metadata") or {}).get("name"):
                continue
            self.stats.events += 1
            if type_ in (ADDED, MODIFIED):
                self._upsert(obj)
            elif type_ == DELETED:
                self._remove(obj)
            version = _rv(obj)
            if version:
                self.resource_version = version


def _running_inbox() -> LoopInbox | None:
    """The running asyncio loop's inbox; None under another event loop."""
    try:
        return inbox_of(asyncio.get_running_loop())
    except RuntimeError:
        return None


def in_a_pool(obj: Manifest) -> bool:
    """Whether ``obj`` is part of a warm pool's worker (labelled :data:`LABEL_POOL`): what an
    informer keeps decoded unless told otherwise."""
    labels = obj["metadata"].get("labels")
    return isinstance(labels, dict) and LABEL_POOL in labels


def _labels_match(obj: Mapping[str, Any], selector: Mapping[str, str] | None) -> bool:
    if not selector:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


_intern = sys.intern

_BUILTIN = {(r.api_version, r.kind) for r in BUILTIN_RESOURCES}

KindListener = Callable[[KindRef, bool], None]
"""Called when a CRD-served kind becomes available (True) or goes away (False)."""


def _crd_name(kind: KindRef) -> str:
    group = kind.api_version.rpartition("/")[0]
    return f"{kind.plural}.{group}"


def _crd_serves(crd: Mapping[str, Any], version: str) -> bool:
    if (crd.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conditions = (crd.get("status") or {}).get("conditions") or ()
    established = [c for c in conditions if c.get("type") == "Established"]
    if established and established[0].get("status") != "True":
        return False
    return any(
        v.get("name") == version and v.get("served", True)
        for v in (crd.get("spec") or {}).get("versions") or ()
    )


class Informers:
    """The informers of every watched kind; CRD-served kinds follow their CRD.

    :param client: the synchronous client.
    :param api: the async client.
    :param namespace: watch namespaced kinds only in this namespace (None: all).
    :param index_labels: label keys every informer indexes.
    :param watch_timeout: seconds after which the server ends each watch.
    :param keep_decoded: which objects every informer keeps decoded (see :class:`Informer`).

    Create it inside the event loop; :meth:`run` in a task group.
    """

    def __init__(
        self,
        client: KubeClient,
        api: AsyncApi,
        *,
        namespace: str | None = None,
        index_labels: Iterable[str] = (),
        watch_timeout: int = 300,
        keep_decoded: Callable[[Manifest], bool] | None = None,
    ) -> None:
        self.client = client
        self.api = api
        self.namespace = namespace
        self.index_labels = tuple(index_labels)
        self.watch_timeout = watch_timeout
        self.keep_decoded = keep_decoded
        self._kinds: dict[tuple[str, str], KindRef] = {}
        self._active: dict[tuple[str, str], Informer] = {}
        self._scopes: dict[tuple[str, str], anyio.CancelScope] = {}
        self._handlers: dict[tuple[str, str], list[Handler]] = {}
        self._kind_listeners: list[KindListener] = []
        self._crds: Informer | None = None
        self._group: TaskGroup | None = None
        self._started = anyio.Event()

    # Set-up ------------------------------------------------------------------------------

    def watch(self, *kinds: KindRef) -> None:
        """Watch these kinds (call before :meth:`run`; duplicates are ignored)."""
        for kind in kinds:
            self._kinds.setdefault((kind.api_version, kind.kind), kind)
            self.client.register(Resource.of(kind))

    def on(self, api_version: str, kind: str, handler: Handler) -> None:
        """Call ``handler`` for every change of objects of this kind."""
        self._handlers.setdefault((api_version, kind), []).append(handler)
        informer = self._active.get((api_version, kind))
        if informer is not None:
            informer.add_handler(handler)

    def on_kind(self, listener: KindListener) -> None:
        """Call ``listener`` when a CRD-served kind starts or stops being served."""
        self._kind_listeners.append(listener)

    @property
    def kinds(self) -> tuple[KindRef, ...]:
        """Every kind asked for, served or not."""
        return tuple(self._kinds.values())

    # Reading -----------------------------------------------------------------------------

    def informer(self, api_version: str, kind: str) -> Informer | None:
        """The informer of a kind while the kind is served."""
        return self._active.get((api_version, kind))

    def serves(self, api_version: str, kind: str) -> bool:
        """Whether the kind is watched and served (its CRD established, for custom kinds)."""
        return (api_version, kind) in self._active

    def active(self) -> tuple[Informer, ...]:
        """Informers running now."""
        return tuple(self._active.values())

    @property
    def synced(self) -> bool:
        """Whether every running informer has listed its kind."""
        crds = self._crds
        return (
            self._started.is_set()
            and (crds is None or crds.synced.is_set())
            and all(i.synced.is_set() for i in self._active.values())
        )

    async def wait_synced(self) -> None:
        """Wait until every informer running now has listed its kind."""
        await self._started.wait()
        while not self.synced:
            if self._crds is not None:
                await self._crds.synced.wait()
            for informer in list(self._active.values()):
                await informer.synced.wait()

    # Running -----------------------------------------------------------------------------

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Run every informer until cancelled."""
        async with anyio.create_task_group() as group:
            self._group = group
            custom = [k for key, k in self._kinds.items() if key not in _BUILTIN]
            if custom:
                self._crds = Informer(
                    CRD_RESOURCE, self.client, self.api, watch_timeout=self.watch_timeout
                )
                self._crds.add_handler(self._on_crd)
                group.start_soon(self._crds.run, name="informer crds")
            for key, kind in self._kinds.items():
                if key in _BUILTIN:
                    self._start(kind, notify=False)
            self._started.set()
            task_status.started()
            try:
                await anyio.sleep_forever()
            finally:
                self._group = None

    def _start(self, kind: KindRef, *, notify: bool = True) -> None:
        key = (kind.api_version, kind.kind)
        if key in self._active or self._group is None:
            return
        informer = Informer(
            Resource.of(kind),
            self.client,
            self.api,
            namespace=self.namespace,
            index_labels=self.index_labels,
            watch_timeout=self.watch_timeout,
            keep_decoded=self.keep_decoded,
        )
        for handler in self._handlers.get(key, ()):
            informer.add_handler(handler)
        scope = anyio.CancelScope()
        self._active[key] = informer
        self._scopes[key] = scope

        async def run() -> None:
            with scope:
                await informer.run()

        self._group.start_soon(run, name=f"informer {informer.resource}")
        if notify:
            log.info("%s is served now: watching it", informer.resource)
            for listener in self._kind_listeners:
                listener(kind, True)

    def _stop(self, kind: KindRef) -> None:
        key = (kind.api_version, kind.kind)
        informer = self._active.pop(key, None)
        scope = self._scopes.pop(key, None)
        if informer is None:
            return
        if scope is not None:
            scope.cancel()
        informer.clear()
        log.info("%s is no longer served: stopped watching it", informer.resource)
        for listener in self._kind_listeners:
            listener(kind, False)

    def _on_crd(self, type_: str, crd: Manifest, old: Manifest | None) -> None:
        name = str((crd.get("metadata") or {}).get("name") or "")
        for key, kind in self._kinds.items():
            if key in _BUILTIN or _crd_name(kind) != name:
                continue
            version = kind.api_version.rpartition("/")[2]
            if type_ != DELETED and _crd_serves(crd, version):
                self._start(kind)
            else:
                self._stop(kind)
