"""sys/token-issuers with parent tokens as issuers: what another process of the same storage sees.

A worker or standby learns of a cut from storage (``invalidate_key``), not from the request that
made it: a parent's cut must reach it by the parent's salted ID, which the child tokens carry.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tessera.framework import Operation
from tessera.tokens.issuers import Issuers
from tests.tokens.conftest import CoreHarness


@pytest.fixture
def h() -> Iterator[CoreHarness]:
    harness = CoreHarness()
    try:
        yield harness
    finally:
        harness.close()


def _parent(h: CoreHarness) -> tuple[str, str, str]:
    """(parent token, its issuer id, its salted ID) for a token allowed to create children."""
    policy = 'path "auth/token/create" { capabilities = ["update"] }'
    h.request(Operation.UPDATE, "sys/policies/acl/minter", data={"policy": policy})
    resp = h.request(Operation.UPDATE, "auth/token/create", data={"policies": ["minter"], "ttl": "1h"})
    assert resp is not None and resp.auth is not None
    salted = h.store.salted(resp.auth.client_token)
    return resp.auth.client_token, "auth/token/parent/" + resp.auth.accessor, salted


def test_another_process_learns_a_parent_cut_from_storage(h: CoreHarness) -> None:
    _, issuer, salted = _parent(h)
    other = Issuers(h.store.storage)  # a worker's view: loaded before the cut
    other.load()
    assert not other.stale_parent(salted, 0)
    h.request(Operation.UPDATE, f"sys/token-issuers/{issuer}/bump")
    other.invalidate(issuer)  # what invalidate_key does for "issuers/<id>"
    assert other.stale_parent(salted, 0) and not other.stale_parent(salted, 1)
    assert other.epoch(issuer) == 1 and other.parent_epoch(salted) == 1
    restarted = Issuers(h.store.storage)
    restarted.load()
    assert restarted.parent_epoch(salted) == 1 and restarted.bumped() == {issuer: 1}
    # The stored entry names the parent by salted ID, inside the barrier: never the token itself.
    raw = h.store.storage.get("issuers/" + issuer)
    assert raw is not None and salted.encode() in raw


def test_a_worker_store_refuses_children_minted_before_the_cut(h: CoreHarness) -> None:
    parent, issuer, _ = _parent(h)
    resp = h.request(Operation.UPDATE, "auth/token/create", parent, {"type": "batch", "ttl": "10m"})
    assert resp is not None and resp.auth is not None
    child = resp.auth.client_token
    h.store.issuers.bump(issuer, h.store.accessor_target(issuer.rsplit("/", 1)[1]))
    h.store.issuers._parents.clear()  # as if another process had made the cut ...
    h.store.issuers._epochs.clear()
    assert h.store.lookup(child) is not None
    h.store.invalidate_key("issuers/" + issuer)  # ... and its write reached this one
    assert h.store.lookup(child) is None and h.store.refusal_of(child) == "issuer epoch"


def test_only_cut_parents_are_listed_and_any_accessor_reads(h: CoreHarness) -> None:
    _, cut, _ = _parent(h)
    _, untouched, _ = _parent(h)
    h.request(Operation.UPDATE, f"sys/token-issuers/{cut}/bump")
    listed = h.request(Operation.LIST, "sys/token-issuers")
    assert listed is not None
    parents = {k: v for k, v in listed.data["key_info"].items() if k.startswith("auth/token/parent/")}
    assert parents == {cut: {"epoch": 1}}
    read = h.request(Operation.READ, f"sys/token-issuers/{untouched}")
    assert read is not None and read.data == {"id": untouched, "epoch": 0}
