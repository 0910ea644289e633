"""The backend registry: by kind and name, one distribution per name, clear lookup errors."""

from __future__ import annotations

import pytest

from cloudtty_core import (
    KNOWN_PROVIDERS,
    BackendError,
    BackendKind,
    BackendNotInstalled,
    BackendRegistry,
    DuplicateBackend,
)
from cloudtty_core.testing import FakeAuthBackend, FakeExposureBackend, FakeImageBackend


def test_backends_are_found_by_kind_and_name() -> None:
    registry = BackendRegistry()
    registry.add_exposure(FakeExposureBackend(name="A"))
    registry.add_auth(FakeAuthBackend("A"))  # the same name in another kind is fine
    registry.add_image(FakeImageBackend(name="img"))
    assert registry.exposure("A").name == "A"
    assert registry.auth("A").name == "A"
    assert registry.image("img").port == 7681
    assert registry.names(BackendKind.EXPOSURE) == ("A",)
    assert [(e.kind.value, e.name) for e in registry.entries()] == [
        ("auth", "A"),
        ("exposure", "A"),
        ("image", "img"),
    ]


def test_a_duplicate_names_both_distributions() -> None:
    registry = BackendRegistry()
    with registry.provided_by("acme-routes", "1.0"):
        registry.add_exposure(FakeExposureBackend(name="Route"))
    with registry.provided_by("other-routes", "2.1"), pytest.raises(DuplicateBackend) as caught:
        registry.add_exposure(FakeExposureBackend(name="Route"))
    assert "acme-routes 1.0" in str(caught.value)
    assert "other-routes 2.1" in str(caught.value)
    assert registry.get("exposure", "Route").distribution == "acme-routes"  # the first stays


def test_merge_keeps_attribution_and_refuses_duplicates() -> None:
    one, two = BackendRegistry(), BackendRegistry()
    with one.provided_by("one"):
        one.add_exposure(FakeExposureBackend(name="X"))
    with two.provided_by("two"):
        two.add_exposure(FakeExposureBackend(name="X"))
    merged = BackendRegistry()
    merged.merge(one)
    assert merged.get("exposure", "X").distribution == "one"
    with pytest.raises(DuplicateBackend, match=r"one.*two"):
        merged.merge(two)


@pytest.mark.parametrize(("kind", "name"), sorted(KNOWN_PROVIDERS))
def test_a_missing_known_backend_names_the_distribution_to_install(
    kind: BackendKind, name: str
) -> None:
    registry = BackendRegistry()
    registry.add_exposure(FakeExposureBackend(name="Other"))
    with pytest.raises(BackendNotInstalled) as caught:
        registry.get(kind, name)
    distribution = KNOWN_PROVIDERS[(kind, name)]
    assert caught.value.distribution == distribution
    assert f"pip install {distribution}" in str(caught.value)
    assert repr(name) in str(caught.value)


def test_the_project_knows_who_provides_its_own_backends() -> None:
    assert KNOWN_PROVIDERS[(BackendKind.EXPOSURE, "NodePort")] == "cloudtty-nodeport"
    assert KNOWN_PROVIDERS[(BackendKind.EXPOSURE, "VirtualService")] == "cloudtty-istio"
    assert KNOWN_PROVIDERS[(BackendKind.IMAGE, "ttyd")] == "cloudtty-ttyd"
    assert {
        KNOWN_PROVIDERS[(BackendKind.AUTH, m)] for m in ("none", "basic", "token", "header")
    } == {"cloudtty-auth"}


def test_an_unknown_name_lists_what_is_installed() -> None:
    registry = BackendRegistry()
    registry.add_exposure(FakeExposureBackend(name="Mine"))
    with pytest.raises(BackendNotInstalled, match=r"'Gateway' is not installed.*installed: Mine"):
        registry.exposure("Gateway")


def test_an_object_that_is_not_a_backend_is_refused_at_registration() -> None:
    registry = BackendRegistry()
    with pytest.raises(
        BackendError, match="not an exposure backend: it lacks watched_kinds, expose, release"
    ):
        registry.add_exposure(FakeAuthBackend("x"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'gadget' is not a valid BackendKind"):
        registry.add("gadget", FakeExposureBackend())
