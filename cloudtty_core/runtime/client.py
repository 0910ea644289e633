"""The API server as the runtime sees it: the official client's REST layer, with plain dicts.

The runtime works with manifests (``dict``), never with the generated model classes: every
kind -- built-in, CloudShell, a plugin's Istio VirtualService -- goes through the same few
verbs, and nothing is converted twice. :class:`KubeClient` uses the official ``kubernetes``
package for everything that matters to a client (configuration from kubeconfig or the pod's
ServiceAccount, TLS, bearer tokens and their refresh, connection pooling) and only builds the
paths itself.

The client is synchronous and thread-safe. On asyncio the runtime sends its requests from the
event loop instead (:mod:`cloudtty_core.runtime.loophttp`), with this client's configuration,
headers, credentials and answer decoding; it calls this client from worker threads for the rest
(see :mod:`cloudtty_core.runtime.api`). Failures are :class:`ApiError` subclasses carrying the
Kubernetes ``Status`` (code, reason, message); connection failures are :class:`TransportError`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from cloudtty_core.backends import ObjectRef
from cloudtty_core.model import Manifest

from . import verbs
from .resources import BUILTIN_RESOURCES, Resource, label_selector
from .verbs import MERGE_PATCH, ApiRequest
from .watchstream import WatchStream, decode_json

__all__ = [
    "MERGE_PATCH",
    "AlreadyExists",
    "ApiError",
    "ApiRequest",
    "Conflict",
    "Forbidden",
    "Gone",
    "Invalid",
    "KubeClient",
    "NotFound",
    "RequestObserver",
    "Resource",
    "TooManyRequests",
    "TransportError",
    "WatchStream",
    "label_selector",
]

CREDENTIALS_REUSE_SECONDS = 1.0
"""How long a request reuses the credential headers the official client gave the one before."""

RequestObserver = Callable[[str, str, int, float], None]
"""Called after a request with (verb, resource, HTTP status -- 0 when no answer came --, seconds
it took): every request that does not go through the official client's REST layer, which
:func:`~cloudtty_core.runtime.metrics.instrument` counts (watches, and everything when a proxy
is set)."""


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """The API server refused a request (or could not be reached: :class:`TransportError`).

    ``status`` is the HTTP code, ``reason`` the Status reason (``NotFound``, ``Conflict``,
    ``AlreadyExists``, ``Invalid``, ...), ``retry_after`` the delay the server asked for.
    """

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        retry_after: float | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        self.details: Mapping[str, Any] = details or {}
        super().__init__(f"{status} {reason}: {message}" if status else message)


class TransportError(ApiError):
    """No answer: the connection failed, was reset or timed out."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "TransportError", message)

    @classmethod
    def of(cls, request: ApiRequest, error: BaseException) -> TransportError:
        """No answer to ``request`` because of ``error`` (named with its type)."""
        return cls(f"{request.method} {request.path}: {type(error).__name__}: {error}")


class NotFound(ApiError):
    """404: the object (or its namespace, or its kind) does not exist."""


class Conflict(ApiError):
    """409 Conflict: the object changed since its resourceVersion was read."""


class AlreadyExists(ApiError):
    """409 AlreadyExists: an object of that name exists already."""


class Gone(ApiError):
    """410: the resourceVersion to resume from was compacted away; list again."""


class Invalid(ApiError):
    """422 Invalid or 400 BadRequest: the object itself is wrong; retrying will not help."""


class Forbidden(ApiError):
    """403: the operator's ServiceAccount may not do this."""


class TooManyRequests(ApiError):
    """429: the server sheds load; ``retry_after`` says when to come back."""


def _error_class(status: int, reason: str) -> type[ApiError]:
    if status == 404:
        return NotFound
    if status == 409:
        return AlreadyExists if reason == "AlreadyExists" else Conflict
    if status == 410:
        return Gone
    if status in (400, 422):
        return Invalid
    if status == 403:
        return Forbidden
    if status == 429:
        return TooManyRequests
    return ApiError


def error_from_status(
    status: int, body: bytes | Mapping[str, Any] | None, retry_after: str | None = None
) -> ApiError:
    """The :class:`ApiError` for an HTTP answer ``status`` with a ``Status`` ``body``."""
    parsed: Mapping[str, Any] = {}
    if isinstance(body, Mapping):
        parsed = body
    elif body:
        try:
            loaded = json.loads(body)
        except ValueError:
            loaded = None
        if isinstance(loaded, Mapping):
            parsed = loaded
    reason = str(parsed.get("reason") or _DEFAULT_REASONS.get(status, "Unknown"))
    message = str(
        parsed.get("message")
        or (body[:200].decode(errors="replace") if isinstance(body, bytes) else "")
    )
    details = parsed.get("details") if isinstance(parsed.get("details"), Mapping) else {}
    delay: float | None = None
    if retry_after:
        try:
            delay = float(retry_after)
        except ValueError:
            delay = None
    if delay is None and isinstance(details, Mapping) and details.get("retryAfterSeconds"):
        delay = float(details["retryAfterSeconds"])
    return _error_class(status, reason)(
        status, reason, message, retry_after=delay, details=details or {}
    )


_DEFAULT_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------


class KubeClient:
    """The runtime's synchronous, thread-safe API client (manifests in, manifests out).

    Build one with :meth:`from_kubeconfig`, :meth:`in_cluster`, :meth:`for_url` or from a
    configured ``kubernetes.client.ApiClient``.

    :param api_client: the official client, configured (host, TLS, token).
    :param on_request: observer of the requests the official client's REST layer does not see
        (see :data:`RequestObserver`).
    :param timeout: (connect, read) seconds for requests that are not watches.
    """

    def __init__(
        self,
        api_client: Any,
        *,
        on_request: RequestObserver | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
    ) -> None:
        self.api_client = api_client
        self.on_request = on_request
        self.timeout = timeout
        self._resources: dict[tuple[str, str], Resource] = {
            (r.api_version, r.kind): r for r in BUILTIN_RESOURCES
        }
        self._lock = threading.Lock()
        self._pool: Any = None  # see _direct_pool
        self._pool_of: Any = None
        self._prefix: str | None = None  # the server URL's path (see target)
        self._credential_headers: dict[str, str] | None = None
        self._timeouts: dict[Any, Any] = {}
        self._credentials_at = 0.0

    # Construction ------------------------------------------------------------------------

    @classmethod
    def from_kubeconfig(
        cls, path: str | Path | None = None, context: str | None = None, **kwargs: Any
    ) -> KubeClient:
        """A client for the cluster of a kubeconfig file (default: ``$KUBECONFIG`` or
        ``~/.kube/config``) and context (default: the current one)."""
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(path) if path is not None else None,
            context=context,
            client_configuration=configuration,
        )
        return cls(client.ApiClient(configuration), **kwargs)

    @classmethod
    def in_cluster(cls, **kwargs: Any) -> KubeClient:
        """A client using the pod's ServiceAccount (running inside the cluster)."""
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return cls(client.ApiClient(configuration), **kwargs)

    @classmethod
    def for_url(cls, url: str, token: str | None = None, **kwargs: Any) -> KubeClient:
        """A client for ``url`` with a bearer ``token`` (no TLS verification for http)."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = url
        if token:
            configuration.api_key = {"authorization": token}
            configuration.api_key_prefix = {"authorization": "Bearer"}
        configuration.verify_ssl = url.startswith("https://")
        return cls(client.ApiClient(configuration), **kwargs)

    def set_pool_size(self, connections: int) -> None:
        """Keep up to ``connections`` connections open (requests in flight plus watches)."""
        from kubernetes import client

        configuration = self.api_client.configuration
        configuration.connection_pool_maxsize = max(connections, 1)
        self.api_client.rest_client = client.rest.RESTClientObject(configuration)

    @property
    def server(self) -> str:
        """The API server URL this client talks to."""
        return str(self.api_client.configuration.host)

    def ca_data(self) -> bytes | None:
        """The CA bundle this client trusts (PEM), when it has one."""
        configuration = self.api_client.configuration
        if getattr(configuration, "ca_cert_data", None):
            data = configuration.ca_cert_data
            return data.encode() if isinstance(data, str) else bytes(data)
        path = getattr(configuration, "ssl_ca_cert", None)
        if path:
            try:
                return Path(path).read_bytes()
            except OSError:
                return None
        return None

    def close(self) -> None:
        """Close pooled connections."""
        self.api_client.close()

    # Resources ---------------------------------------------------------------------------

    def register(self, *resources: Resource) -> None:
        """Teach the client resource names it cannot guess (a plugin's kinds)."""
        with self._lock:
            for resource in resources:
                self._resources[(resource.api_version, resource.kind)] = resource

    def resource(self, api_version: str, kind: str) -> Resource:
        """The resource of a kind: known ones at once, others through discovery (cached)."""
        key = (api_version, kind)
        found = self._resources.get(key)
        if found is not None:
            return found
        probe = Resource(api_version, kind, "")
        listing = self.request("GET", probe.base, verb="discover", resource=api_version)
        for entry in listing.get("resources") or ():
            if entry.get("kind") == kind and "/" not in str(entry.get("name")):
                resource = Resource(
                    api_version, kind, str(entry["name"]), bool(entry.get("namespaced"))
                )
                self.register(resource)
                return resource
        raise NotFound(404, "NotFound", f"the server does not serve {kind} in {api_version}")

    def known_resource(self, api_version: str, kind: str) -> Resource | None:
        """The resource of a kind when known without asking the server; None otherwise."""
        return self._resources.get((api_version, kind))

    def resource_of(self, manifest: Mapping[str, Any]) -> Resource:
        """The resource of a manifest (by its apiVersion and kind)."""
        return self.resource(str(manifest["apiVersion"]), str(manifest["kind"]))

    def serves(self, api_version: str, kind: str) -> bool:
        """Whether the server serves ``kind`` in ``api_version`` (asks discovery)."""
        probe = Resource(api_version, kind, "")
        try:
            listing = self.request("GET", probe.base, verb="discover", resource=api_version)
        except NotFound:
            return False
        return any(
            entry.get("kind") == kind and "/" not in str(entry.get("name"))
            for entry in listing.get("resources") or ()
        )

    # Requests ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, Any]] = (),
        body: Any = None,
        content_type: str | None = None,
        verb: str = "",
        resource: str = "",
        timeout: Any = None,
    ) -> Manifest:
        """One request; the decoded JSON answer, or an :class:`ApiError`."""
        return self.send(
            ApiRequest(method, path, query, body, content_type, verb, resource, timeout)
        )

    def send(self, request: ApiRequest) -> Manifest:
        """Send ``request`` (blocking); the decoded JSON answer, or an :class:`ApiError`."""
        direct = self._direct_pool()
        if direct is not None:
            status, data, retry_after = self._send_direct(direct, request)
        else:
            response = self._send(request)
            try:
                data = response.read()
            except Exception as error:
                raise TransportError.of(request, error) from None
            status, retry_after = response.status, response.getheader("Retry-After")
        return self.answer(status, data, retry_after)

    def answer(self, status: int, data: bytes, retry_after: str | None) -> Manifest:
        """The decoded JSON of an answer with HTTP ``status``, or its :class:`ApiError`."""
        if not 200 <= status < 300:
            raise error_from_status(status, data, retry_after)
        if not data:
            return {}
        try:
            decoded = decode_json(data)
        except ValueError:
            raise ApiError(
                status,
                "InvalidResponse",
                f"the answer ({status}) is not JSON: {data[:80].decode(errors='replace')!r}",
            ) from None
        return decoded if isinstance(decoded, dict) else {"items": decoded}

    def target(self, request: ApiRequest) -> str:
        """The request target of ``request``: the server URL's path, the request's path and
        its query."""
        params = _present(request.query)
        if self._prefix is None:
            self._prefix = urlsplit(str(self.api_client.configuration.host)).path.rstrip("/")
        return self._prefix + request.path + (f"?{urlencode(params)}" if params else "")

    def headers(self, request: ApiRequest) -> dict[str, str]:
        """The headers of ``request`` but its credentials: the official client's default
        headers (its User-Agent), Accept and Content-Type."""
        return {**self.api_client.default_headers, **_headers(request.body, request.content_type)}

    def timeout_of(self, request: ApiRequest) -> tuple[float, float] | float:
        """(connect, read) seconds for ``request``, or a total."""
        return request.timeout or self.timeout

    def observe(self, request: ApiRequest, status: int, seconds: float) -> None:
        """Tell the observer of requests (if any) that ``request`` got ``status`` after
        ``seconds``."""
        if self.on_request is not None:
            verb = request.verb or request.method.lower()
            self.on_request(verb, request.resource, status, seconds)

    def _direct_pool(self) -> Any:
        """The official client's connection pool to the API server, for requests that need
        nothing of the generated client but its configuration: None when a proxy is set (the
        official client's own request path handles proxies)."""
        rest = self.api_client.rest_client
        pool = self._pool
        if pool is not None and self._pool_of is rest:
            return pool
        configuration = self.api_client.configuration
        manager = getattr(rest, "pool_manager", None)
        if manager is None or getattr(configuration, "proxy", None):
            return None
        pool = manager.connection_from_url(str(configuration.host))
        self._pool, self._pool_of = pool, rest
        return pool

    def _send_direct(self, pool: Any, request: ApiRequest) -> tuple[int, bytes, str | None]:
        """One request on the official client's connection pool, with its TLS settings, its
        headers and its credentials (refreshed by it where they expire): the generated
        client's request building costs more CPU than the request itself (its recursive
        serialisation of the body, URL parsing, header copies -- about 40 % of a PUT), and the
        operator sends thousands of requests in a burst."""
        started = time.monotonic()
        method = request.method
        headers = self.headers(request)
        url = self.target(request)
        payload = encode_body(request.body) if request.body is not None else None
        timeout = self._urllib3_timeout(self.timeout_of(request))
        credentials = self.cached_credentials()
        reused = credentials is not None
        if credentials is None:
            credentials = self.fresh_credentials()
        status, data, retry_after = self._urlopen(
            pool, method, url, payload, {**headers, **credentials}, timeout
        )
        if status == 401 and reused:
            # Reused credentials that expired meanwhile: ask the official client again.
            credentials = self.fresh_credentials()
            status, data, retry_after = self._urlopen(
                pool, method, url, payload, {**headers, **credentials}, timeout
            )
        self.observe(request, status, time.monotonic() - started)
        if isinstance(data, Exception):
            raise TransportError.of(request, data) from None
        return status, data, retry_after

    def _urlopen(
        self, pool: Any, method: str, url: str, payload: bytes | None, headers: Any, timeout: Any
    ) -> tuple[int, Any, str | None]:
        """(status, body, Retry-After); status 0 and the exception when the request failed."""
        try:
            response = pool.urlopen(
                method,
                url,
                body=payload,
                headers=headers,
                timeout=timeout,
                preload_content=False,
                assert_same_host=False,
            )
            try:
                data = response.read()
            finally:
                response.release_conn()
            return int(response.status), data, response.headers.get("Retry-After")
        except Exception as error:
            return 0, error, None

    def cached_credentials(self) -> dict[str, str] | None:
        """The credential headers the official client gave less than
        :data:`CREDENTIALS_REUSE_SECONDS` ago; None when there are none that recent (ask
        :meth:`fresh_credentials`, which may block)."""
        cached = self._credential_headers
        if cached is not None and time.monotonic() - self._credentials_at < (
            CREDENTIALS_REUSE_SECONDS
        ):
            return cached
        return None

    def fresh_credentials(self) -> dict[str, str]:
        """The official client's credential headers, asked now.

        Asking runs its refresh hook, which re-applies the whole kubeconfig to the
        configuration (its ``host`` setter reads every proxy variable of the environment; an
        exec plugin runs a program): about an eighth of a request's CPU, so the answer is
        reused for :data:`CREDENTIALS_REUSE_SECONDS`, and a 401 on reused credentials asks
        again at once.
        """
        headers: dict[str, str] = {}
        for setting in self.api_client.configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[setting["key"]] = setting["value"]
        self._credential_headers, self._credentials_at = headers, time.monotonic()
        return headers

    def _urllib3_timeout(self, timeout: Any) -> Any:
        """urllib3's Timeout for ``timeout`` (made once per value: urllib3 copies it for each
        request anyway, and making one validates every field)."""
        made = self._timeouts.get(timeout)
        if made is None:
            import urllib3

            if isinstance(timeout, tuple):
                made = urllib3.Timeout(connect=timeout[0], read=timeout[1])
            else:
                made = urllib3.Timeout(total=timeout)
            self._timeouts[timeout] = made
        return made

    def _send(self, request: ApiRequest) -> Any:
        """``request`` through the official client's generated request path (proxies)."""
        params = _present(request.query)
        method_, url, header_params, body_, post = self.api_client.param_serialize(
            request.method,
            request.path,
            query_params=params,
            header_params=_headers(request.body, request.content_type),
            body=request.body,
            auth_settings=["BearerToken"],
        )
        try:
            return self.api_client.call_api(
                method_, url, header_params, body_, post, _request_timeout=self.timeout_of(request)
            )
        except ApiError:
            raise
        except Exception as error:
            raise TransportError.of(request, error) from None

    # Verbs -------------------------------------------------------------------------------

    def get(self, resource: Resource, namespace: str | None, name: str) -> Manifest:
        """GET one object."""
        return self.send(verbs.get(resource, namespace, name))

    def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
    ) -> Manifest:
        """One page of a LIST (``metadata.continue`` names the next page)."""
        return self.send(
            verbs.list_page(
                resource,
                namespace,
                labels=labels,
                limit=limit,
                continue_=continue_,
                resource_version=resource_version,
            )
        )

    def create(self, manifest: Manifest) -> Manifest:
        """POST ``manifest`` (its namespace from ``metadata.namespace``)."""
        return self.send(verbs.create(self.resource_of(manifest), manifest))

    def replace(self, manifest: Manifest, *, subresource: str | None = None) -> Manifest:
        """PUT ``manifest``; its ``metadata.resourceVersion`` is a precondition (409)."""
        return self.send(verbs.replace(self.resource_of(manifest), manifest, subresource))

    def patch(
        self,
        ref: ObjectRef,
        merge_patch: Manifest,
        *,
        subresource: str | None = None,
    ) -> Manifest:
        """A JSON merge patch; a ``metadata.resourceVersion`` in it is a precondition (409)."""
        resource = self.resource(ref.api_version, ref.kind)
        return self.send(verbs.patch(resource, ref, merge_patch, subresource))

    def delete(
        self, ref: ObjectRef, *, propagation: str = "Background", uid: str | None = None
    ) -> Manifest:
        """DELETE one object (optionally only if it still has ``uid``)."""
        resource = self.resource(ref.api_version, ref.kind)
        return self.send(verbs.delete(resource, ref, propagation, uid))

    def request_token(
        self,
        namespace: str,
        service_account: str,
        expiration_seconds: int,
        audiences: Sequence[str] = (),
    ) -> str:
        """A token for a ServiceAccount through the TokenRequest API. Never log it."""
        service_accounts = self.resource("v1", "ServiceAccount")
        answer = self.send(
            verbs.token_request(
                service_accounts, namespace, service_account, expiration_seconds, audiences
            )
        )
        return token_from(answer)

    def watch(
        self,
        resource: Resource,
        namespace: str | None,
        resource_version: str,
        *,
        timeout_seconds: int = 300,
        labels: Mapping[str, str] | None = None,
    ) -> WatchStream:
        """Open a watch from ``resource_version`` with bookmarks.

        The server ends it after about ``timeout_seconds``; a read timeout a little longer
        catches a connection that died silently.
        """
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", int(timeout_seconds)),
            ("labelSelector", label_selector(labels)),
        ]
        response = self._send(
            ApiRequest(
                "GET",
                resource.path(namespace),
                query,
                verb="watch",
                resource=str(resource),
                timeout=(self.timeout[0], timeout_seconds + 30),
            )
        )
        if not 200 <= response.status < 300:
            try:
                data = response.read()
            except Exception:  # the error body is a courtesy
                data = b""
            raise error_from_status(response.status, data, response.getheader("Retry-After"))
        return WatchStream(response.response, _broken_stream)


def _broken_stream(reason: str) -> TransportError:
    return TransportError(f"watch stream broke: {reason}")


def token_from(answer: Manifest) -> str:
    """The token of a TokenRequest's answer; an :class:`ApiError` when it holds none."""
    token = verbs.token_of(answer)
    if token is None:
        raise ApiError(500, "InternalError", "the TokenRequest answer holds no token")
    return token


def encode_body(body: Any) -> bytes:
    """A request body as JSON (``orjson``: a fifth of the standard library's CPU)."""
    try:
        return orjson.dumps(body)
    except TypeError:  # what orjson refuses (an integer beyond 64 bits, a non-str key)
        return json.dumps(body).encode()


def _headers(body: Any, content_type: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type or "application/json"
    return headers


def _present(query: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The query parameters that have a value."""
    return [(key, value) for key, value in query if value is not None]
