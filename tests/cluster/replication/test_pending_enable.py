"""The pending-enable marker (``replication/pending.py``): who may lead, and its end at unseal."""

from __future__ import annotations

import logging
import time

import pytest

from tessera.core.core import Core, CoreConfig
from tessera.replication import pending
from tessera.storage.inmem import InmemPhysical

NODE = "https://node-a:8200"


def test_only_the_enabling_node_may_lead_until_the_marker_expires() -> None:
    physical = InmemPhysical()
    pending.mark(physical, "dr", NODE, ttl=60.0)
    marker = pending.read(physical)
    assert marker is not None and (marker.kind, marker.node) == ("dr", NODE)
    now = time.time()
    assert not marker.blocks(NODE, now)
    assert marker.blocks("https://node-b:8200", now)
    assert not marker.blocks("https://node-b:8200", now + 61.0)  # its node died: the others may lead
    pending.clear(physical)
    assert pending.read(physical) is None


def test_an_unreadable_marker_blocks_no_node() -> None:
    physical = InmemPhysical()
    physical.put(pending.MARKER_KEY, b"not json")
    assert pending.read(physical) is None


def test_a_marker_whose_state_is_gone_is_logged_and_removed_at_unseal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A restarted enabling node (or the node leading after the expiry) has no state to save:
    the enable was lost, said once, and the marker goes so that it blocks no one."""
    core = Core(InmemPhysical(), CoreConfig())
    key = core.initialize(1, 1)["keys"][0]
    core.unseal(key)
    try:
        core.seal()
        pending.mark(core.replication.tap, "performance", NODE)
        with caplog.at_level(logging.ERROR, logger="tessera.replication"):
            core.unseal(key)
        assert pending.read(core.replication.tap) is None
        assert "the performance secondary enable on https://node-a:8200 was lost" in caplog.text
        assert core.replication.mode("performance") == "disabled"
    finally:
        core.shutdown()
