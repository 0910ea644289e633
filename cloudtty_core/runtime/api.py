"""The API client from async code: each request in a worker thread, a bounded number at once.

The official client is synchronous. Rather than re-implementing it on an async HTTP stack, the
runtime runs its calls in worker threads (:class:`~cloudtty_core.runtime.threads.RequestThreads`
on asyncio, anyio's worker threads elsewhere), at most ``concurrency`` at once: that bounds the
requests in flight (and so the load the operator puts on the API server), and the event loop
stays free for the caches, the queue and planning. Watches do not count: each runs in a
thread of its own (see :mod:`cloudtty_core.runtime.informer`).

A cancelled call waits for its thread to finish the request (bounded by the client's
timeouts), so a write is never abandoned half-sent.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from cloudtty_core.backends import ObjectRef
from cloudtty_core.model import Manifest

from .client import KubeClient, Resource
from .threads import RequestThreads

__all__ = ["AsyncApi"]

T = TypeVar("T")


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class AsyncApi:
    """:class:`~cloudtty_core.runtime.client.KubeClient` for async callers.

    :param client: the synchronous client.
    :param concurrency: requests in flight at most (the limiter's tokens).

    Create it inside the event loop (the limiter belongs to it).
    """

    def __init__(self, client: KubeClient, concurrency: int = 16) -> None:
        self.client = client
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.threads = RequestThreads(concurrency)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` in a worker thread, at most ``concurrency`` at once."""
        work = functools.partial(fn, *args, **kwargs)
        if _on_asyncio():
            return await self.threads.call(work)
        return await anyio.to_thread.run_sync(work, limiter=self.limiter)

    async def resource(self, api_version: str, kind: str) -> Resource:
        """See :meth:`KubeClient.resource`."""
        return await self.call(self.client.resource, api_version, kind)

    async def serves(self, api_version: str, kind: str) -> bool:
        """See :meth:`KubeClient.serves`."""
        return await self.call(self.client.serves, api_version, kind)

    async def get(self, resource: Resource, namespace: str | None, name: str) -> Manifest:
        """See :meth:`KubeClient.get`."""
        return await self.call(self.client.get, resource, namespace, name)

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
    ) -> Manifest:
        """See :meth:`KubeClient.list`."""
        return await self.call(
            self.client.list,
            resource,
            namespace,
            labels=labels,
            limit=limit,
            continue_=continue_,
            resource_version=resource_version,
        )

    async def create(self, manifest: Manifest) -> Manifest:
        """See :meth:`KubeClient.create`."""
        return await self.call(self.client.create, manifest)

    async def replace(self, manifest: Manifest, *, subresource: str | None = None) -> Manifest:
        """See :meth:`KubeClient.replace`."""
        return await self.call(self.client.replace, manifest, subresource=subresource)

    async def patch(
        self, ref: ObjectRef, merge_patch: Manifest, *, subresource: str | None = None
    ) -> Manifest:
        """See :meth:`KubeClient.patch`."""
        return await self.call(self.client.patch, ref, merge_patch, subresource=subresource)

    async def delete(
        self, ref: ObjectRef, *, propagation: str = "Background", uid: str | None = None
    ) -> Manifest:
        """See :meth:`KubeClient.delete`."""
        return await self.call(self.client.delete, ref, propagation=propagation, uid=uid)

    async def request_token(
        self,
        namespace: str,
        service_account: str,
        expiration_seconds: int,
        audiences: Sequence[str] = (),
    ) -> str:
        """See :meth:`KubeClient.request_token`."""
        return await self.call(
            self.client.request_token, namespace, service_account, expiration_seconds, audiences
        )
