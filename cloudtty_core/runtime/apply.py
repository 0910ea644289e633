"""Carrying out a :class:`~cloudtty_core.Plan` against the API server.

The parts run in the order the planner documents and the first failure stops the rest (the
shell is then planned again from fresh observations):

1. ``patches`` -- JSON merge patches; a ``metadata.resourceVersion`` in one is a precondition;
2. ``updates`` and ``creates`` but pods, all in parallel: updates are PUTs with the
   resourceVersion the object carries (worker claims, shared routes), so a concurrent change
   fails with 409 -- a claim carries its session, so a session only ever reaches a worker this
   shell really got; the writes are independent of each other, and one round trip for all of
   them is what keeps a warm shell's time-to-Ready short;
3. pods -- after the rest (a pod is refused while the ServiceAccount it runs as does not
   exist);
4. ``deletes`` -- in parallel; already gone counts as done;
5. ``issue_kubeconfig`` -- TokenRequest for the per-shell ServiceAccount, then its Secret;
6. ``status`` -- the status subresource, only when the plan carries one (it changed);
7. ``events`` -- handed to the background :class:`~cloudtty_core.runtime.events.EventRecorder`;
8. ``final_patches`` -- finalizer removal, once everything else succeeded;
9. ``delete_shell``.

Everything written is put into the caches at once (write-through), so the next plan sees it.
Writes to the shell itself within one plan chain their resourceVersion: a precondition taken
from the observed shell is moved to the version the operator's own earlier write produced.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import attrs

from cloudtty_core.backends import ObjectRef, copy_json
from cloudtty_core.model import API_VERSION, KIND, Manifest, status_to_dict
from cloudtty_core.plan import Patch, Plan

from .api import AsyncApi
from .client import ApiError, NotFound
from .credentials import issue_kubeconfig
from .events import EventRecorder
from .informer import Informers

__all__ = ["ApplyOutcome", "PlanApplier", "WriteHook", "version_of"]

log = logging.getLogger(__name__)

WriteHook = Callable[[str, str], Awaitable[None]]
"""Awaited before every write with (verb, what): a seam for fault-injection tests."""


@attrs.frozen
class ApplyOutcome:
    """What applying a plan did.

    Attributes:
        writes: API writes made (events are counted apart: they are written in the background).
        shell: the shell as last written (or as observed when the plan did not write it).
        status_written: whether the status subresource was written.
        written: each object written, as the API server answered: (kind, namespace, name,
            resourceVersion) -- a watch event carrying one of these is the echo of this plan's
            own write.
    """

    writes: int
    shell: Manifest | None
    status_written: bool
    written: frozenset[tuple[str, str, str, str]] = frozenset()


class PlanApplier:
    """Applies plans; shared by every reconcile.

    :param api: the async client.
    :param informers: caches to write through.
    :param events: where the plan's events go.
    :param ca_data: CA bundle written into generated kubeconfigs (https servers).
    :param write_hook: awaited before each write (tests inject faults there).
    """

    def __init__(
        self,
        api: AsyncApi,
        informers: Informers,
        events: EventRecorder,
        *,
        ca_data: bytes | None = None,
        write_hook: WriteHook | None = None,
    ) -> None:
        self.api = api
        self.informers = informers
        self.events = events
        self.ca_data = ca_data
        self.write_hook = write_hook
        self.writes = 0
        self.writer: object | None = None
        """Who wrote the object being put into the caches right now (the ``writer`` given to
        :meth:`apply`; None at any other time): cache handlers can tell a plan's own writes
        from changes made by anyone else."""

    async def apply(
        self, plan: Plan, shell: Manifest | None = None, *, writer: object | None = None
    ) -> ApplyOutcome:
        """Apply ``plan`` for ``shell`` (the CloudShell as observed; None for pool plans).

        :param writer: set as :attr:`writer` while each written object is put into the caches.
        :raises ApiError: the first write the API server refused.
        """
        run = _Run(self, shell, writer)
        for patch in plan.patches:
            await run.patch(patch)
        replace, create = self.api.replace, self.api.create
        pods = [m for m in plan.creates if m.get("kind") == "Pod"]
        await run.parallel(
            [("update", m, replace) for m in plan.updates]
            + [("create", m, create) for m in plan.creates if m.get("kind") != "Pod"]
        )
        await run.parallel([("create", m, create) for m in pods])
        await run.deletes(plan.deletes)
        if plan.issue_kubeconfig is not None:
            issue = plan.issue_kubeconfig
            await run.hook("create", f"kubeconfig Secret {issue.namespace}/{issue.secret_name}")
            secret = await issue_kubeconfig(self.api, issue, ca_data=self.ca_data)
            run.count(2)
            run.remember(secret)
            self._observe(secret, writer)
        status_written = False
        if plan.status is not None and shell is not None:
            await run.status(status_to_dict(plan.status))
            status_written = True
        if shell is not None:
            for event in plan.events:
                self.events.record(run.shell or shell, event)
        for patch in plan.final_patches:
            await run.patch(patch)
        if plan.delete_shell and shell is not None:
            await run.delete(_shell_ref(shell))
        return ApplyOutcome(run.writes, run.shell, status_written, frozenset(run.written))

    def _observe(self, obj: Any, writer: object | None = None) -> None:
        if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
            return
        if obj["kind"] == "Status":
            return
        informer = self.informers.informer(str(obj["apiVersion"]), str(obj["kind"]))
        if informer is not None:
            self.writer = writer
            try:
                informer.observe(obj)
            finally:
                self.writer = None


def version_of(obj: Manifest) -> tuple[str, str, str, str]:
    """(kind, namespace, name, resourceVersion) of an object: which version of what it is."""
    meta = obj.get("metadata") or {}
    return (
        str(obj.get("kind") or ""),
        str(meta.get("namespace") or ""),
        str(meta.get("name") or ""),
        str(meta.get("resourceVersion") or ""),
    )


def _shell_ref(shell: Manifest) -> ObjectRef:
    meta = shell.get("metadata") or {}
    return ObjectRef(API_VERSION, KIND, str(meta.get("namespace") or "default"), str(meta["name"]))


_Send = Callable[[Manifest], Awaitable[Manifest]]
_Write = tuple[str, Manifest, _Send]


class _Run:
    """The state of one plan being applied: writes so far, the shell's latest version."""

    def __init__(self, applier: PlanApplier, shell: Manifest | None, writer: object) -> None:
        self.applier = applier
        self.writer = writer
        self.api = applier.api
        self.observed_shell = shell
        self.shell = shell
        self.shell_ref = _shell_ref(shell) if shell is not None else None
        self.writes = 0
        self.written: set[tuple[str, str, str, str]] = set()

    def count(self, writes: int = 1) -> None:
        self.writes += writes
        self.applier.writes += writes

    async def hook(self, verb: str, what: str) -> None:
        if self.applier.write_hook is not None:
            await self.applier.write_hook(verb, what)

    def remember(self, written: Any) -> None:
        """Note the version of an object this plan wrote (see :attr:`ApplyOutcome.written`)."""
        if isinstance(written, dict):
            self.written.add(version_of(written))

    def _track(self, written: Any) -> None:
        self.count()
        self.remember(written)
        self.applier._observe(written, self.writer)
        if (
            self.shell_ref is not None
            and isinstance(written, dict)
            and written.get("kind") == KIND
            and (written.get("metadata") or {}).get("name") == self.shell_ref.name
        ):
            self.shell = written

    async def write(
        self, verb: str, manifest: Manifest, send: Callable[[Manifest], Awaitable[Manifest]]
    ) -> None:
        await self.hook(verb, _describe(manifest))
        self._track(await send(manifest))

    async def parallel(self, writes: Sequence[_Write]) -> None:
        """Send ``(verb, manifest, send)`` writes at once; raise the first refusal after all
        of them are answered."""
        if len(writes) <= 1:
            for verb, manifest, send in writes:
                await self.write(verb, manifest, send)
            return
        errors: list[ApiError] = []

        async def one(verb: str, manifest: Manifest, send: _Send) -> None:
            try:
                await self.write(verb, manifest, send)
            except ApiError as error:
                errors.append(error)

        # The first write is sent from this task: one task fewer to start per plan. A task
        # named by its caller spares anyio working out a name from the function's.
        async with anyio.create_task_group() as group:
            for verb, manifest, send in writes[1:]:
                group.start_soon(one, verb, manifest, send, name="write")
            await one(*writes[0])
        if errors:
            raise errors[0]

    async def deletes(self, refs: Sequence[ObjectRef]) -> None:
        if len(refs) <= 1:
            for ref in refs:
                await self.delete(ref)
            return
        errors: list[ApiError] = []

        async def one(ref: ObjectRef) -> None:
            try:
                await self.delete(ref)
            except ApiError as error:
                errors.append(error)

        async with anyio.create_task_group() as group:
            for ref in refs:
                group.start_soon(one, ref, name="delete")
        if errors:
            raise errors[0]

    async def delete(self, ref: ObjectRef) -> None:
        await self.hook("delete", str(ref))
        try:
            answer = await self.api.delete(ref)
        except NotFound:
            return
        self.count()
        if (answer.get("metadata") or {}).get("deletionTimestamp") and answer.get("kind") == (
            ref.kind
        ):
            self.applier._observe(answer, self.writer)

    async def patch(self, patch: Patch) -> None:
        body = self._chain(patch)
        await self.hook("patch", str(patch.ref))
        self._track(await self.api.patch(patch.ref, body))

    def _chain(self, patch: Patch) -> Manifest:
        """Move a precondition on the observed shell to the version the operator wrote."""
        if patch.ref != self.shell_ref or self.shell is self.observed_shell:
            return patch.merge_patch
        assert self.shell is not None
        assert self.observed_shell is not None
        meta = patch.merge_patch.get("metadata") or {}
        observed = (self.observed_shell.get("metadata") or {}).get("resourceVersion")
        if meta.get("resourceVersion") != observed:
            return patch.merge_patch
        body = copy_json(patch.merge_patch)
        body["metadata"]["resourceVersion"] = self.shell["metadata"]["resourceVersion"]
        return body

    async def status(self, status: Manifest) -> None:
        assert self.shell is not None
        assert self.shell_ref is not None
        body = {key: value for key, value in self.shell.items() if key != "status"}
        body["status"] = status
        await self.hook("update", f"{self.shell_ref} status")
        self._track(await self.api.replace(body, subresource="status"))


def _describe(manifest: Manifest) -> str:
    meta = manifest.get("metadata") or {}
    name = meta.get("name") or f"{meta.get('generateName', '')}*"
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{manifest.get('kind')} {where}{name}"
