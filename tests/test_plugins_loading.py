"""Loading plugins through real entry points: distributions made on the fly in a temp dir."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import cloudtty_core.plugins as plugins_module
from cloudtty_core import (
    CloudShell,
    DuplicateBackend,
    Event,
    ObjectMeta,
    Phase,
    PluginLoadError,
    PluginManager,
    hookimpl,
    load_plugins,
)

BACKEND_SOURCE = """
from cloudtty_core import Exposure, hookimpl

class Route:
    name = {name!r}
    watched_kinds = ()

    def expose(self, request):
        return Exposure()

    def release(self, request):
        return ()

@hookimpl
def cloudtty_register_backends(registry):
    registry.add_exposure(Route())
"""

MakeDist = Callable[..., None]


@pytest.fixture
def make_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeDist]:
    """Install a distribution (module + dist-info with one ``cloudtty`` entry point)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def make(
        dist: str, module: str, source: str, entry: str | None = None, version: str = "1.0"
    ) -> None:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[cloudtty]\n{entry or module} = {module}\n")
        made.append(module)

    yield make
    for module in made:
        sys.modules.pop(module, None)


ISOLATED: dict[str, str] = {}  # an environment without CLOUDTTY_* variables


def others() -> list[str]:
    """Plugins installed in this environment besides the ones a test makes."""
    found = importlib.metadata.entry_points(group="cloudtty")
    return [ep.name for ep in found if not ep.name.startswith("acme")]


def ours(loaded: Any) -> set[str]:
    return {p.name for p in loaded.plugins if p.name.startswith("acme")}


def test_a_plugin_registers_its_backend_with_distribution_and_version(make_dist: MakeDist) -> None:
    make_dist("acme-route", "acme_route", BACKEND_SOURCE.format(name="AcmeRoute"), version="1.2.3")
    loaded = load_plugins(environ=ISOLATED)
    assert "acme_route" in ours(loaded)
    info = next(p for p in loaded.plugins if p.name == "acme_route")
    assert (info.distribution, info.version) == ("acme-route", "1.2.3")
    entry = loaded.registry.get("exposure", "AcmeRoute")
    assert (entry.distribution, entry.version) == ("acme-route", "1.2.3")
    assert loaded.registry.exposure("AcmeRoute").name == "AcmeRoute"


def test_a_broken_plugin_is_reported_and_skipped(make_dist: MakeDist) -> None:
    make_dist("acme-broken", "acme_broken", "import does_not_exist_anywhere\n")
    make_dist("acme-route", "acme_route", BACKEND_SOURCE.format(name="AcmeRoute"))
    loaded = load_plugins(environ=ISOLATED)
    failure = next(f for f in loaded.failures if f.plugin == "acme_broken")
    assert failure.distribution == "acme-broken"
    assert "ModuleNotFoundError" in failure.error
    assert "does_not_exist_anywhere" in failure.error
    assert "acme-broken" in str(failure)
    assert loaded.registry.has("exposure", "AcmeRoute")  # the others still load


def test_strict_makes_a_broken_plugin_fatal(make_dist: MakeDist) -> None:
    make_dist("acme-broken", "acme_broken", "raise RuntimeError('boom at import')\n")
    with pytest.raises(PluginLoadError, match=r"acme_broken.*acme-broken.*boom at import"):
        load_plugins(strict=True, blocked=others(), environ=ISOLATED)


@pytest.mark.parametrize("name", ["acme_route", "acme-route"])
def test_a_plugin_can_be_blocked_by_plugin_or_distribution_name(
    make_dist: MakeDist, name: str
) -> None:
    make_dist("acme-route", "acme_route", BACKEND_SOURCE.format(name="AcmeRoute"))
    loaded = load_plugins(blocked=[name], environ=ISOLATED)
    assert not loaded.registry.has("exposure", "AcmeRoute")
    assert "acme_route" in loaded.blocked
    assert "acme_route" not in sys.modules  # never even imported


def test_blocking_through_the_environment(make_dist: MakeDist) -> None:
    make_dist("acme-route", "acme_route", BACKEND_SOURCE.format(name="AcmeRoute"))
    make_dist("acme-other", "acme_other", BACKEND_SOURCE.format(name="AcmeOther"))
    loaded = load_plugins(environ={"CLOUDTTY_BLOCK_PLUGINS": " acme_route , acme-other"})
    assert ours(loaded) == set()
    assert {"acme_route", "acme_other"} <= set(loaded.blocked)


@pytest.mark.parametrize(
    ("autoload", "environ"),
    [(False, {}), (True, {"CLOUDTTY_NO_AUTOLOAD": "1"}), (True, {"CLOUDTTY_NO_AUTOLOAD": "yes"})],
)
def test_autoload_off_loads_only_plugins_given_directly(
    make_dist: MakeDist, autoload: bool, environ: dict[str, str]
) -> None:
    make_dist("acme-route", "acme_route", BACKEND_SOURCE.format(name="AcmeRoute"))

    class Direct:
        @hookimpl
        def cloudtty_register_backends(self, registry: Any) -> None:
            from cloudtty_core.testing import FakeExposureBackend

            registry.add_exposure(FakeExposureBackend(name="Direct"))

    loaded = load_plugins(autoload=autoload, extra=[("direct", Direct())], environ=environ)
    assert [p.name for p in loaded.plugins] == ["direct"]
    assert loaded.registry.names("exposure") == ("Direct",)
    assert loaded.registry.get("exposure", "Direct").distribution == "plugin direct"


def test_autoload_env_set_to_false_words_keeps_autoload(make_dist: MakeDist) -> None:
    make_dist("acme-route", "acme_route", BACKEND_SOURCE.format(name="AcmeRoute"))
    loaded = load_plugins(environ={"CLOUDTTY_NO_AUTOLOAD": "0"})
    assert "acme_route" in ours(loaded)


def test_duplicate_backend_names_name_both_distributions(make_dist: MakeDist) -> None:
    make_dist("acme-one", "acme_one", BACKEND_SOURCE.format(name="Shared"), version="1.0")
    make_dist("acme-two", "acme_two", BACKEND_SOURCE.format(name="Shared"), version="2.0")
    with pytest.raises(DuplicateBackend) as caught:
        load_plugins(environ=ISOLATED)
    message = str(caught.value)
    assert "acme-one 1.0" in message
    assert "acme-two 2.0" in message
    assert "'Shared'" in message


def test_a_misspelt_hook_is_reported(make_dist: MakeDist) -> None:
    make_dist(
        "acme-typo",
        "acme_typo",
        "def cloudtty_register_backend(registry):\n    pass\n",
    )
    loaded = load_plugins(environ=ISOLATED)
    failure = next(f for f in loaded.failures if f.plugin == "acme_typo")
    assert "cloudtty_register_backend" in failure.error
    assert "acme_typo" not in ours(loaded)
    loaded.manager.check_pending()  # nothing pending is left behind


def test_a_plugin_whose_registration_raises_adds_nothing(make_dist: MakeDist) -> None:
    source = """
    from cloudtty_core import hookimpl
    from cloudtty_core.testing import FakeExposureBackend

    @hookimpl
    def cloudtty_register_backends(registry):
        registry.add_exposure(FakeExposureBackend(name="HalfDone"))
        raise ValueError("bad configuration")
    """
    make_dist("acme-half", "acme_half", source)
    loaded = load_plugins(environ=ISOLATED)
    assert not loaded.registry.has("exposure", "HalfDone")
    failure = next(f for f in loaded.failures if f.plugin == "acme_half")
    assert failure.error == "ValueError: bad configuration"
    with pytest.raises(PluginLoadError, match="bad configuration"):
        load_plugins(strict=True, blocked=others(), environ=ISOLATED)


def test_no_manager_exists_at_import_and_each_load_is_independent() -> None:
    managers = [v for v in vars(plugins_module).values() if isinstance(v, PluginManager)]
    assert managers == []

    class One:
        @hookimpl
        def cloudtty_register_backends(self, registry: Any) -> None:
            from cloudtty_core.testing import FakeExposureBackend

            registry.add_exposure(FakeExposureBackend(name="One"))

    first = load_plugins(autoload=False, extra=[One()])
    second = load_plugins(autoload=False)
    assert first.manager is not second.manager
    assert first.registry.names("exposure") == ("One",)
    assert second.registry.names("exposure") == ()


def _shell() -> CloudShell:
    return CloudShell(metadata=ObjectMeta(name="s"))


def test_adjust_objects_runs_every_plugin_in_turn() -> None:
    class Labeller:
        @hookimpl
        def cloudtty_adjust_objects(self, shell: CloudShell, objects: list[dict[str, Any]]) -> None:
            for obj in objects:
                obj.setdefault("metadata", {}).setdefault("labels", {})["team"] = "a"

    class Adder:
        @hookimpl(trylast=True)
        def cloudtty_adjust_objects(self, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [*objects, {"kind": "NetworkPolicy", "metadata": {"name": "np"}}]

    loaded = load_plugins(autoload=False, extra=[Labeller(), Adder()])
    result = loaded.hooks.adjust_objects(_shell(), [{"kind": "Service", "metadata": {"name": "x"}}])
    assert [o["kind"] for o in result] == ["Service", "NetworkPolicy"]
    assert result[0]["metadata"]["labels"] == {"team": "a"}


def test_adjust_objects_must_return_a_list_of_dicts() -> None:
    class Wrong:
        @hookimpl
        def cloudtty_adjust_objects(self, objects: list[dict[str, Any]]) -> str:
            return "oops"

    loaded = load_plugins(autoload=False, extra=[("wrong", Wrong())])
    with pytest.raises(TypeError, match="plugin wrong"):
        loaded.hooks.adjust_objects(_shell(), [])


def test_phase_changed_reaches_every_observer() -> None:
    seen: list[tuple[str, Any, Any, Any]] = []

    class Observer:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        @hookimpl
        def cloudtty_phase_changed(self, shell: CloudShell, old: Any, new: Any, event: Any) -> None:
            seen.append((self.tag, old, new, event))

    loaded = load_plugins(autoload=False, extra=[("a", Observer("a")), ("b", Observer("b"))])
    loaded.hooks.phase_changed(_shell(), Phase.PROVISIONING, Phase.READY, Event.ROUTE_READY)
    assert sorted(seen) == [
        ("a", Phase.PROVISIONING, Phase.READY, Event.ROUTE_READY),
        ("b", Phase.PROVISIONING, Phase.READY, Event.ROUTE_READY),
    ]


def test_the_same_plugin_name_twice_is_reported() -> None:
    class A:
        pass

    loaded = load_plugins(autoload=False, extra=[("same", A()), ("same", A())])
    assert [f.plugin for f in loaded.failures] == ["same"]
    assert "already used" in loaded.failures[0].error
