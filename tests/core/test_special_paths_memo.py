"""The pipeline's remembered special-path answers are those of the route serving the path now
(core/matching.py SpecialPaths)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tessera.auth.token import UNDECLARED_ROOT_PATHS
from tessera.barrier.aes_gcm import Barrier
from tessera.core.matching import SpecialPaths, path_matches
from tessera.framework import Backend
from tessera.routing.mounts import MountEntry
from tessera.routing.router import Route
from tessera.storage.base import StorageView
from tessera.storage.inmem import InmemPhysical


def _route(unauthenticated: list[str], root: list[str]) -> Route:
    backend = Backend(unauthenticated_paths=unauthenticated, root_paths=root, kind="credential")
    entry = MountEntry.new("auth", "x/", "approle")
    return Route(entry, backend, StorageView(Barrier(InmemPhysical()), "auth/x/"))  # a Storage, sealed


PATTERNS = ["login", "oidc/*", "issuer/+/pem", "root", "accessors/", "revoke-orphan"]
SEGMENTS = st.sampled_from(["login", "oidc", "issuer", "a", "pem", "root", "accessors", "", "+", "*"])


@given(st.lists(SEGMENTS, min_size=1, max_size=4))
def test_answers_are_the_pattern_matches_asked_twice(parts: list[str]) -> None:
    rel = "/".join(parts)
    route = _route(PATTERNS[:3], PATTERNS[3:] + list(UNDECLARED_ROOT_PATHS))
    memo = SpecialPaths()
    want = (path_matches(PATTERNS[:3], rel), path_matches(PATTERNS[3:] + list(UNDECLARED_ROOT_PATHS), rel))
    assert memo.flags(route, "auth/x/" + rel, rel) == want
    assert memo.flags(route, "auth/x/" + rel, rel) == want  # the remembered answer


def test_a_new_route_at_the_same_path_is_asked_afresh() -> None:
    memo = SpecialPaths()
    login_open = _route(["login"], [])
    assert memo.flags(login_open, "auth/x/login", "login") == (True, False)
    remounted = _route([], ["login"])  # another method mounted at the same path
    assert memo.flags(remounted, "auth/x/login", "login") == (False, True)
    assert memo.flags(login_open, "auth/x/login", "login") == (True, False)


def test_the_memo_is_bounded() -> None:
    memo = SpecialPaths()
    route = _route(["login"], [])
    for i in range(5000):
        memo.flags(route, f"auth/x/p{i}", f"p{i}")
    assert len(memo._answers) <= 4096
