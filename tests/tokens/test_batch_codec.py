"""The compact batch-token form: round trips, old JSON tokens still read, tampering refused."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.framework import CodedError, Operation
from tessera.tokens import batch, batch_codec
from tessera.tokens.entry import BATCH, TokenEntry
from tests.tokens.conftest import CoreHarness

_HEADER = 4 + 1 + 12  # key term, barrier version, GCM nonce: where the ciphertext starts


def _fields(**overrides: object) -> dict:
    base = TokenEntry(
        type=BATCH,
        parent="h" + "ab" * 32,
        policies=["default", "x"],
        path="auth/approle/login",
        meta={"role_name": "ci"},
        display_name="approle",
        creation_time=1_765_000_000.0,
        ttl=900,
        entity_id=str(uuid.uuid4()),
        bound_cidrs=["10.0.0.0/8"],
        internal_meta={"k": "v"},
        issuer="auth/approle/role/ci",
        epoch=3,
    ).__dict__
    return {**base, **overrides}


_KEYS = [
    "parent",
    "policies",
    "path",
    "meta",
    "display_name",
    "creation_time",
    "ttl",
    "role",
    "entity_id",
    "bound_cidrs",
    "namespace_id",
    "internal_meta",
    "no_identity_policies",
    "issuer",
    "epoch",
    "parent_epoch",
]


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"parent": "", "meta": None, "entity_id": "", "bound_cidrs": [], "internal_meta": {}},
        {"entity_id": "not-a-uuid", "namespace_id": "ns1", "no_identity_policies": True},
        {"issuer": "auth/approle/login", "path": "auth/approle/login", "epoch": 0},
        {"path": "sys/odd/path", "issuer": "elsewhere", "display_name": "token", "epoch": 2**32 - 1},
        {"policies": ["default", "ünïcode", ""], "meta": {"e": "", "ü": "ß"}, "role": "r1"},
        {"parent_epoch": 1, "epoch": 0},
        {"parent_epoch": 0xFFFF, "epoch": 0xFFFF},
    ],
)
def test_pack_round_trips_every_field(overrides: dict) -> None:
    fields = _fields(**overrides)
    back = batch_codec.unpack(batch_codec.pack(fields))
    assert {k: back[k] for k in _KEYS} == {k: fields[k] for k in _KEYS}


@pytest.mark.parametrize(
    "mangle", [lambda b: b"", lambda b: b[:10], lambda b: b"\x02" + b[1:], lambda b: b + b"\x00x"]
)
def test_bytes_no_encoder_wrote_are_rejected(mangle: Callable[[bytes], bytes]) -> None:
    """GCM already refuses altered tokens; this is the decoder's own guard against a bug."""
    with pytest.raises(batch_codec.CodecError):
        batch_codec.unpack(mangle(batch_codec.pack(_fields())))


@pytest.mark.parametrize(
    "overrides",
    [
        {"policies": ["default", "tab\there"]},
        {"meta": {"k": "nul\x00inside"}},
        {"policies": [f"p{i}" for i in range(300)]},
        {"epoch": 2**32},
        {"meta": {"k": 5}},
        {"parent_epoch": 0x10000},
        {"parent_epoch": 1, "epoch": 0x10000},
    ],
)
def test_what_the_compact_form_cannot_hold_falls_back_to_json(harness: CoreHarness, overrides: dict) -> None:
    assert batch_codec.pack(_fields(**overrides)) is None
    entry = TokenEntry(
        **{k: v for k, v in _fields(**overrides).items() if k in TokenEntry.__dataclass_fields__}
    )
    entry.creation_time = float(int(time.time()))
    token = batch.encode(harness.core.barrier, entry)
    back = batch.decode(harness.core.barrier, token)
    assert back is not None and back.issuer == "auth/approle/role/ci" and back.epoch == entry.epoch
    assert back.parent_epoch == entry.parent_epoch
    assert (back.policies, back.meta) == (entry.policies, entry.meta)


def test_a_token_minted_in_the_old_json_form_is_still_accepted(harness: CoreHarness) -> None:
    now = float(int(time.time()))
    entry = TokenEntry(
        type=BATCH,
        policies=["default"],
        path="auth/token/create",
        display_name="token",
        creation_time=now,
        ttl=600,
    )
    old = batch.encode_json(harness.core.barrier, entry)
    assert old.startswith("hvb.") and len(old) > len(batch.encode(harness.core.barrier, entry))
    found = harness.store.lookup(old)
    assert found is not None and found.policies == ["default"] and found.issuer == "auth/token/create"
    resp = harness.request(Operation.UPDATE, "auth/token/lookup", data={"token": old})
    assert resp is not None and resp.data["ttl"] > 0 and resp.data["type"] == "batch"
    # It can be revoked like a new one, and expires as before.
    assert harness.request(Operation.UPDATE, "auth/token/revoke-batch", data={"token": old}) is None
    assert harness.store.lookup(old) is None
    entry.creation_time = now - 700
    assert harness.store.lookup(batch.encode_json(harness.core.barrier, entry)) is None


def _flip(token: str, offset: int) -> str:
    """The token with one ciphertext bit flipped at plaintext byte ``offset`` (AES-GCM is a
    stream cipher: without the tag this would change exactly that field)."""
    body = token[4:]
    blob = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    blob[_HEADER + offset] ^= 0x01
    return "hvb." + base64.urlsafe_b64encode(bytes(blob)).decode().rstrip("=")


def test_tampering_with_the_issuer_or_epoch_breaks_the_token(harness: CoreHarness) -> None:
    role = {"token_type": "batch", "allowed_policies": ["x"], "orphan": True, "renewable": False}
    harness.request(Operation.UPDATE, "auth/token/roles/ci", data=role)
    token = harness.create(path="auth/token/create/ci", policies=["x"], ttl="15m")
    entry = harness.store.lookup(token)
    assert entry is not None and (entry.issuer, entry.epoch) == ("auth/token/create/ci", 0)
    plain = harness.core.barrier.decrypt(
        "", base64.urlsafe_b64decode(token[4:] + "=" * (-len(token[4:]) % 4))
    )
    epoch_at = 13  # version, flags, creation time (4), TTL (4), then the epoch's 4 bytes, big-endian
    issuer_at = plain.index(b"/ci")  # the path, which is the issuer here
    assert int.from_bytes(plain[10:14], "big") == batch_codec.unpack(plain)["epoch"] == 0
    assert batch_codec.unpack(plain[:epoch_at] + b"\x01" + plain[epoch_at + 1 :])["epoch"] == 1
    for offset in (epoch_at, issuer_at, 1):
        forged = _flip(token, offset)
        assert forged != token
        assert harness.store.lookup(forged) is None
        with pytest.raises(CodedError) as refused:  # not "refused (...)": it never decrypted
            harness.request(Operation.UPDATE, "auth/token/lookup", data={"token": forged})
        assert (refused.value.status, str(refused.value)) == (403, "bad token")


_SOME_UUID = "9da152c6-ed2d-42f0-96f9-8750326266fb"


@pytest.mark.parametrize(
    "text",
    [
        _SOME_UUID,
        "00000000-0000-0000-0000-000000000000",
        _SOME_UUID.upper(),
        "{" + _SOME_UUID + "}",
        _SOME_UUID.replace("-", ""),
        "urn:uuid:" + _SOME_UUID,
        "1234567-89ab-cdef-0123-456789abcdef0",
        "12345678-9abc-def0-1234-56789abcdef ",
        "12345678-9abc-def0-12 4-56789abcdef0",
        "not-a-uuid",
        "",
    ],
)
def test_entity_ids_are_packed_raw_only_in_their_canonical_spelling(text: str) -> None:
    try:
        canonical = str(uuid.UUID(text)) == text
    except ValueError:
        canonical = False
    raw = batch_codec._uuid_bytes(text)
    assert batch_codec._uuid_bytes(text) == raw == batch_codec._spelled_uuid_bytes(text)  # remembered
    assert (raw is not None) == canonical
    if raw is not None:
        assert raw == uuid.UUID(text).bytes and batch_codec._uuid_text(raw) == text
    back = batch_codec.unpack(batch_codec.pack(_fields(entity_id=text)))
    assert back["entity_id"] == text


@given(st.text())
def test_the_control_check_agrees_with_the_regex(text: str) -> None:
    packed = batch_codec.pack(_fields(display_name=text))
    assert (packed is None) == (batch_codec._CONTROL.search(text) is not None)
    if packed is not None:
        assert batch_codec.unpack(packed)["display_name"] == text


@pytest.mark.parametrize("odd", ["del\x7f", "line\u2028sep", "zero\u200bwidth", "\x1f"])
def test_non_printable_text_is_packed_unless_it_holds_a_control_character(odd: str) -> None:
    packed = batch_codec.pack(_fields(policies=["default", odd]))
    if odd == "\x1f":
        assert packed is None
    else:
        assert packed is not None and batch_codec.unpack(packed)["policies"] == ["default", odd]


_SHAPES = [
    {},
    {"parent": "", "meta": None, "entity_id": "", "bound_cidrs": [], "internal_meta": {}},
    {"entity_id": "not-a-uuid", "namespace_id": "ns1", "no_identity_policies": True},
    {"issuer": "", "epoch": 0},
    {"parent_epoch": 1, "epoch": 0},
    {"parent_epoch": 0xFFFF, "epoch": 0xFFFF},
    {"parent_epoch": 0x10000},
    {"parent_epoch": 1, "epoch": 0x10000},
    {"parent": "", "parent_epoch": 7},  # no parent: its epoch is not written
    {"policies": [f"p{i}" for i in range(300)]},
    {"epoch": 2**32},
    {"ttl": 900.0},
    {"ttl": -1},
    {"meta": {"k": 5}},
    {"meta": {"k": ["unhashable"]}},
    {"policies": ["default", "tab\there"]},
    {"parent": "h" + "ab" * 31},  # not a salted ID
    {"no_identity_policies": 1},
]


@pytest.mark.parametrize("overrides", _SHAPES)
def test_the_remembered_pack_writes_what_packing_afresh_writes(overrides: dict) -> None:
    """``pack`` remembers what follows the header; each answer is the one ``pack_unremembered``
    gives, on a miss, on a hit, and with the header's numbers changed between the two."""
    fields = _fields(**overrides)
    expected = batch_codec.pack_unremembered(fields)
    assert batch_codec.pack(fields) == expected
    assert batch_codec.pack(fields) == expected  # remembered now (when packable)
    for change in ({"creation_time": 1_800_000_000.0}, {"ttl": 60}, {"epoch": 5}, {"parent_epoch": 2}):
        changed = {**fields, **change}
        assert batch_codec.pack(changed) == batch_codec.pack_unremembered(changed)
    if expected is not None:
        back = batch_codec.unpack(batch_codec.pack(fields))
        assert back["creation_time"] == fields["creation_time"] and back["ttl"] == fields["ttl"]


@given(
    st.lists(st.text(max_size=8), max_size=4),
    st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
    st.text(max_size=10),
    st.integers(min_value=-1, max_value=2**32),
    st.integers(min_value=0, max_value=2**17),
)
def test_remembered_and_fresh_packs_agree(
    policies: list[str], meta: dict[str, str], name: str, ttl: int, parent_epoch: int
) -> None:
    fields = _fields(policies=policies, meta=meta, display_name=name, ttl=ttl, parent_epoch=parent_epoch)
    expected = batch_codec.pack_unremembered(fields)
    assert batch_codec.pack(fields) == expected
    assert batch_codec.pack(fields) == expected


def test_the_pack_memo_is_bounded() -> None:
    for i in range(batch_codec.PACK_MEMO_SIZE + 10):
        fields = _fields(display_name=f"n{i}")
        assert batch_codec.pack(fields) == batch_codec.pack_unremembered(fields)
    assert len(batch_codec._packed) <= batch_codec.PACK_MEMO_SIZE
