"""Watch events: a bounded per-resource history for resume, and watchers fed from it.

Every event is serialised once (``Event.line``) and the same bytes go to every watcher that
needs no per-watcher rewriting, so fan-out costs a list append per watcher.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable
from typing import Any

import orjson

from .errors import gone
from .selectors import FieldSelector, Matcher

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"


class Event:
    """One change of one object; ``prev`` is the state before it (for selector transitions)."""

    __slots__ = ("_line", "obj", "prev", "rv", "type")

    def __init__(
        self, type_: str, rv: int, obj: dict[str, Any], prev: dict[str, Any] | None
    ) -> None:
        self.type = type_
        self.rv = rv
        self.obj = obj
        self.prev = prev
        self._line: bytes | None = None

    def line(self) -> bytes:
        if self._line is None:
            self._line = encode_event(self.type, self.obj)
        return self._line


def encode_event(type_: str, obj: Any) -> bytes:
    return b'{"type":"' + type_.encode() + b'","object":' + orjson.dumps(obj) + b"}\n"


Encoder = Callable[[str, dict[str, Any]], bytes]


class Watcher:
    """One open watch: filters events and buffers encoded lines for its HTTP stream."""

    def __init__(
        self,
        namespace: str | None,
        labels: Matcher | None,
        fields: FieldSelector | None,
        encoder: Encoder | None = None,
        max_pending: int = 200_000,
    ) -> None:
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.name = fields.exact_name() if fields else None
        self.encoder = encoder
        self.pending: list[bytes] = []
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.overflowed = False
        self.max_pending = max_pending
        self.delivered = 0
        self.last_rv = 0

    def _matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        meta = obj["metadata"]
        if self.labels is not None and not self.labels(meta.get("labels") or {}):
            return False
        return self.fields is None or self.fields.matches(obj)

    def offer(self, event: Event) -> None:
        if self.closed:
            return
        meta = event.obj["metadata"]
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return
        if self.name is not None and meta.get("name") != self.name:
            return
        type_ = event.type
        if self.labels is not None or self.fields is not None:
            now = self._matches(event.obj)
            if type_ == MODIFIED:
                before = self._matches(event.prev)
                if now and not before:
                    type_ = ADDED
                elif before and not now:
                    type_ = DELETED
                elif not now:
                    return
            elif type_ == DELETED:
                if not (now or self._matches(event.prev)):
                    return
            elif not now:
                return
        if self.encoder is not None:
            line = self.encoder(type_, event.obj)
        elif type_ is event.type:
            line = event.line()
        else:
            line = encode_event(type_, event.obj)
        self.push(line, event.rv)

    def push(self, line: bytes, rv: int = 0) -> None:
        if self.closed:
            return
        if len(self.pending) >= self.max_pending:
            # A consumer this far behind is cut off, as the API server drops slow watchers.
            self.overflowed = True
            self.close()
            return
        self.pending.append(line)
        if rv:
            self.last_rv = rv
        if len(self.pending) == 1:
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float) -> None:
        """Until something is pending, the watcher closes, or ``timeout`` seconds pass.

        A bare future plus a timer handle: much cheaper per wake-up than ``wait_for``.
        """
        if self.pending or self.closed:
            return
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        handle = loop.call_later(timeout, self._wake)
        try:
            await self._waiter
        finally:
            handle.cancel()
            self._waiter = None

    def take(self) -> list[bytes]:
        out, self.pending = self.pending, []
        return out

    def close(self) -> None:
        self.closed = True
        self._wake()


Scope = tuple[str | None, str | None]  # (namespace, name); None: any


class WatchCache:
    """Recent events of one resource; resuming below ``floor`` answers 410 Expired.

    Open watchers are grouped by the namespace and name they are limited to, so an event is
    offered only to the watchers that can want it -- a thousand single-object watches cost an
    event four dictionary lookups, not a thousand filter calls.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(capacity, 1)
        self.events: list[Event] = []
        self._rvs: list[int] = []
        self.floor = 0
        self._scoped: dict[Scope, set[Watcher]] = {}

    @property
    def watchers(self) -> set[Watcher]:
        """Every open watcher."""
        return {w for group in self._scoped.values() for w in group}

    def add(self, watcher: Watcher) -> None:
        self._scoped.setdefault((watcher.namespace, watcher.name), set()).add(watcher)

    def discard(self, watcher: Watcher) -> None:
        key = (watcher.namespace, watcher.name)
        group = self._scoped.get(key)
        if group is not None:
            group.discard(watcher)
            if not group:
                del self._scoped[key]

    def close_all(self) -> None:
        """Close every watcher and forget them (their streams end; clients resume)."""
        for group in self._scoped.values():
            for watcher in group:
                watcher.close()
        self._scoped.clear()

    def append(self, event: Event) -> None:
        self.events.append(event)
        self._rvs.append(event.rv)
        if len(self.events) > 2 * self.capacity:
            cut = len(self.events) - self.capacity
            self.floor = self._rvs[cut - 1]
            del self.events[:cut]
            del self._rvs[:cut]
        scoped = self._scoped
        if not scoped:
            return
        meta = event.obj["metadata"]
        namespace, name = meta.get("namespace") or None, meta.get("name")
        scopes: list[Scope] = [(None, None), (None, name)]
        if namespace is not None:
            scopes += [(namespace, None), (namespace, name)]
        for scope in scopes:
            group = scoped.get(scope)
            if group:
                for watcher in tuple(group):
                    watcher.offer(event)

    def since(self, rv: int) -> list[Event]:
        """Events newer than ``rv``; 410 if some of them may already be forgotten."""
        if rv < self.floor:
            raise gone(f"too old resource version: {rv} ({self.floor})")
        return self.events[bisect.bisect_right(self._rvs, rv) :]

    def compact(self, rv: int) -> None:
        """Forget everything up to ``rv`` (forced compaction)."""
        self.floor = max(self.floor, rv)
        index = bisect.bisect_right(self._rvs, rv)
        del self.events[:index]
        del self._rvs[:index]
