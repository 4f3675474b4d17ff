"""routing/router.py: the longest-prefix match, remembered per path until the mounts change."""

from __future__ import annotations

from tessera.routing import router as router_module
from tessera.routing.mounts import MountEntry
from tessera.routing.router import Route, Router
from tessera.storage.base import StorageView
from tessera.storage.inmem import InmemPhysical


class _Backend:
    """Routing never calls into a backend: any object stands for one."""


def _route(path: str) -> Route:
    entry = MountEntry.new("secret", path, "kv")
    return Route(entry, _Backend(), StorageView(InmemPhysical(), entry.storage_prefix))  # type: ignore[arg-type]


def test_the_longest_prefix_wins_and_the_mount_path_itself_matches() -> None:
    router = Router()
    kv, nested = _route("kv/"), _route("kv/team/")
    router.mount(kv)
    router.mount(nested)
    assert router.match("kv/a") is kv
    assert router.match("kv/team/a") is nested
    assert router.match("kv/team") is nested  # "kv/team" + "/" is the mount's prefix
    assert router.match("kvx/a") is None


def test_a_remembered_answer_follows_every_change_of_the_mounts() -> None:
    router = Router()
    assert router.match("kv/team/a") is None  # remembered: no mount
    kv = _route("kv/")
    router.mount(kv)
    assert router.match("kv/team/a") is kv
    nested = _route("kv/team/")
    router.mount(nested)
    assert router.match("kv/team/a") is nested
    router.unmount("kv/team/")
    assert router.match("kv/team/a") is kv
    replacement = _route("kv/")
    router.mount(replacement)  # the same prefix mounted again: a new route
    assert router.match("kv/team/a") is replacement
    router.clear()
    assert router.match("kv/team/a") is None


def test_an_answer_found_while_the_mounts_change_is_not_kept() -> None:
    """A search that began before a mount stores its answer in the dict the mount replaced."""
    router = Router()
    kv = _route("kv/")
    router.mount(kv)
    before = router._matched
    router.mount(_route("kv/team/"))
    before["kv/team/a"] = kv  # what a search begun before the mount would store
    assert router.match("kv/team/a") is not kv


def test_remembered_paths_are_bounded() -> None:
    router = Router()
    kv = _route("kv/")
    router.mount(kv)
    limit = router_module._MATCHED_PATHS
    for i in range(limit + 10):
        assert router.match(f"kv/{i}") is kv
    assert len(router._matched) <= limit


def test_long_paths_are_matched_but_not_remembered() -> None:
    """The memo's size stays small whatever paths clients send: only short paths are kept."""
    router = Router()
    kv = _route("kv/")
    router.mount(kv)
    long_path = "kv/" + "x" * router_module._MATCHED_LENGTH
    assert router.match(long_path) is kv
    assert long_path not in router._matched
    assert router.match("kv/short") is kv and "kv/short" in router._matched
