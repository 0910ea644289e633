"""The hooks a cloudtty plugin may implement. Each docstring is the hook's contract.

A plugin is a module (or any object) found through the ``cloudtty`` entry-point group. It
implements hooks by defining functions with these names, marked with
:data:`cloudtty_core.hookimpl`. Functions named ``cloudtty_*`` count as hook implementations
even without the marker, so a misspelt hook name is reported at load time instead of being
ignored.

Hooks register things and extend the planner; they never choose a backend. Backends are chosen
by name from the :class:`~cloudtty_core.BackendRegistry`, so the order in which plugins run
cannot change which backend serves a shell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .model import CloudShell
    from .phases import Event, Phase
    from .registry import BackendRegistry

__all__ = [
    "PROJECT_NAME",
    "cloudtty_adjust_objects",
    "cloudtty_phase_changed",
    "cloudtty_register_backends",
    "hookimpl",
    "hookspec",
]

PROJECT_NAME = "cloudtty"
"""pluggy project name; also the entry-point group plugins are found in."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def cloudtty_register_backends(registry: BackendRegistry) -> None:
    """Add the plugin's backends to ``registry``.

    :param registry: the registry being filled. Call ``registry.add_exposure(backend)``,
        ``registry.add_auth(backend)`` or ``registry.add_image(backend)``; each backend is
        registered under its ``name``.

    **When called:** once per plugin, right after all plugins are loaded and before anything
    is planned. The plugin manager calls each plugin's implementation separately, so every
    backend is attributed to the distribution that registered it.

    **Return:** nothing (the return value is ignored).

    **Errors:** registering a name another distribution already registered raises
    :class:`~cloudtty_core.DuplicateBackend` naming both distributions; loading stops, as the
    operator must not pick one of the two by chance. Any other exception marks the plugin as
    broken: it is reported (plugin, distribution, error) and its backends are dropped, or
    loading fails when the manager runs in strict mode.

    .. versionadded:: 0.1
    """


@hookspec
def cloudtty_adjust_objects(
    shell: CloudShell, objects: list[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    """Adjust the objects the planner is about to create or update for ``shell``.

    Use it for cross-cutting policy: labels or annotations every object must carry, a
    ``priorityClassName`` on terminal pods, a NetworkPolicy next to every Service.

    :param shell: the CloudShell being planned (read-only).
    :param objects: every object the planner wants to exist for this shell -- whether it
        exists already or not (its Service, routes, session and access Secrets, RBAC objects,
        and the terminal pod when the shell is making one). Edit the dicts in place, or add and
        remove list entries. Idle warm workers and the claim of one are not included.

    **When called:** on every planning pass of a live shell, after the backends produced the
    objects and before the planner compares them with the observed cluster (so an adjustment
    that is already in place causes no write). Not called for shells being deleted, finished
    shells, or the warm pool.

    **Return:** ``None`` after editing ``objects`` in place, or a new list that replaces it.
    Implementations run one after another and each sees the previous one's result.

    **Contract:** be deterministic -- the same shell and objects must give the same result, or
    every planning pass sees a difference and writes again. Never put secrets in labels or
    annotations. Returning anything other than ``None`` or a list of dicts is an error.

    .. versionadded:: 0.1
    """


@hookspec
def cloudtty_phase_changed(shell: CloudShell, old: Phase | None, new: Phase, event: Event) -> None:
    """Observe a shell moving from phase ``old`` to phase ``new`` because of ``event``.

    :param shell: the CloudShell as observed before the change (read-only).
    :param old: its phase before (``None`` when it had no status yet).
    :param new: its phase after.
    :param event: what caused the change (e.g. ``Event.ROUTE_READY``).

    **When called:** by the planner, each time a plan carries a phase change -- before the
    runtime writes the status. A plan whose writes fail is planned again, so an observer can
    see the same change more than once; make it idempotent. Not called when an event leaves
    the phase unchanged.

    **Return:** nothing (the return value is ignored). Keep it fast and free of blocking I/O:
    it runs inside the planner. An exception propagates and fails that planning pass.

    .. versionadded:: 0.1
    """
