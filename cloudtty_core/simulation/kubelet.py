"""A pretend kubelet for snapshots: pods start, become Ready, end or fail when a test says so."""

from __future__ import annotations

from collections.abc import Iterable

from cloudtty_core.backends import ObjectRef, Snapshot, copy_json
from cloudtty_core.model import Manifest

__all__ = ["end_pod", "fail_pod", "start_pods"]


def _bump(snapshot: Snapshot, pod: Manifest) -> Manifest:
    versions = [
        int(o["metadata"].get("resourceVersion") or 0)
        for o in snapshot.objects.values()
        if str(o["metadata"].get("resourceVersion") or "0").isdigit()
    ]
    pod["metadata"]["resourceVersion"] = str(max(versions, default=0) + 1)
    return pod


def start_pods(snapshot: Snapshot, names: Iterable[str] | None = None) -> Snapshot:
    """Every Pending pod (or those named) becomes Running and Ready."""
    wanted = set(names) if names is not None else None
    result = snapshot
    for ref, obj in sorted(snapshot.objects.items()):
        if ref.kind != "Pod" or (wanted is not None and ref.name not in wanted):
            continue
        if (obj.get("status") or {}).get("phase", "Pending") != "Pending":
            continue
        if obj["metadata"].get("deletionTimestamp"):
            continue
        pod = copy_json(obj)
        pod["status"] = {
            "phase": "Running",
            "podIP": "127.0.1.1",
            "conditions": [{"type": "Ready", "status": "True"}],
        }
        result = result.put(_bump(result, pod))
    return result


def end_pod(snapshot: Snapshot, ref: ObjectRef, message: str = "exit") -> Snapshot:
    """The pod's terminal server exits 0 writing ``message`` (``once``, ``idle``, ``ttl``...)."""
    pod = copy_json(snapshot.objects[ref])
    pod["status"] = {
        "phase": "Succeeded",
        "containerStatuses": [
            {"name": "terminal", "state": {"terminated": {"exitCode": 0, "message": message}}}
        ],
    }
    return snapshot.put(_bump(snapshot, pod))


def fail_pod(snapshot: Snapshot, ref: ObjectRef) -> Snapshot:
    """The pod fails (its node died, it was evicted...)."""
    pod = copy_json(snapshot.objects[ref])
    pod["status"] = {"phase": "Failed", "reason": "Evicted"}
    return snapshot.put(_bump(snapshot, pod))
