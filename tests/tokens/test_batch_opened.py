"""Batch tokens opened lately are copied, not decrypted again; every check still runs each time."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tessera.barrier.aes_gcm import Key, Keyring
from tessera.framework import Operation
from tessera.tokens import batch
from tests.tokens.conftest import CoreHarness


def _batch(harness: CoreHarness, **data: object) -> str:
    return harness.create(type="batch", policies=["default", "x"], ttl="10m", **data)


def test_a_second_lookup_copies_the_entry_without_decrypting(
    harness: CoreHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = _batch(harness, meta={"k": "v"})
    first = harness.store.lookup(token)
    barrier = harness.core.barrier
    monkeypatch.setattr(barrier, "decrypt", lambda *_: pytest.fail("decrypted again"))
    opened = batch.open_token(barrier, token)
    assert opened is not None
    again, tag = opened
    assert again.__dict__ == first.__dict__ and tag == token_tag(token)
    # Callers may change what they get: the next lookup is unaffected.
    again.policies.append("y")
    again.meta["k"] = "changed"
    again.internal_meta["z"] = "1"
    third = harness.store.lookup(token)
    assert third.policies == ["default", "x"] and third.meta == {"k": "v"} and "z" not in third.internal_meta


def token_tag(token: str) -> bytes:
    body = token[4:]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))[-batch.TAG_SIZE :]


def test_no_token_text_is_kept(harness: CoreHarness) -> None:
    token = _batch(harness)
    assert harness.store.lookup(token) is not None
    owner, entries = batch.OPENED._state
    assert owner is harness.core.barrier.keyring()
    assert hashlib.sha256(token[4:].encode()).digest() in entries
    assert all(token not in str(value) and token[4:] not in str(value) for value in entries.values())


def test_both_spellings_share_one_entry_and_keep_their_own_id(harness: CoreHarness) -> None:
    token = _batch(harness)
    short = "b." + token[4:]
    assert harness.store.lookup(token).id == token
    assert harness.store.lookup(short).id == short


def test_revocation_parent_and_expiry_are_checked_on_every_request(harness: CoreHarness) -> None:
    parent = harness.create(policies=["root"], ttl="1h")
    child = harness.create(parent, type="batch", policies=["default"], ttl="10m")
    revoked = _batch(harness)
    for token in (child, revoked):
        assert harness.store.lookup(token) is not None  # now remembered
    harness.request(Operation.UPDATE, "auth/token/revoke-batch", data={"token": revoked})
    assert harness.store.lookup(revoked) is None
    harness.request(Operation.UPDATE, "auth/token/revoke", data={"token": parent})
    assert harness.store.lookup(child) is None
    entry = harness.store.lookup(_batch(harness))
    assert entry is not None and not entry.expired(entry.expire_time - 1) and entry.expired(entry.expire_time)


def test_a_new_keyring_forgets_what_the_old_one_opened(harness: CoreHarness) -> None:
    token = _batch(harness)
    assert harness.store.lookup(token) is not None
    harness.core.seal()
    with pytest.raises(Exception):  # noqa: B017 - sealed: whatever the barrier raises, as before
        batch.open_token(harness.core.barrier, token)
    harness.core.unseal(harness.key)
    assert (
        batch.OPENED.get(harness.core.barrier.keyring(), hashlib.sha256(token[4:].encode()).digest()) is None
    )
    assert harness.store.lookup(token) is not None


def test_the_cache_is_bounded() -> None:
    opened = batch.OpenedTokens(limit=3)
    ring = _keyring()  # real keyrings: a compiled build (setup.py) checks the type
    for i in range(7):
        opened.put(ring, bytes([i]), ({}, b""))
        assert len(opened) <= 3
    assert opened.get(ring, bytes([6])) is not None
    assert opened.get(_keyring(), bytes([6])) is None


def _keyring() -> Keyring:
    """A keyring of one term (sealing needs its active key)."""
    return Keyring(b"", {1: Key(1, bytes(32), 0.0)}, 1)


def test_tampered_and_malformed_tokens_are_never_remembered(harness: CoreHarness) -> None:
    token = _batch(harness)
    forged = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    size = len(batch.OPENED)
    assert harness.store.lookup(forged) is None
    with pytest.raises(batch.MalformedBatchToken):
        harness.store.lookup("hvb.not*base64")
    assert len(batch.OPENED) == size
