"""The API verbs and object semantics shared by every kind.

create/get/list/update/patch/delete/deletecollection/watch with uid, resourceVersion, generation,
creationTimestamp, generateName, status subresources, finalizers and deletionTimestamp. The HTTP
layer and the in-process controllers (kubelet, garbage collector, …) both call this class; all of
it runs on the event loop without awaiting, so every verb is atomic.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import attrs
import orjson

from . import errors, meta
from .errors import ApiError, Cause
from .patches import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    json_merge_patch,
    json_patch,
    json_patch_unknown_keys,
    strategic_merge_patch,
)
from .resources import Registry, ResourceType
from .schemaplan import DecodeError, go_json, go_map_text, go_quote, read_object_meta
from .selectors import FieldSelector, Matcher
from .store import Store
from .strategy import Strategy
from .watchcache import BOOKMARK, Encoder, Watcher, encode_event

_SYSTEM_META = (
    "uid",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
FOREGROUND = "foregroundDeletion"
log = logging.getLogger(__name__)

Warnings = list[str]
"""Where a write collects its warnings (named outside ``Cluster``, whose ``list`` method
would shadow the builtin in its annotations)."""
ORPHAN = "orphan"


def clone(obj: Any) -> Any:
    """A deep copy of a JSON value (orjson round trip: much faster than copy.deepcopy)."""
    return orjson.loads(orjson.dumps(obj))


@attrs.define
class DeleteOptions:
    """The parts of ``DeleteOptions`` the sandbox honours."""

    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    dry_run: bool = False

    @classmethod
    def parse(cls, body: Any, query: dict[str, str]) -> DeleteOptions:
        body = body if isinstance(body, dict) else {}
        grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        policy = body.get("propagationPolicy", query.get("propagationPolicy"))
        orphan = body.get("orphanDependents", query.get("orphanDependents"))
        if policy is None and orphan is not None:
            policy = "Orphan" if str(orphan).lower() == "true" else "Background"
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise errors.bad_request(
                f"invalid propagationPolicy {policy!r}: must be one of "
                "Orphan, Background, Foreground"
            )
        pre = body.get("preconditions") or {}
        dry = body.get("dryRun") or query.get("dryRun")
        try:
            grace_int = int(grace) if grace is not None else None
        except (TypeError, ValueError):
            raise errors.bad_request(f"invalid gracePeriodSeconds {grace!r}") from None
        return cls(grace_int, policy, pre.get("uid"), pre.get("resourceVersion"), bool(dry))


def _strip_rv(obj: dict[str, Any]) -> dict[str, Any]:
    meta_ = {
        k: v for k, v in obj["metadata"].items() if k not in ("resourceVersion", "managedFields")
    }
    return {**obj, "metadata": meta_}


def _content(obj: dict[str, Any], with_status: bool) -> dict[str, Any]:
    return {
        k: v
        for k, v in obj.items()
        if k not in ("metadata", "apiVersion", "kind") and (with_status or k != "status")
    }


class Cluster:
    """Object semantics over a ``Store``, dispatching kind-specific rules to strategies."""

    def __init__(self, registry: Registry, store: Store) -> None:
        self.registry = registry
        self.store = store
        self.strategies: dict[str, Strategy] = {}
        self.default_strategy = Strategy()
        self.protected_namespaces: set[str] = set()
        # The CA certificate when the API speaks HTTPS (published as kube-root-ca.crt).
        self.ca_pem: str | None = None

    # ---------------------------------------------------------------- helpers
    def strategy(self, rtype: ResourceType) -> Strategy:
        return self.strategies.get(rtype.storage, self.default_strategy)

    def rtype(self, storage: str) -> ResourceType:
        rtype = self.registry.any_version(storage)
        if rtype is None:
            raise ApiError(404, f"the server could not find the requested resource ({storage})")
        return rtype

    @staticmethod
    def present(rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` as seen at ``rtype``'s version (custom resources may be served at several)."""
        if obj.get("apiVersion") == rtype.api_version:
            return obj
        return {**obj, "apiVersion": rtype.api_version}

    def _ns(self, rtype: ResourceType, namespace: str | None) -> str:
        if rtype.namespaced:
            if not namespace:
                raise errors.bad_request("a namespace is required for namespaced resources")
            return namespace
        return ""

    def _check_namespace_open(self, namespace: str) -> None:
        ns = self.store.get("namespaces", "", namespace)
        if ns is None:
            raise errors.not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
                reason="Forbidden",
                details={
                    "name": namespace,
                    "kind": "namespaces",
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {namespace} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                },
            )

    def _invalid(self, rtype: ResourceType, name: str, causes: list[Cause]) -> ApiError:
        return errors.invalid(rtype.kind, rtype.group, name, causes)

    @staticmethod
    def _undecodable(rtype: ResourceType, why: str) -> errors.Undecodable:
        """The 400 of a body the API server cannot decode into ``rtype``'s object (``why``:
        the decoder's error)."""
        return errors.Undecodable(
            f'{rtype.kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}: {why}',
            why,
        )

    @staticmethod
    def _unknown_discarded(rtype: ResourceType, body: dict[str, Any], *, status: bool) -> list[str]:
        """The unknown fields of the part of ``body`` that the write does not keep: its status
        (``status``; a custom resource with a status subresource, written through the main
        resource) or all but its metadata and status (a write of the status subresource).
        The API server decodes the whole body first, so it reports them all the same."""
        if rtype.schema is None:
            return []
        probe = {
            key: clone(value)
            for key, value in body.items()
            if key not in ("apiVersion", "kind", "metadata") and (key == "status") == status
        }
        if not probe:
            return []
        probe.update(apiVersion=body.get("apiVersion"), kind=body.get("kind"), metadata={})
        try:
            return rtype.schema.prune(probe)
        except DecodeError:  # an embedded object the write does not keep
            return []

    def _decode_metadata(self, rtype: ResourceType, body: dict[str, Any]) -> list[str]:
        """Cut ``body``'s metadata to an ObjectMeta, as decoding it does for every kind: unknown
        fields are dropped (their paths returned, for Strict), empty ones left out, timestamps
        written in UTC; a value of the wrong type fails the request with a 400. A custom
        resource's metadata is decoded on its own, a built-in kind's as a field of the whole
        object (which Go's type errors name from the object's root)."""
        try:
            kept, unknown = read_object_meta(
                body.get("metadata"), owner=None if rtype.is_crd else rtype.kind
            )
        except ValueError as exc:
            raise self._undecodable(rtype, str(exc)) from None
        body["metadata"] = kept
        return unknown

    def _admit(
        self,
        rtype: ResourceType,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        strict: bool,
        unknown: list[str],
        warnings: Warnings | None = None,
        discarded: list[str] | None = None,
    ) -> None:
        """Default, prune and validate ``obj``; ``unknown`` holds the metadata fields its
        decoding dropped (the first of the unknown fields Strict refuses), ``discarded`` those
        of the part of the body the write does not keep. Unknown fields go to ``warnings``
        when it is given (``fieldValidation=Warn``, the API server's default)."""
        name = obj["metadata"].get("name") or obj["metadata"].get("generateName") or ""
        causes = meta.validate_metadata(
            obj["metadata"], namespaced=rtype.namespaced, name_rule=rtype.name_rule
        )
        if old is not None and causes:
            # Names were checked on create; updates only re-check labels and annotations.
            causes = [c for c in causes if c.field != "metadata.name"]
        pruned: list[str] = []
        if rtype.schema is not None:
            rtype.schema.default(obj)
            try:
                pruned = rtype.schema.prune(obj)
            except DecodeError as exc:
                raise self._undecodable(rtype, str(exc)) from None
        # One body's pruned paths, found in two parts: listed sorted together.
        dropped = [*unknown, *(sorted([*pruned, *discarded]) if discarded else pruned)]
        if dropped and strict:
            raise self._undecodable(
                rtype,
                errors.STRICT_DECODING + ", ".join(f'unknown field "{d}"' for d in dropped),
            )
        if dropped and warnings is not None:
            for field in dropped:
                if (warning := f'unknown field "{field}"') not in warnings:
                    warnings.append(warning)
        if rtype.schema is not None:
            causes.extend(rtype.schema.validate(obj, old))
        causes.extend(self.strategy(rtype).validate(self, rtype, obj, old))
        if causes:
            raise self._invalid(rtype, name, causes)

    # ---------------------------------------------------------------- read
    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self.store.get(rtype.storage, self._ns(rtype, namespace), name)
        if obj is None:
            raise errors.not_found(rtype.plural, rtype.group, name)
        return obj

    def find(self, storage: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.store.get(storage, namespace, name)

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None,
        labels: Matcher | None = None,
        fields: FieldSelector | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        scope = namespace if rtype.namespaced else None
        equalities = getattr(labels, "equalities", None)
        exact_name = fields.exact_name() if fields is not None else None
        if exact_name is not None:
            # metadata.name=x: at most one object per namespace, found without a scan.
            spaces = (
                [scope] if scope is not None else self.store.namespaces_with_objects(rtype.storage)
            )
            found = (self.store.get(rtype.storage, ns, exact_name) for ns in sorted(spaces))
            items = [obj for obj in found if obj is not None]
        elif equalities:
            items = self.store.labelled(rtype.storage, scope, equalities)
        else:
            items = self.store.items(rtype.storage, scope)
        if labels is not None:
            items = [o for o in items if labels(o["metadata"].get("labels") or {})]
        if fields is not None:
            items = [o for o in items if fields.matches(o)]
        list_meta: dict[str, Any] = {"resourceVersion": str(self.store.rv)}
        if continue_token:
            start = _decode_continue(continue_token)
            items = [o for o in items if _sort_key(o) > start]
        if limit and limit > 0 and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            list_meta["continue"] = _encode_continue(_sort_key(items[-1]))
            list_meta["remainingItemCount"] = remaining
        if rtype.is_crd:
            items = [self.present(rtype, o) for o in items]
        return {
            "kind": rtype.list_kind,
            "apiVersion": rtype.api_version,
            "metadata": list_meta,
            "items": items,
        }

    # ---------------------------------------------------------------- create
    def create(
        self,
        rtype: ResourceType,
        namespace: str | None,
        body: Any,
        *,
        dry_run: bool = False,
        strict: bool = False,
        warnings: Warnings | None = None,
    ) -> dict[str, Any]:
        """Create ``body`` (ownership passes to the cluster: it must not be shared). The
        fields the server drops are refused (``strict``) or added to ``warnings``."""
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        self._check_type(rtype, body)
        unknown = self._decode_metadata(rtype, body)
        meta_ = body["metadata"]
        ns = self._ns(rtype, namespace)
        if rtype.namespaced:
            given = meta_.get("namespace")
            if given and given != ns:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            meta_["namespace"] = ns
            self._check_namespace_open(ns)
        else:
            meta_.pop("namespace", None)
        if (
            not meta_.get("name")
            and isinstance(meta_.get("generateName"), str)
            and meta_["generateName"]
        ):
            for _ in range(8):
                candidate = meta_["generateName"] + meta.generate_suffix()
                if self.store.get(rtype.storage, ns, candidate) is None:
                    break
            meta_["name"] = candidate
        for key in (
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "resourceVersion",
            "selfLink",
            "managedFields",
        ):
            meta_.pop(key, None)
        meta_["uid"] = meta.new_uid()
        meta_["creationTimestamp"] = meta.rfc3339()
        meta_["generation"] = 1
        discarded: list[str] = []
        if rtype.has_status and rtype.is_crd:
            discarded = self._unknown_discarded(rtype, body, status=True)
            body.pop("status", None)
        strategy = self.strategy(rtype)
        if rtype.schema is None and not isinstance(meta_.get("name"), str):
            self._admit(rtype, body, None, strict, unknown, warnings)
        strategy.prepare_create(self, rtype, body)
        try:
            self._admit(rtype, body, None, strict, unknown, warnings, discarded)
            name = meta_["name"]
            if self.store.get(rtype.storage, ns, name) is not None:
                raise errors.already_exists(rtype.plural, rtype.group, name)
        except ApiError:
            strategy.rollback_create(self, rtype, body)
            raise
        if dry_run:
            strategy.rollback_create(self, rtype, body)
            return self.present(rtype, body)
        meta_["resourceVersion"] = str(self.store.next_rv())
        self.store.put(rtype.storage, body, None)
        strategy.after_create(self, rtype, body)
        return self.present(rtype, body)

    def _check_type(self, rtype: ResourceType, body: dict[str, Any]) -> None:
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if kind is not None and kind != rtype.kind:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rtype.api_version})"
                if api_version != rtype.api_version
                else f"kind {kind!r} does not match the expected kind {rtype.kind!r}"
            )
        if api_version is not None and api_version != rtype.api_version:
            allowed = {f"{rtype.group}/{v}" for v in rtype.served_versions}
            if api_version not in allowed:
                raise errors.bad_request(
                    f"the API version in the data ({api_version}) does not match the expected "
                    f"API version ({rtype.api_version})"
                )
        body["apiVersion"] = rtype.api_version
        body["kind"] = rtype.kind

    # ---------------------------------------------------------------- update
    def update(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
        warnings: Warnings | None = None,
        with_status: bool = False,
    ) -> dict[str, Any]:
        """PUT semantics: a resourceVersion in ``body`` is a precondition (409 when stale).

        ``with_status`` (in-process callers only, like the API server's own binding) stores
        the body's status together with the rest in one write.
        """
        if not isinstance(body, dict) or body.get("metadata") is None:
            raise errors.bad_request("the body of the request must be an object with metadata")
        unknown = self._decode_metadata(rtype, body)
        ns = self._ns(rtype, namespace)
        old = self.store.get(rtype.storage, ns, name)
        if old is None:
            raise errors.not_found(rtype.plural, rtype.group, name)
        self._check_type(rtype, body)
        new_meta = body["metadata"]
        if new_meta.get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({new_meta.get('name')}) does not match the name on the "
                f"URL ({name})"
            )
        if rtype.namespaced and new_meta.get("namespace", ns) != ns:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        rv = new_meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype.plural, rtype.group, name, errors.STALE)
        if new_meta.get("uid") and new_meta["uid"] != old["metadata"]["uid"]:
            raise errors.conflict(
                rtype.plural,
                rtype.group,
                name,
                f"Precondition failed: UID in precondition: {new_meta['uid']}, UID in object "
                f"meta: {old['metadata']['uid']}",
            )
        old_meta = old["metadata"]
        discarded: list[str] = []
        if subresource == "status":
            new = {**old, "metadata": dict(old_meta)}
            if "status" in body:
                new["status"] = body["status"]
            else:
                new.pop("status", None)
            if rtype.is_crd and (strict or warnings is not None):
                discarded = self._unknown_discarded(rtype, body, status=False)
        else:
            new = body
            new_meta["name"] = name
            if rtype.namespaced:
                new_meta["namespace"] = ns
            for key in _SYSTEM_META:
                if key in old_meta:
                    new_meta[key] = old_meta[key]
                else:
                    new_meta.pop(key, None)
            new_meta.pop("selfLink", None)
            if rtype.has_status and not with_status:
                if rtype.is_crd and body.get("status") != old.get("status"):
                    discarded = self._unknown_discarded(rtype, body, status=True)
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            if old_meta.get("deletionTimestamp"):
                added = set(new_meta.get("finalizers") or ()) - set(
                    old_meta.get("finalizers") or ()
                )
                if added:
                    raise self._invalid(
                        rtype,
                        name,
                        [
                            Cause(
                                "metadata.finalizers",
                                f"Forbidden: no new finalizers can be added if the object is being "
                                f"deleted, found new finalizers {sorted(added)!r}",
                                "FieldValueForbidden",
                            )
                        ],
                    )
        self._admit(rtype, new, old, strict, unknown, warnings, discarded)
        self.strategy(rtype).prepare_update(self, rtype, new, old)
        if subresource != "status" and (
            _content(new, not rtype.has_status) != _content(old, not rtype.has_status)
        ):
            new["metadata"]["generation"] = int(old_meta.get("generation") or 1) + 1
        if _strip_rv(new) == _strip_rv(old):
            return self.present(rtype, old)
        if dry_run:
            new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
            return self.present(rtype, new)
        return self.present(rtype, self._commit_update(rtype, new, old))

    def _commit_update(
        self, rtype: ResourceType, new: dict[str, Any], old: dict[str, Any]
    ) -> dict[str, Any]:
        new["metadata"]["resourceVersion"] = str(self.store.next_rv())
        meta_ = new["metadata"]
        if meta_.get("deletionTimestamp") and not meta_.get("finalizers") and not self._held(new):
            self._remove(rtype, new, old)
            return new
        self.store.put(rtype.storage, new, old)
        self.strategy(rtype).after_update(self, rtype, new, old)
        return new

    def _held(self, obj: dict[str, Any]) -> bool:
        """Namespaces wait for their own spec.finalizers as well as metadata.finalizers."""
        return obj.get("kind") == "Namespace" and bool((obj.get("spec") or {}).get("finalizers"))

    # ---------------------------------------------------------------- patch
    def patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        patch_type: str,
        patch: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
        warnings: Warnings | None = None,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        ns = self._ns(rtype, namespace)
        old = self.store.get(rtype.storage, ns, name)
        if patch_type == APPLY_PATCH:
            # Server-side apply, approximated: create when absent, else merge the applied
            # fields.
            if not isinstance(patch, dict):
                raise errors.bad_request("the body of an apply patch must be an object")
            if old is None:
                if subresource:
                    raise errors.not_found(rtype.plural, rtype.group, name)
                body = clone(patch)
                body.setdefault("metadata", {})["name"] = name
                return self.create(
                    rtype, ns or None, body, dry_run=dry_run, strict=strict, warnings=warnings
                )
            patched = self._applied(rtype, old, patch)
        else:
            patched = self._patched(rtype, name, old, patch_type, patch)
            if patch_type == JSON_PATCH and (strict or warnings is not None):
                self._check_operations(
                    rtype, ns, name, patch, patched, subresource, strict, warnings
                )
        try:
            return self.update(
                rtype,
                ns,
                name,
                patched,
                subresource=subresource,
                dry_run=dry_run,
                strict=strict,
                warnings=warnings,
            )
        except errors.Undecodable as exc:
            if patch_type == APPLY_PATCH:
                raise  # server-side apply answers as an update does
            # The API server's patch handler decodes the patched object itself and answers
            # a failure, a strict decoding error among them, as an invalid "patch" field: the
            # patched JSON for a JSON or merge patch, the patch's map for a strategic one.
            # Decoding changed ``patched`` in place: the object is patched again to be shown.
            shown = (
                go_map_text(patch)
                if patch_type == STRATEGIC_MERGE_PATCH
                else go_json(self._patched(rtype, name, old, patch_type, patch))
            )
            raise errors.patch_invalid(go_quote(shown), exc.why) from None

    def _check_operations(
        self,
        rtype: ResourceType,
        ns: str,
        name: str,
        operations: Any,
        patched: dict[str, Any],
        subresource: str | None,
        strict: bool,
        warnings: Warnings | None,
    ) -> None:
        """Unknown keys in a JSON patch's operations, as the API server's patch handler finds
        them under ``Strict`` and ``Warn``: warnings, or -- with the patched object's own
        unknown fields after them -- one strict decoding error of the invalid ``patch``,
        raised before the object is validated or written."""
        unknown = json_patch_unknown_keys(operations)
        if not unknown:
            return
        if not strict:
            assert warnings is not None
            warnings.extend(w for w in unknown if w not in warnings)
            return
        found = list(unknown)
        try:
            self.update(
                rtype, ns, name, clone(patched), subresource=subresource, dry_run=True, strict=True
            )
        except errors.Undecodable as exc:
            if not exc.why.startswith(errors.STRICT_DECODING):
                return  # a value that cannot be decoded outranks the strict errors
            found.append(exc.why.removeprefix(errors.STRICT_DECODING))
        except ApiError:
            pass  # the object's other faults are found after the patch is decoded
        raise errors.patch_invalid(
            go_quote(go_json(patched)), errors.STRICT_DECODING + ", ".join(found)
        )

    def _patched(
        self,
        rtype: ResourceType,
        name: str,
        old: dict[str, Any] | None,
        patch_type: str,
        patch: Any,
    ) -> dict[str, Any]:
        """The object ``old`` with a JSON, merge or strategic merge ``patch`` applied; a
        resourceVersion the patch sets is a precondition."""
        if old is None:
            raise errors.not_found(rtype.plural, rtype.group, name)
        current = self.present(rtype, old)
        if patch_type == MERGE_PATCH:
            if not isinstance(patch, dict):
                raise errors.bad_request("a merge patch must be a JSON object")
            patched = json_merge_patch(current, patch)
        elif patch_type == JSON_PATCH:
            patched = json_patch(current, patch)
        elif patch_type == STRATEGIC_MERGE_PATCH:
            if rtype.merge_keys is None:
                raise ApiError(
                    415,
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json-patch+json, application/merge-patch+json, "
                    "application/apply-patch+yaml",
                    reason="UnsupportedMediaType",
                )
            patched = strategic_merge_patch(current, patch, rtype.merge_keys)
        else:
            raise ApiError(
                415, f"unsupported patch type {patch_type!r}", reason="UnsupportedMediaType"
            )
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
            raise errors.bad_request("the patched object must be an object with metadata")
        patched_copy: dict[str, Any] = clone(patched)
        if "resourceVersion" not in patched_copy["metadata"]:
            # A patch without a resourceVersion never conflicts.
            pass
        elif patched_copy["metadata"]["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype.plural, rtype.group, name, errors.STALE)
        return patched_copy

    def _applied(
        self, rtype: ResourceType, old: dict[str, Any], body: dict[str, Any]
    ) -> dict[str, Any]:
        """The object ``old`` with the applied fields of ``body`` merged in (no
        precondition: an apply never conflicts on the resourceVersion)."""
        if rtype.merge_keys is not None:
            patched = strategic_merge_patch(self.present(rtype, old), body, rtype.merge_keys)
        else:
            patched = json_merge_patch(self.present(rtype, old), body)
        applied: dict[str, Any] = clone(patched)
        applied["metadata"].pop("resourceVersion", None)
        return applied

    # ---------------------------------------------------------------- delete
    def delete(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        options: DeleteOptions | None = None,
    ) -> dict[str, Any]:
        """Delete by name: finalizers and graceful kinds leave the object with deletionTimestamp."""
        options = options or DeleteOptions()
        ns = self._ns(rtype, namespace)
        old = self.store.get(rtype.storage, ns, name)
        if old is None:
            raise errors.not_found(rtype.plural, rtype.group, name)
        old_meta = old["metadata"]
        if options.uid and options.uid != old_meta["uid"]:
            raise errors.conflict(
                rtype.plural,
                rtype.group,
                name,
                f"Precondition failed: UID in precondition: {options.uid}, UID in object meta: "
                f"{old_meta['uid']}",
            )
        if options.resource_version and options.resource_version != old_meta["resourceVersion"]:
            raise errors.conflict(
                rtype.plural,
                rtype.group,
                name,
                f"Precondition failed: ResourceVersion in precondition: {options.resource_version}"
                f", ResourceVersion in object meta: {old_meta['resourceVersion']}",
            )
        if rtype.storage == "namespaces" and name in self.protected_namespaces:
            raise errors.forbidden(
                f'namespaces "{name}" is forbidden: this namespace may not be deleted'
            )
        finalizers = list(old_meta.get("finalizers") or ())
        if options.propagation_policy == "Foreground" and FOREGROUND not in finalizers:
            if not old_meta.get("deletionTimestamp") or finalizers:
                finalizers.append(FOREGROUND)
        elif options.propagation_policy == "Orphan" and ORPHAN not in finalizers:
            finalizers.append(ORPHAN)
        replacement = self.strategy(rtype).begin_delete(self, rtype, old, options)
        if replacement is None and not finalizers and not self._held(old):
            if options.dry_run:
                return self.present(rtype, old)
            final = {**old, "metadata": {**old_meta, "resourceVersion": str(self.store.next_rv())}}
            self._remove(rtype, final, old)
            return self.present(rtype, final)
        new = clone(replacement if replacement is not None else old)
        new_meta = new["metadata"]
        if finalizers:
            new_meta["finalizers"] = finalizers
        if not new_meta.get("deletionTimestamp"):
            new_meta["deletionTimestamp"] = meta.rfc3339()
            new_meta.setdefault("deletionGracePeriodSeconds", 0)
            if new_meta.get("generation"):
                new_meta["generation"] = int(new_meta["generation"]) + 1
        if _strip_rv(new) == _strip_rv(old):
            return self.present(rtype, old)
        if options.dry_run:
            return self.present(rtype, new)
        new_meta["resourceVersion"] = str(self.store.next_rv())
        self.store.put(rtype.storage, new, old)
        return self.present(rtype, new)

    def _remove(self, rtype: ResourceType, final: dict[str, Any], old: dict[str, Any]) -> None:
        self.store.remove(rtype.storage, final, old)
        self.strategy(rtype).after_remove(self, rtype, final)

    def remove_now(self, rtype: ResourceType, obj: dict[str, Any]) -> None:
        """Remove an object whatever its finalizers (a CRD's instances when the CRD goes)."""
        final = {
            **obj,
            "metadata": {**obj["metadata"], "resourceVersion": str(self.store.next_rv())},
        }
        self._remove(rtype, final, obj)

    def delete_collection(
        self,
        rtype: ResourceType,
        namespace: str | None,
        labels: Matcher | None,
        fields: FieldSelector | None,
        options: DeleteOptions,
    ) -> dict[str, Any]:
        listing = self.list(rtype, namespace, labels, fields)
        deleted = []
        for obj in listing["items"]:
            m = obj["metadata"]
            try:
                deleted.append(self.delete(rtype, m.get("namespace"), m["name"], options))
            except ApiError as exc:
                if exc.code != 404:
                    raise
        listing["items"] = deleted
        return listing

    # ---------------------------------------------------------------- controllers' helpers
    def mutate(
        self,
        storage: str,
        namespace: str,
        name: str,
        change: Callable[[dict[str, Any]], bool | None],
        *,
        subresource: str | None = None,
        with_status: bool = False,
    ) -> dict[str, Any] | None:
        """Apply ``change`` to a copy of the current object and store it (no-op when absent).

        ``change`` returns False to skip the write; ``with_status`` lets it change the spec
        and the status in one write.
        """
        rtype = self.registry.any_version(storage)
        current = self.store.get(storage, namespace, name)
        if rtype is None or current is None:
            return None
        if subresource == "status":
            # Only the status of the body is stored: copying the rest would be wasted work.
            copy = dict(current)
            if "status" in current:
                copy["status"] = clone(current["status"])
        else:
            copy = clone(current)
        if change(copy) is False:
            return current
        try:
            return self.update(
                rtype,
                namespace or None,
                name,
                copy,
                subresource=subresource,
                with_status=with_status,
            )
        except ApiError as exc:
            log.debug("internal update of %s %s/%s refused: %s", storage, namespace, name, exc)
            return None

    # ---------------------------------------------------------------- watch
    def watch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        resource_version: str | None,
        labels: Matcher | None,
        fields: FieldSelector | None,
        encoder: Encoder | None = None,
        send_initial_events: bool | None = None,
        bookmarks: bool = False,
    ) -> Watcher:
        """Open a watch; with no or "0" resourceVersion it starts with ADDED for every match."""
        ns = namespace if rtype.namespaced else None
        watcher = Watcher(ns, labels, fields, encoder)
        cache = self.store.cache(rtype.storage)
        if rtype.is_crd and encoder is None:
            present = self.present
            watcher.encoder = lambda type_, obj: encode_event(type_, present(rtype, obj))
        initial = (
            send_initial_events
            if send_initial_events is not None
            else (not resource_version or resource_version == "0")
        )
        if initial:
            for obj in self.list(rtype, ns, labels, fields)["items"]:
                line = (
                    watcher.encoder("ADDED", obj) if watcher.encoder else encode_event("ADDED", obj)
                )
                watcher.push(line)
            if send_initial_events and bookmarks:
                watcher.push(self.bookmark(rtype, initial_end=True))
        else:
            try:
                since = int(resource_version or 0)
            except ValueError:
                raise errors.bad_request(f"invalid resourceVersion {resource_version!r}") from None
            for event in cache.since(since):
                watcher.offer(event)
        watcher.last_rv = self.store.rv
        cache.add(watcher)
        return watcher

    def stop_watch(self, rtype: ResourceType, watcher: Watcher) -> None:
        watcher.close()
        self.store.cache(rtype.storage).discard(watcher)

    def bookmark(self, rtype: ResourceType, *, initial_end: bool = False) -> bytes:
        metadata: dict[str, Any] = {"resourceVersion": str(self.store.rv)}
        if initial_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        return encode_event(
            BOOKMARK, {"kind": rtype.kind, "apiVersion": rtype.api_version, "metadata": metadata}
        )

    def close_watches(self, storage: str | None = None) -> None:
        for cache in self.store.caches():
            cache.close_all()


def _sort_key(obj: dict[str, Any]) -> tuple[str, str]:
    m = obj["metadata"]
    return (m.get("namespace") or "", m["name"])


def _encode_continue(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        ns, name = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        return (str(ns), str(name))
    except (ValueError, TypeError):
        raise errors.bad_request(f"invalid continue token {token!r}") from None


def seconds_until(timestamp: str) -> float:
    when = meta.parse_time(timestamp)
    if when is None:
        return 0.0
    return (when - dt.datetime.now(dt.UTC)).total_seconds()
