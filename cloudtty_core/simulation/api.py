"""``apply_plan(snapshot, plan) -> Snapshot``: what the API server would make of a plan.

A small, strict simulation: uid, resourceVersion, generation and creationTimestamp are assigned;
generateName is completed; a stale resourceVersion is a :class:`Conflict`; creating an existing
name is :class:`AlreadyExists`; a Secret's stringData becomes data; Services get a clusterIP and
NodePort Services a nodePort; a pod whose ServiceAccount does not exist is refused; deleting an
object with finalizers only marks it; owner references are garbage collected. Writes are
applied in the runtime's order (see ``Plan``) and the first error stops the plan, as in the
runtime.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cloudtty_core.backends import ObjectRef, Snapshot, copy_json
from cloudtty_core.model import API_VERSION, KIND, Manifest, format_time, status_to_dict
from cloudtty_core.plan import KubeconfigIssue, Patch, Plan
from cloudtty_core.plan.objects import normalize

__all__ = ["AlreadyExists", "ApiError", "Conflict", "NotFound", "apply_plan", "merge_patch"]

_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


class ApiError(Exception):
    """A write the API server would refuse."""


class Conflict(ApiError):
    """The object changed since the planner saw it (409, stale resourceVersion)."""


class AlreadyExists(ApiError):
    """An object of that name exists already (409 AlreadyExists)."""


class NotFound(ApiError):
    """The object to update or patch does not exist (404)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: ``null`` deletes, objects merge, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy_json(patch)
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class _Api:
    def __init__(self, snapshot: Snapshot, now: datetime) -> None:
        # Copy on write: stored objects are replaced, never changed in place.
        self.objects: dict[ObjectRef, Manifest] = dict(snapshot.objects)
        self.snapshot = snapshot
        self.now = now
        self.version = max((_rv(o) for o in self.objects.values()), default=0)

    def next_version(self) -> str:
        self.version += 1
        return str(self.version)

    def result(self) -> Snapshot:
        return Snapshot(self.objects, self.snapshot.apis)

    def create(self, manifest: Manifest) -> Manifest:
        obj = normalize(copy_json(manifest))
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise ApiError(f"{obj.get('kind')} needs metadata.name or generateName")
            meta["name"] = f"{prefix}{self._suffix(prefix)}"
        ref = ObjectRef.of(obj)
        if ref in self.objects:
            raise AlreadyExists(f"{ref} exists already")
        version = self.next_version()
        meta["resourceVersion"] = version
        meta["uid"] = _uid(ref, version)
        meta["generation"] = 1
        meta["creationTimestamp"] = format_time(self.now)
        meta.pop("deletionTimestamp", None)
        if obj["kind"] == "Service":
            self._allocate(obj)
        if obj["kind"] == "Pod":
            self._check_service_account(obj)
            obj.setdefault("status", {"phase": "Pending"})
        self.objects[ref] = obj
        return obj

    def _check_service_account(self, pod: Manifest) -> None:
        """The ServiceAccount admission plugin: a pod naming an account that does not exist is
        refused (``default``, which every namespace has, is not checked)."""
        account = (pod.get("spec") or {}).get("serviceAccountName")
        if not account or account == "default":
            return
        ref = ObjectRef("v1", "ServiceAccount", pod["metadata"].get("namespace"), account)
        if ref not in self.objects:
            raise ApiError(f"pod {pod['metadata']['name']}: serviceaccount {account!r} not found")

    def _suffix(self, prefix: str) -> str:
        n = 0
        while True:
            suffix = hashlib.sha256(f"{prefix}{self.version}{n}".encode()).hexdigest()[:5]
            if not any(r.name == f"{prefix}{suffix}" for r in self.objects):
                return suffix
            n += 1

    def _allocate(self, service: Manifest) -> None:
        spec = service.setdefault("spec", {})
        taken_ips = {
            (o.get("spec") or {}).get("clusterIP")
            for o in self.objects.values()
            if o.get("kind") == "Service"
        }
        n = 1
        while f"10.96.{n // 250}.{n % 250 + 1}" in taken_ips:
            n += 1
        spec.setdefault("clusterIP", f"10.96.{n // 250}.{n % 250 + 1}")
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            taken = {
                p.get("nodePort")
                for o in self.objects.values()
                if o.get("kind") == "Service"
                for p in (o.get("spec") or {}).get("ports") or ()
            }
            port = 30000
            for entry in spec.get("ports") or ():
                if entry.get("nodePort"):
                    continue
                while port in taken:
                    port += 1
                entry["nodePort"] = port
                taken.add(port)

    def get(self, ref: ObjectRef) -> Manifest:
        found = self.objects.get(ref)
        if found is None:
            raise NotFound(f"{ref} does not exist")
        return found

    def update(self, manifest: Manifest) -> None:
        obj = normalize(copy_json(manifest))
        ref = ObjectRef.of(obj)
        current = self.objects.get(ref)
        if current is None:
            if obj["metadata"].get("resourceVersion"):
                raise NotFound(f"{ref} does not exist")
            self.create(obj)  # a shared object the backend creates on first use
            return
        given = obj["metadata"].get("resourceVersion")
        if given != current["metadata"]["resourceVersion"]:
            raise Conflict(f"{ref}: resourceVersion {given!r} is stale")
        for key in ("uid", "creationTimestamp", "deletionTimestamp"):
            if key in current["metadata"]:
                obj["metadata"][key] = current["metadata"][key]
        obj["metadata"]["generation"] = current["metadata"].get("generation", 1) + (
            obj.get("spec") != current.get("spec")
        )
        if "status" in current and ref.kind == KIND:
            obj["status"] = current["status"]
        obj["metadata"]["resourceVersion"] = self.next_version()
        self.objects[ref] = obj
        self._finish_if_released(ref)

    def patch(self, patch: Patch) -> None:
        current = copy_json(self.get(patch.ref))
        wanted_version = (patch.merge_patch.get("metadata") or {}).get("resourceVersion")
        if wanted_version and wanted_version != current["metadata"]["resourceVersion"]:
            raise Conflict(f"{patch.ref}: resourceVersion {wanted_version!r} is stale")
        body = copy_json(patch.merge_patch)
        body.get("metadata", {}).pop("resourceVersion", None)
        updated = merge_patch(current, body)
        updated["metadata"]["resourceVersion"] = self.next_version()
        self.objects[patch.ref] = updated
        self._finish_if_released(patch.ref)

    def delete(self, ref: ObjectRef) -> None:
        found = self.objects.get(ref)
        if found is None:
            return  # the runtime treats 404 on delete as done
        if found["metadata"].get("finalizers"):
            if not found["metadata"].get("deletionTimestamp"):
                current = copy_json(found)
                current["metadata"]["deletionTimestamp"] = format_time(self.now)
                current["metadata"]["resourceVersion"] = self.next_version()
                self.objects[ref] = current
            return
        self._remove(ref)

    def _finish_if_released(self, ref: ObjectRef) -> None:
        obj = self.objects.get(ref)
        if (
            obj
            and obj["metadata"].get("deletionTimestamp")
            and not obj["metadata"].get("finalizers")
        ):
            self._remove(ref)

    def _remove(self, ref: ObjectRef) -> None:
        removed = self.objects.pop(ref)
        uid = removed["metadata"].get("uid")
        if not uid:
            return
        for other_ref, other in list(self.objects.items()):
            owners = other["metadata"].get("ownerReferences") or ()
            if owners and other_ref in self.objects:
                alive = [
                    o for o in owners if o.get("uid") != uid and self._uid_exists(o.get("uid"))
                ]
                if not alive and any(o.get("uid") == uid for o in owners):
                    self.delete(other_ref)

    def _uid_exists(self, uid: object) -> bool:
        return any(o["metadata"].get("uid") == uid for o in self.objects.values())

    def issue(self, issue: KubeconfigIssue) -> None:
        kubeconfig = (
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: cluster, cluster: {{server: '{issue.server}'}}}}]\n"
            f"users: [{{name: {issue.service_account}, user: {{token: simulated}}}}]\n"
        )
        secret: Manifest = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": issue.secret_name,
                "namespace": issue.namespace,
                "labels": dict(issue.labels),
                "ownerReferences": [dict(o) for o in issue.owner_references],
            },
            "data": {"config": base64.b64encode(kubeconfig.encode()).decode()},
        }
        ref = ObjectRef.of(secret)
        if ref in self.objects:
            self.update(
                {
                    **secret,
                    "metadata": {
                        **secret["metadata"],
                        "resourceVersion": _rv_of(self.objects[ref]),
                    },
                }
            )
        else:
            self.create(secret)


def _rv(obj: Manifest) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _rv_of(obj: Manifest) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _uid(ref: ObjectRef, version: str) -> str:
    digest = hashlib.sha256(f"{ref}/{version}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def apply_plan(
    snapshot: Snapshot,
    plan: Plan,
    *,
    shell: ObjectRef | tuple[str, str] | None = None,
    now: datetime | None = None,
) -> Snapshot:
    """The cluster after the runtime applied ``plan``.

    :param shell: the CloudShell the plan is for (``ObjectRef`` or ``(namespace, name)``);
        needed when the plan writes a status or deletes the shell.
    :param now: the time written into creationTimestamp / deletionTimestamp.
    :raises ApiError: on the first write the API server would refuse (the snapshot given is
        unchanged: a failed plan is planned again from the same observations).
    """
    api = _Api(snapshot, now or _EPOCH)
    shell_ref = (
        ObjectRef(API_VERSION, KIND, shell[0], shell[1]) if isinstance(shell, tuple) else shell
    )
    for patch in plan.patches:
        api.patch(patch)
    for manifest in plan.updates:
        api.update(manifest)
    for manifest in plan.creates:
        api.create(manifest)
    for ref in plan.deletes:
        api.delete(ref)
    if plan.issue_kubeconfig is not None:
        api.issue(plan.issue_kubeconfig)
    if plan.status is not None:
        if shell_ref is None:
            raise ValueError("apply_plan needs shell= to write a status")
        current = copy_json(api.get(shell_ref))
        current["status"] = status_to_dict(plan.status)
        current["metadata"]["resourceVersion"] = api.next_version()
        api.objects[shell_ref] = current
    for patch in plan.final_patches:
        api.patch(patch)
    if plan.delete_shell:
        if shell_ref is None:
            raise ValueError("apply_plan needs shell= to delete the shell")
        api.delete(shell_ref)
    return api.result()


def create(snapshot: Snapshot, *manifests: Manifest, now: datetime | None = None) -> Snapshot:
    """``snapshot`` with ``manifests`` created as through the API (uid, resourceVersion...)."""
    return apply_plan(snapshot, Plan(creates=manifests), now=now)


def delete(snapshot: Snapshot, *refs: ObjectRef, now: datetime | None = None) -> Snapshot:
    """``snapshot`` after deleting ``refs`` through the API (finalizers are honoured)."""
    return apply_plan(snapshot, Plan(deletes=refs), now=now)
