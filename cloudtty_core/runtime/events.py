"""Kubernetes Events about shells (``kubectl describe cloudshell`` shows them).

Events are best effort, as in client-go's recorder: :meth:`EventRecorder.record` never blocks
a reconcile and never fails it. A background task writes them -- through
``events.k8s.io/v1`` when the server serves it, else ``core/v1`` -- and a repeat of the same
event for the same object within ten minutes increases the existing Event's count instead of
creating another one.
"""

from __future__ import annotations

import logging
import secrets
import socket
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from cloudtty_core.backends import ObjectRef
from cloudtty_core.model import Manifest
from cloudtty_core.plan import EventSpec

from .api import AsyncApi
from .client import ApiError

__all__ = ["CORE_V1", "EVENTS_V1", "EventRecorder"]

log = logging.getLogger(__name__)

EVENTS_V1 = "events.k8s.io/v1"
CORE_V1 = "v1"
_SERIES_WINDOW = 600.0
_NOTE_LIMIT = 1024


def _micro_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Writes Events in the background.

    :param api: the async client.
    :param component: ``reportingController`` / ``source.component``.
    :param instance: ``reportingInstance`` (default: the host name).
    :param api_version: ``"auto"`` (events.k8s.io/v1 when served), ``"events.k8s.io/v1"``
        or ``"v1"``.
    :param buffer: events waiting to be written at most; more are dropped (and counted).

    Create it inside the event loop; run :meth:`run` in a task group.
    """

    def __init__(
        self,
        api: AsyncApi,
        *,
        component: str = "cloudtty.io/operator",
        instance: str | None = None,
        api_version: str = "auto",
        buffer: int = 1000,
    ) -> None:
        if api_version not in ("auto", EVENTS_V1, CORE_V1):
            raise ValueError(f"events API must be auto, {EVENTS_V1} or {CORE_V1}: {api_version!r}")
        self.api = api
        self.component = component
        self.instance = instance or socket.gethostname()
        self.api_version = api_version
        self.recorded = 0
        self.dropped = 0
        self.failed = 0
        self._send: MemoryObjectSendStream[tuple[Manifest, EventSpec, datetime]]
        self._receive: MemoryObjectReceiveStream[tuple[Manifest, EventSpec, datetime]]
        self._send, self._receive = anyio.create_memory_object_stream(buffer)
        self._series: OrderedDict[tuple[str, str, str, str], tuple[str, int, float]] = OrderedDict()

    def record(self, involved: Manifest, event: EventSpec) -> None:
        """Queue an Event about ``involved`` (an object with apiVersion, kind, metadata)."""
        try:
            self._send.send_nowait((involved, event, datetime.now(UTC)))
        except anyio.WouldBlock:
            self.dropped += 1
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.dropped += 1

    async def run(self) -> None:
        """Write queued Events until cancelled."""
        if self.api_version == "auto":
            try:
                served = await self.api.serves(EVENTS_V1, "Event")
            except ApiError:
                served = False
            self.api_version = EVENTS_V1 if served else CORE_V1
        async with self._receive:
            async for involved, event, when in self._receive:
                try:
                    await self._write(involved, event, when)
                    self.recorded += 1
                except ApiError as error:
                    self.failed += 1
                    log.debug("event %s not recorded: %s", event.reason, error)

    async def _write(self, involved: Manifest, event: EventSpec, when: datetime) -> None:
        meta = involved.get("metadata") or {}
        namespace = str(meta.get("namespace") or "default")
        key = (str(meta.get("uid") or ""), event.type, event.reason, event.message)
        now = anyio.current_time()
        repeat = self._series.get(key)
        if repeat is not None and now - repeat[2] < _SERIES_WINDOW:
            name, count, _ = repeat
            self._series[key] = (name, count + 1, now)
            self._series.move_to_end(key)
            await self.api.patch(
                ObjectRef(self.api_version, "Event", namespace, name),
                self._series_patch(count + 1, when),
            )
            return
        name = f"{meta.get('name', 'object')}.{secrets.token_hex(8)}"
        body = self._new_event(name, namespace, involved, event, when)
        await self.api.create(body)
        self._series[key] = (name, 1, now)
        while len(self._series) > 1000:
            self._series.popitem(last=False)

    def _new_event(
        self, name: str, namespace: str, involved: Manifest, event: EventSpec, when: datetime
    ) -> Manifest:
        meta = involved.get("metadata") or {}
        ref = {
            "apiVersion": involved.get("apiVersion"),
            "kind": involved.get("kind"),
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        message = event.message[:_NOTE_LIMIT]
        if self.api_version == EVENTS_V1:
            return {
                "apiVersion": EVENTS_V1,
                "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "eventTime": _micro_time(when),
                "reportingController": self.component,
                "reportingInstance": self.instance,
                "action": "Reconcile",
                "reason": event.reason,
                "note": message,
                "type": event.type,
                "regarding": ref,
            }
        return {
            "apiVersion": CORE_V1,
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref,
            "reason": event.reason,
            "message": message,
            "type": event.type,
            "count": 1,
            "firstTimestamp": _time(when),
            "lastTimestamp": _time(when),
            "source": {"component": self.component, "host": self.instance},
            "reportingComponent": self.component,
            "reportingInstance": self.instance,
        }

    def _series_patch(self, count: int, when: datetime) -> dict[str, Any]:
        if self.api_version == EVENTS_V1:
            return {"series": {"count": count, "lastObservedTime": _micro_time(when)}}
        return {"count": count, "lastTimestamp": _time(when)}

    async def aclose(self) -> None:
        """Stop accepting events."""
        await self._send.aclose()
