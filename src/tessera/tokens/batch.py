"""Batch tokens: the entry itself, encrypted with the barrier keyring, is the token.

Layout: ``hvb.`` + base64url-nopad(term (4) | 0x02 | nonce (12) | AES-GCM(entry) | tag), the same
shape as Vault's. Nothing is written to storage; any key term still in the keyring decrypts,
so batch tokens survive ``sys/rotate``.

The entry is the compact binary form of ``batch_codec`` (issuer and epoch included, so AES-GCM
authenticates them). Tokens minted before it carry JSON; they are read until they expire.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from typing import Any

import orjson

from ..barrier.aes_gcm import Barrier, BarrierError, Keyring
from . import batch_codec
from .entry import BATCH, BATCH_PREFIXES, TokenEntry

_RAW_URL_B64 = re.compile(r"[A-Za-z0-9_-]*")
_URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_URL_B64_VALUE = {c: i for i, c in enumerate(_URL_ALPHABET)}
_URL_TO_STD = str.maketrans("-_", "+/")
_STD_TO_URL = bytes.maketrans(b"+/", b"-_")
_PADDING = ("", "", "==", "=")
# Low bits of the last character that carry no data, by length % 4 (-1: impossible length).
_SPARE_BITS = (0, -1, 0x0F, 0x03)

# The JSON form's short keys: tokens minted before batch_codec, and entries it cannot hold.
_FIELDS = (
    ("p", "parent"),
    ("P", "policies"),
    ("a", "path"),
    ("m", "meta"),
    ("d", "display_name"),
    ("c", "creation_time"),
    ("t", "ttl"),
    ("r", "role"),
    ("e", "entity_id"),
    ("b", "bound_cidrs"),
    ("n", "namespace_id"),
    ("i", "internal_meta"),
    ("x", "no_identity_policies"),
    ("I", "issuer"),
    ("E", "epoch"),
    ("q", "parent_epoch"),
)


TAG_SIZE = 16  # AES-GCM's tag, the blob's last bytes


def canonical(token_id: str) -> str:
    """The ``hvb.`` spelling of a batch token (``b.`` is accepted too): what token_sha256 hashes."""
    for prefix in BATCH_PREFIXES:
        if token_id.startswith(prefix):
            return "hvb." + token_id[len(prefix) :]
    return token_id


class MalformedBatchToken(ValueError):
    """Bad base64: Vault answers 500 here; Tessera answers 403 (see README)."""


def encode(barrier: Barrier, entry: TokenEntry) -> str:
    packed = batch_codec.pack(entry.__dict__)
    if packed is None:
        return encode_json(barrier, entry)  # control characters or hundreds of policies: rare
    blob = barrier.encrypt("", packed)
    return "hvb." + binascii.b2a_base64(blob, newline=False).translate(_STD_TO_URL, b"=").decode()


def encode_json(barrier: Barrier, entry: TokenEntry) -> str:
    """The JSON form: what older servers minted (tests mint such tokens), and the fallback."""
    doc = {}
    for short, name in _FIELDS:
        value = getattr(entry, name)
        if name == "namespace_id" and value == "root":
            continue  # the default; keeps root-namespace tokens short
        if value or name == "creation_time":  # empty values ("", None, [], {}, 0) are left out
            doc[short] = value
    blob = barrier.encrypt("", orjson.dumps(doc))
    return "hvb." + binascii.b2a_base64(blob, newline=False).translate(_STD_TO_URL, b"=").decode()


def decode(barrier: Barrier, token_id: str) -> TokenEntry | None:
    """The entry inside a batch token, or None if it does not decrypt (tampered or foreign)."""
    opened = open_token(barrier, token_id)
    return None if opened is None else opened[0]


def open_token(barrier: Barrier, token_id: str) -> tuple[TokenEntry, bytes] | None:
    """The entry inside a batch token and the token's GCM tag, or None (tampered or foreign).

    The tag names the token for the deny-list: unforgeable, unique per token, the same under
    either prefix (``hvb.``/``b.``), and free to take. Every request with a batch token comes
    here, so the checks are C calls: one regex, one look at the last character's spare bits,
    then either a fresh copy of the entry from :data:`OPENED` (a token seen lately) or one
    base64 decode and one AES-GCM open.
    """
    body = token_id
    for prefix in BATCH_PREFIXES:
        if body.startswith(prefix):
            body = body[len(prefix) :]
            break
    # Strict RawURLEncoding: Python's decoder would skip foreign characters and read '+' as '-',
    # letting altered spellings of a token through.
    if not _RAW_URL_B64.fullmatch(body):
        raise MalformedBatchToken("illegal base64 data")
    spare = _SPARE_BITS[len(body) % 4]
    if spare < 0:
        raise MalformedBatchToken("illegal base64 data")  # a length no encoding produces
    if spare and _URL_B64_VALUE[body[-1]] & spare:
        return None  # non-zero trailing bits: another spelling of some token, never a token itself
    ring = barrier.keyring()  # sealed: SealedError, as the decryption below would raise
    key = hashlib.sha256(body.encode()).digest()
    hit = OPENED.get(ring, key)
    if hit is not None:
        entry = thaw(hit[0])
        entry.id = token_id
        return entry, hit[1]
    opened = _open(barrier, body)
    if opened is None:
        return None
    entry, tag = opened
    OPENED.put(ring, key, (freeze(entry), tag))
    entry.id = token_id
    return entry, tag


def _open(barrier: Barrier, body: str) -> tuple[TokenEntry, bytes] | None:
    """Decrypt a token's base64 body (checked by the caller) into its entry, or None."""
    try:
        blob = binascii.a2b_base64(body.translate(_URL_TO_STD) + _PADDING[len(body) % 4])
        plain = barrier.decrypt("", blob)
        fields = _fields(plain)
    except (binascii.Error, BarrierError, orjson.JSONDecodeError, ValueError):
        return None  # CodecError and UnicodeDecodeError are ValueErrors
    if fields is None:
        return None
    entry = TokenEntry.blank()  # sixteen keywords to the constructor cost ~9k instructions more
    state = entry.__dict__
    state.update(fields)  # the names of TokenEntry's fields, each once (batch_codec, _FIELDS)
    state["type"] = BATCH
    state["renewable"] = False
    entry.issue_time = float(entry.creation_time)
    entry.creation_ttl = entry.ttl
    entry.expire_time = float(entry.creation_time) + entry.ttl if entry.ttl else 0.0
    return entry, blob[-TAG_SIZE:]


# -- tokens opened lately ------------------------------------------------------------------------
# A client sends the same batch token with every request: its entry is kept, so that the next
# request copies it instead of decoding base64, opening AES-GCM and unpacking again. Only what the
# token says is kept, by the SHA-256 of its text (no token text stays in memory, as with service
# tokens); expiry, the parent's liveness, the deny-list and issuer epochs are checked on every
# request by the caller, as before. An entry is the entry's attributes with lists and dicts as
# tuples (plain values only, which the garbage collector stops tracking): one dict update and
# five copies make a fresh TokenEntry (0.6 µs, where the dataclass constructor took 1.8).
_LISTS = ("policies", "bound_cidrs")
_DICTS = ("meta", "internal_meta", "auth_internal_data")
Frozen = dict[str, Any]


def freeze(entry: TokenEntry) -> Frozen:
    state = dict(entry.__dict__)
    state["id"] = ""
    for name in _LISTS:
        state[name] = tuple(state[name])
    for name in _DICTS:
        value = state[name]
        state[name] = None if value is None else tuple(value.items())
    return state


def thaw(frozen: Frozen) -> TokenEntry:
    """A fresh entry the caller may change: its lists and dicts are its own."""
    entry = object.__new__(TokenEntry)
    state = frozen.copy()  # one copy of a dict of the same keys: no insertions one by one
    entry.__dict__ = state
    for name in _LISTS:
        state[name] = list(state[name])
    for name in _DICTS:
        value = state[name]
        if value is not None:
            state[name] = dict(value)
    return entry


class OpenedTokens:
    """Entries of batch tokens opened under one keyring, bounded (~1.3 KB an entry, so at most
    ~5 MB); a new keyring starts afresh (seal, unseal, ``sys/rotate``, a worker's reload), so
    nothing outlives the key that opened it."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        # One tuple, replaced whole: a thread never files an entry under another keyring.
        self._state: tuple[Keyring | None, dict[bytes, tuple[Frozen, bytes]]] = (None, {})

    def get(self, ring: Keyring, key: bytes) -> tuple[Frozen, bytes] | None:
        owner, entries = self._state
        return entries.get(key) if owner is ring else None

    def put(self, ring: Keyring, key: bytes, value: tuple[Frozen, bytes]) -> None:
        owner, entries = self._state
        if owner is not ring or len(entries) >= self.limit:
            entries = {}  # bounded: a flood of distinct tokens only costs opening them again
            self._state = (ring, entries)
        entries[key] = value

    def __len__(self) -> int:
        return len(self._state[1])

    def clear(self) -> None:
        self._state = (None, {})


OPENED = OpenedTokens()


def _fields(plain: bytes) -> dict[str, Any] | None:
    if plain[:1] != b"{":
        return batch_codec.unpack(plain)
    doc = orjson.loads(plain)
    if not isinstance(doc, dict):
        return None
    fields = {name: doc[short] for short, name in _FIELDS if short in doc}
    if "issuer" not in fields:  # minted before issuers: their path, at epoch 0
        fields["issuer"] = str(fields.get("path", ""))
    return fields
