"""KeySet: membership by 64-bit digest in a sorted array."""

from __future__ import annotations

from tessera.storage.keyset import KeySet


def test_membership_after_freeze() -> None:
    keys = KeySet()
    present = [f"h{i:064x}" for i in range(0, 2000, 2)]
    for key in reversed(present):
        keys.add(key)
    keys.freeze()
    assert len(keys) == 1000
    assert all(key in keys for key in present)
    assert not any(f"h{i:064x}" in keys for i in range(1, 2000, 2))
    assert 5 not in keys and "" not in keys
