"""Loading plugins: a typed facade over pluggy.

Nothing here runs at import time: :func:`load_plugins` builds a fresh :class:`PluginManager`
each time it is called, so tests, the CLI and embedding controllers never share hidden state.

Loading is forgiving by default and strict on request:

* a plugin that fails to import, or whose hooks do not match the specs, or whose
  ``cloudtty_register_backends`` raises, is reported as a :class:`PluginFailure`
  (plugin, distribution, error) and skipped -- or, with ``strict=True``, raises
  :class:`PluginLoadError`;
* a backend name registered by two distributions always raises
  :class:`~cloudtty_core.DuplicateBackend`: choosing one by load order would be a guess.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import attrs
import pluggy

from . import hookspecs
from .hookspecs import PROJECT_NAME
from .registry import BackendRegistry

if TYPE_CHECKING:
    from .model import CloudShell
    from .phases import Event, Phase

__all__ = [
    "ENTRY_POINT_GROUP",
    "ENV_BLOCK_PLUGINS",
    "ENV_NO_AUTOLOAD",
    "LoadedPlugins",
    "PluginFailure",
    "PluginInfo",
    "PluginLoadError",
    "PluginManager",
    "load_plugins",
]

ENTRY_POINT_GROUP = PROJECT_NAME
"""The entry-point group plugins are registered in (``[project.entry-points.cloudtty]``)."""

ENV_BLOCK_PLUGINS = "CLOUDTTY_BLOCK_PLUGINS"
"""Comma-separated plugin or distribution names not to load."""

ENV_NO_AUTOLOAD = "CLOUDTTY_NO_AUTOLOAD"
"""When set (to anything but ``""``, ``0``, ``false`` or ``no``), entry points are not loaded."""

_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})
_HOOK_PREFIX = "cloudtty_"


@attrs.frozen
class PluginInfo:
    """A registered plugin and where it came from."""

    name: str
    distribution: str | None = None
    version: str | None = None

    @property
    def source(self) -> str:
        """``"cloudtty-nodeport 0.1.0"``, or ``"plugin <name>"`` for plugins given directly."""
        if self.distribution is None:
            return f"plugin {self.name}"
        return f"{self.distribution} {self.version}" if self.version else self.distribution


@attrs.frozen
class PluginFailure:
    """A plugin that could not be used, and why."""

    plugin: str
    distribution: str | None
    error: str

    def __str__(self) -> str:
        where = f" (distribution {self.distribution})" if self.distribution else ""
        return f"plugin {self.plugin}{where}: {self.error}"


class PluginLoadError(Exception):
    """A plugin failed to load while the manager runs in strict mode."""

    def __init__(self, failure: PluginFailure) -> None:
        self.failure = failure
        super().__init__(str(failure))


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


class _PluggyManager(pluggy.PluginManager):
    """Counts ``cloudtty_*`` functions as hook implementations even without the marker, so a
    misspelt hook name is caught by the pending-hook check instead of being silently ignored."""

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith(_HOOK_PREFIX):
            member = inspect.getattr_static(plugin, name, None)
            if inspect.isroutine(member) or isinstance(member, staticmethod | classmethod):
                return cast(pluggy.HookimplOpts, {})
        return opts


class PluginManager:
    """One set of plugins: register them, load entry points, then call hooks through it.

    Also the planner's hook caller (``adjust_objects`` and ``phase_changed``), so a
    :class:`~cloudtty_core.PlanContext` can take it as its ``hooks``.
    """

    def __init__(self) -> None:
        self._pm = _PluggyManager(PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._info: dict[str, PluginInfo] = {}
        self._failures: list[PluginFailure] = []
        self._blocked_seen: list[str] = []

    # Registering ---------------------------------------------------------------------------

    @property
    def pluggy_manager(self) -> pluggy.PluginManager:
        """The underlying pluggy manager (for tooling; prefer the typed methods)."""
        return self._pm

    def block(self, name: str) -> None:
        """Never load the plugin (entry-point name) or distribution called ``name``."""
        self._pm.set_blocked(name)

    def is_blocked(self, name: str) -> bool:
        """Whether ``name`` (a plugin or distribution name) is blocked."""
        return self._pm.is_blocked(name)

    def register(
        self,
        plugin: object,
        name: str | None = None,
        *,
        distribution: str | None = None,
        version: str | None = None,
        strict: bool = False,
    ) -> PluginInfo | None:
        """Register ``plugin`` (a module or any object with ``cloudtty_*`` hook functions).

        Returns its :class:`PluginInfo`, or None when it is blocked or was rejected (the
        rejection is recorded in :attr:`failures`; with ``strict`` it raises instead).
        """
        plugin_name = name or self._pm.get_canonical_name(plugin)
        if self._pm.is_blocked(plugin_name) or (
            distribution is not None and self._pm.is_blocked(distribution)
        ):
            self._blocked_seen.append(plugin_name)
            return None
        if plugin_name in self._info:
            other = self._info[plugin_name]
            self._fail(
                PluginFailure(
                    plugin_name,
                    distribution,
                    f"the plugin name {plugin_name!r} is already used by {other.source}",
                ),
                strict,
            )
            return None
        try:
            self._pm.register(plugin, name=plugin_name)
        except Exception as error:
            self._fail(PluginFailure(plugin_name, distribution, _describe(error)), strict)
            return None
        info = PluginInfo(plugin_name, distribution, version)
        self._info[plugin_name] = info
        problem = self._hook_problem(plugin_name)
        if problem is not None:
            self._pm.unregister(name=plugin_name)
            del self._info[plugin_name]
            self._fail(PluginFailure(plugin_name, distribution, problem), strict)
            return None
        return info

    def load_entry_points(self, *, strict: bool = False) -> None:
        """Import and register every plugin of the ``cloudtty`` entry-point group."""
        for ep in sorted(
            importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name
        ):
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            if self._pm.is_blocked(ep.name) or (dist is not None and self._pm.is_blocked(dist)):
                self._blocked_seen.append(ep.name)
                continue
            if ep.name in self._info and self._info[ep.name].distribution == dist:
                continue  # the same distribution seen twice on sys.path
            try:
                plugin = ep.load()
            except Exception as error:
                self._fail(PluginFailure(ep.name, dist, _describe(error)), strict)
                continue
            self.register(plugin, ep.name, distribution=dist, version=version, strict=strict)

    def check_pending(self) -> None:
        """Raise when a registered plugin implements a hook that has no spec.

        :meth:`register` already rejects such plugins one by one; this is the final check
        (pluggy's own) that nothing slipped through.
        """
        self._pm.check_pending()

    def _hook_problem(self, plugin_name: str) -> str | None:
        plugin = self._pm.get_plugin(plugin_name)
        for caller in self._pm.get_hookcallers(plugin) or ():
            impls = [i for i in caller.get_hookimpls() if i.plugin_name == plugin_name]
            if not caller.has_spec() and any(not i.optionalhook for i in impls):
                return f"implements unknown hook {caller.name} (a misspelt cloudtty_ hook?)"
            if caller.name == "cloudtty_adjust_objects" and any(
                i.wrapper or i.hookwrapper for i in impls
            ):
                return "cloudtty_adjust_objects cannot be a wrapper"
        return None

    def _fail(self, failure: PluginFailure, strict: bool) -> None:
        if strict:
            raise PluginLoadError(failure)
        self._failures.append(failure)

    # What was loaded -----------------------------------------------------------------------

    @property
    def plugins(self) -> tuple[PluginInfo, ...]:
        """Registered plugins, sorted by name."""
        return tuple(self._info[name] for name in sorted(self._info))

    @property
    def failures(self) -> tuple[PluginFailure, ...]:
        """Plugins that were skipped because they are broken, in the order they were met."""
        return tuple(self._failures)

    @property
    def blocked(self) -> tuple[str, ...]:
        """Plugins that were found but not loaded because they are blocked."""
        return tuple(self._blocked_seen)

    # Calling hooks -------------------------------------------------------------------------

    def register_backends(self, *, strict: bool = False) -> BackendRegistry:
        """A registry filled by every plugin's ``cloudtty_register_backends``.

        Each plugin fills a registry of its own first, so a plugin that raises half-way adds
        nothing; the results are then merged, and a name two distributions claim raises
        :class:`~cloudtty_core.DuplicateBackend` naming both.
        """
        registry = BackendRegistry()
        for impl in self._impls("cloudtty_register_backends"):
            info = self._info.get(impl.plugin_name, PluginInfo(impl.plugin_name))
            own = BackendRegistry()
            source = info.distribution or f"plugin {info.name}"
            try:
                with own.provided_by(source, info.version):
                    impl.function(*_arguments(impl, {"registry": own}))
            except Exception as error:
                self._pm.unregister(name=impl.plugin_name)
                self._info.pop(impl.plugin_name, None)
                self._fail(PluginFailure(info.name, info.distribution, _describe(error)), strict)
                continue
            registry.merge(own)
        return registry

    def adjust_objects(
        self, shell: CloudShell, objects: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Run ``cloudtty_adjust_objects`` over ``objects``; return the adjusted list."""
        current = list(objects)
        for impl in self._impls("cloudtty_adjust_objects"):
            result = impl.function(*_arguments(impl, {"shell": shell, "objects": current}))
            if result is None:
                continue
            if not isinstance(result, list) or not all(isinstance(o, dict) for o in result):
                raise TypeError(
                    f"plugin {impl.plugin_name}: cloudtty_adjust_objects must return None or a "
                    f"list of dicts, not {type(result).__name__}"
                )
            current = result
        return current

    def phase_changed(self, shell: CloudShell, old: Phase | None, new: Phase, event: Event) -> None:
        """Tell every ``cloudtty_phase_changed`` observer."""
        caller = self._pm.hook.cloudtty_phase_changed
        if caller.get_hookimpls():  # pluggy's call machinery costs even with nobody to call
            caller(shell=shell, old=old, new=new, event=event)

    def _impls(self, hook_name: str) -> list[Any]:
        # pluggy calls implementations last-registered-first (tryfirst/trylast honoured); keep
        # that order so sequential calls behave like a normal hook call.
        caller: pluggy.HookCaller = getattr(self._pm.hook, hook_name)
        return list(reversed(caller.get_hookimpls()))


def _arguments(impl: Any, available: Mapping[str, Any]) -> list[Any]:
    # An implementation may accept a subset of the spec's arguments, as in pluggy.
    return [available[name] for name in impl.argnames]


@attrs.frozen
class LoadedPlugins:
    """The result of :func:`load_plugins`: plugins, their backends, and what went wrong."""

    manager: PluginManager
    registry: BackendRegistry

    @property
    def plugins(self) -> tuple[PluginInfo, ...]:
        """Plugins in use, with distribution and version."""
        return self.manager.plugins

    @property
    def failures(self) -> tuple[PluginFailure, ...]:
        """Broken plugins that were skipped."""
        return self.manager.failures

    @property
    def blocked(self) -> tuple[str, ...]:
        """Plugins found but blocked."""
        return self.manager.blocked

    @property
    def hooks(self) -> PluginManager:
        """The hook caller for :class:`~cloudtty_core.PlanContext`."""
        return self.manager


def _split_names(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def load_plugins(
    *,
    blocked: Iterable[str] = (),
    autoload: bool = True,
    strict: bool = False,
    extra: Iterable[object | tuple[str, object]] = (),
    environ: Mapping[str, str] | None = None,
) -> LoadedPlugins:
    """Load plugins and register their backends.

    :param blocked: plugin (entry-point) or distribution names not to load; the names in the
        environment variable ``CLOUDTTY_BLOCK_PLUGINS`` (comma-separated) are added.
    :param autoload: load the ``cloudtty`` entry points; turned off also by setting
        ``CLOUDTTY_NO_AUTOLOAD``.
    :param strict: raise :class:`PluginLoadError` for the first broken plugin instead of
        reporting and skipping it.
    :param extra: plugin objects to register directly (tests, embedding controllers), each
        an object or a ``(name, object)`` pair. They are registered before the entry points.
    :param environ: the environment to read (default ``os.environ``).
    :raises DuplicateBackend: two distributions register the same backend name.
    """
    env = os.environ if environ is None else environ
    manager = PluginManager()
    for name in [*blocked, *_split_names(env.get(ENV_BLOCK_PLUGINS))]:
        manager.block(name)
    for item in extra:
        if isinstance(item, tuple):
            plugin_name, plugin = item
            manager.register(plugin, str(plugin_name), strict=strict)
        else:
            manager.register(item, strict=strict)
    if autoload and env.get(ENV_NO_AUTOLOAD, "").strip().lower() in _FALSE_WORDS:
        manager.load_entry_points(strict=strict)
    manager.check_pending()
    registry = manager.register_backends(strict=strict)
    return LoadedPlugins(manager, registry)
