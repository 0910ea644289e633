"""The API client from async code: requests written and read by the event loop, or each in a
worker thread; a bounded number at once.

On asyncio the event loop sends the requests itself on kept-alive connections
(:class:`~cloudtty_core.runtime.loophttp.LoopHttp`), with the official client's configuration
and credentials: no thread, no hand-over of the interpreter lock. Elsewhere (another event loop
through anyio, or a configuration only the official client's own path covers, such as a proxy)
each request runs in a worker thread (:class:`~cloudtty_core.runtime.threads.RequestThreads`
on asyncio, anyio's worker threads elsewhere). Either way at most ``concurrency`` requests are
in flight: that bounds the load the operator puts on the API server, and the event loop stays
free for the caches, the queue and planning. Watches do not count (see
:mod:`cloudtty_core.runtime.informer`).

A cancelled call waits for its request to be answered (bounded by the client's timeouts), so a
write is never abandoned half-sent.
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

from . import verbs
from .client import KubeClient, token_from
from .loophttp import LoopHttp
from .resources import Resource
from .threads import RequestThreads
from .verbs import ApiRequest

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
    :param loop_requests: on asyncio, let the event loop send the requests (see the module);
        False sends every request through the official client in a thread.

    Create it inside the event loop (the limiter belongs to it).
    """

    def __init__(
        self, client: KubeClient, concurrency: int = 16, *, loop_requests: bool = True
    ) -> None:
        self.client = client
        self.concurrency = concurrency
        self.loop_requests = loop_requests
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.threads = RequestThreads(concurrency)
        self._http: LoopHttp | None = None
        self._http_loop: asyncio.AbstractEventLoop | None = None

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` in a worker thread, at most ``concurrency`` at once."""
        work = functools.partial(fn, *args, **kwargs)
        if _on_asyncio():
            return await self.threads.call(work)
        return await anyio.to_thread.run_sync(work, limiter=self.limiter)

    async def send(self, request: ApiRequest) -> Manifest:
        """Send ``request``: by the event loop where it can (see the module), else in a
        worker thread."""
        http = self._loop_http()
        if http is not None:
            return await http.send(request)
        return await self.call(self.client.send, request)

    def _loop_http(self) -> LoopHttp | None:
        if not self.loop_requests:
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        if self._http_loop is not loop:
            if self._http is not None:
                self._http.close()
            self._http_loop = loop
            self._http = LoopHttp.for_client(self.client, self.concurrency, self.threads.call)
        return self._http

    def close(self) -> None:
        """Close the event loop's connections (call on the loop; requests still awaited
        fail)."""
        if self._http is not None:
            self._http.close()

    async def resource(self, api_version: str, kind: str) -> Resource:
        """See :meth:`KubeClient.resource`."""
        known = self.client.known_resource(api_version, kind)
        if known is not None:
            return known
        return await self.call(self.client.resource, api_version, kind)

    async def serves(self, api_version: str, kind: str) -> bool:
        """See :meth:`KubeClient.serves`."""
        return await self.call(self.client.serves, api_version, kind)

    async def get(self, resource: Resource, namespace: str | None, name: str) -> Manifest:
        """See :meth:`KubeClient.get`."""
        return await self.send(verbs.get(resource, namespace, name))

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
        return await self.send(
            verbs.list_page(
                resource,
                namespace,
                labels=labels,
                limit=limit,
                continue_=continue_,
                resource_version=resource_version,
            )
        )

    async def create(self, manifest: Manifest) -> Manifest:
        """See :meth:`KubeClient.create`."""
        return await self.send(verbs.create(await self._resource_of(manifest), manifest))

    async def replace(self, manifest: Manifest, *, subresource: str | None = None) -> Manifest:
        """See :meth:`KubeClient.replace`."""
        resource = await self._resource_of(manifest)
        return await self.send(verbs.replace(resource, manifest, subresource))

    async def patch(
        self, ref: ObjectRef, merge_patch: Manifest, *, subresource: str | None = None
    ) -> Manifest:
        """See :meth:`KubeClient.patch`."""
        resource = await self.resource(ref.api_version, ref.kind)
        return await self.send(verbs.patch(resource, ref, merge_patch, subresource))

    async def delete(
        self, ref: ObjectRef, *, propagation: str = "Background", uid: str | None = None
    ) -> Manifest:
        """See :meth:`KubeClient.delete`."""
        resource = await self.resource(ref.api_version, ref.kind)
        return await self.send(verbs.delete(resource, ref, propagation, uid))

    async def request_token(
        self,
        namespace: str,
        service_account: str,
        expiration_seconds: int,
        audiences: Sequence[str] = (),
    ) -> str:
        """See :meth:`KubeClient.request_token`."""
        service_accounts = await self.resource("v1", "ServiceAccount")
        answer = await self.send(
            verbs.token_request(
                service_accounts, namespace, service_account, expiration_seconds, audiences
            )
        )
        return token_from(answer)

    async def _resource_of(self, manifest: Manifest) -> Resource:
        return await self.resource(str(manifest["apiVersion"]), str(manifest["kind"]))
