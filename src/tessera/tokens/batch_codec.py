"""The compact binary form of a batch token's entry (what the barrier encrypts inside ``hvb.``).

JSON made Tessera's batch tokens nearly twice as long as Vault's protobuf ones. This form packs
the same facts, plus the issuer and its epoch, in fewer bytes, and stays as quick to read as
orjson (every request with a batch token decodes one): a fixed header read by one
``struct.unpack_from``, the parent's 32-byte salted hash and a UUID entity ID as raw bytes, then
every string joined by NUL and read by one ``split``. Frequent strings (``default``,
``auth/token/create``, ...) are written as one control character.

Header: version ``0x01`` (JSON always starts with ``{``, so older tokens stay readable), flags,
creation time, TTL, epoch, and how many policies, metadata pairs, CIDRs and internal pairs
follow. A child token minted after its parent was cut sets ``_PARENT_EPOCH`` and splits the epoch
field in two 16-bit halves (parent's epoch high, issuer's low): no byte more, and every token
minted before (flag unset) reads as it did. Strings that would be ambiguous here (control characters, too many items) make
``pack`` return None, and the caller falls back to JSON, which carries the same fields.
"""

from __future__ import annotations

import re
import struct
from itertools import chain
from typing import Any

VERSION = 0x01
_HEADER = struct.Struct(">BBIIIBBBB")  # version, flags, created, ttl, epoch, 4 counts

_PARENT = 1 << 0
_ISSUER_IS_PATH = 1 << 1
_META = 1 << 2  # meta present (None and {} are both "no meta" to a reader)
_ENTITY_UUID = 1 << 3
_ENTITY = 1 << 4  # an entity ID that is not a UUID, as a string
_NAMESPACE = 1 << 5
_NO_IDENTITY_POLICIES = 1 << 6
_PARENT_EPOCH = 1 << 7  # the epoch field holds the parent's epoch too
_HALF = 0xFFFF

_SEP = "\x00"
# One control character each. Append only: a token minted with a code must keep its meaning.
_COMMON = (
    "",
    "default",
    "token",
    "auth/token/create",
    "auth/token/create-orphan",
    "role_name",
    "auth/approle/login",
)
_CODE_OF = {text: chr(i + 1) for i, text in enumerate(_COMMON) if text}
_TEXT_OF = {chr(i + 1): text for i, text in enumerate(_COMMON)}
_CONTROL = re.compile("[\x00-\x1f]")  # separator and codes: such strings go to JSON instead


class CodecError(ValueError):
    """Bytes that no encoder produced (only reachable with the barrier key: a bug, not an attack)."""


# What ``pack`` writes after the header, by everything it is made of but the numbers (creation
# time, TTL, epochs): tokens minted in a row (one parent's creations, one role's logins) differ
# only there. Bounded (cleared when full), as the login memos are; it holds what the tokens carry
# (salted parent IDs, policies, metadata), never a token's ID.
PACK_MEMO_SIZE = 1024
# (flags, policy, metadata, CIDR and internal pair counts, the bytes after the header)
_Parts = tuple[int, int, int, int, int, bytes]
_packed: dict[tuple[Any, ...], _Parts] = {}


def pack(fields: dict[str, Any]) -> bytes | None:
    """Encode a batch entry's fields (the names of ``TokenEntry``), or None if this form cannot
    hold them (the caller writes JSON then). Every batch token minted comes here: the part after
    the header is remembered (``_packed``), so a mint like the last ones packs one header."""
    meta = fields["meta"]
    internal = fields["internal_meta"]
    parent: str = fields["parent"]
    key = (
        parent,
        fields["path"],
        fields["issuer"],
        fields["entity_id"],
        fields["namespace_id"],
        fields["display_name"],
        fields["role"],
        not fields["no_identity_policies"],
        tuple(fields["policies"]),
        tuple(meta.items()) if meta else None,
        tuple(internal.items()) if internal else None,
        tuple(fields["bound_cidrs"]),
    )
    try:
        parts = _packed.get(key)
    except TypeError:  # an unhashable value: not a string, which _parts refuses too
        return pack_unremembered(fields)
    if parts is None:
        parts = _parts(fields)
        if parts is None:
            return None
        if len(_packed) >= PACK_MEMO_SIZE:
            _packed.clear()
        _packed[key] = parts
    return _with_header(fields, parts)


def pack_unremembered(fields: dict[str, Any]) -> bytes | None:
    """``pack`` without its memo (tests hold the two to the same bytes)."""
    parts = _parts(fields)
    return None if parts is None else _with_header(fields, parts)


def _with_header(fields: dict[str, Any], parts: _Parts) -> bytes | None:
    """The header (creation time, TTL, epochs: what changes from one mint to the next), then
    the rest; None if a number is out of this form's range."""
    flags, n_pol, n_meta, n_cidr, n_int, tail = parts
    epoch = fields["epoch"]
    if flags & _PARENT:
        parent_epoch = fields.get("parent_epoch", 0)
        if parent_epoch:
            if not 0 < parent_epoch <= _HALF or not 0 <= epoch <= _HALF:
                return None  # an epoch past 65535: JSON carries it
            flags |= _PARENT_EPOCH
            epoch |= parent_epoch << 16
    try:
        header = _HEADER.pack(
            VERSION, flags, int(fields["creation_time"]), fields["ttl"], epoch, n_pol, n_meta, n_cidr, n_int
        )
    except (struct.error, TypeError):  # out of range, too many items
        return None
    return header + tail


def _parts(fields: dict[str, Any]) -> _Parts | None:
    """What ``pack`` writes but the header's numbers: the flags (less ``_PARENT_EPOCH``), the
    counts and the bytes after the header; None if this form cannot hold them."""
    parent: str = fields["parent"]
    path: str = fields["path"]
    issuer: str = fields["issuer"] or path
    entity: str = fields["entity_id"]
    namespace: str = fields["namespace_id"]
    meta = fields["meta"]
    internal = fields["internal_meta"]
    policies = fields["policies"]
    cidrs = fields["bound_cidrs"]
    texts = [path, fields["display_name"], fields["role"]]
    flags = 0
    raw = b""
    if parent:
        if len(parent) != 65 or parent[0] != "h":
            return None
        flags = _PARENT
        raw = _parent_bytes(parent)
    if issuer == path:
        flags |= _ISSUER_IS_PATH
    else:
        texts.append(issuer)
    if entity:
        entity_raw = _uuid_bytes(entity)
        if entity_raw is None:
            flags |= _ENTITY
            texts.append(entity)
        else:
            flags |= _ENTITY_UUID
            raw += entity_raw
    if namespace != "root" and namespace:
        flags |= _NAMESPACE
        texts.append(namespace)
    if fields["no_identity_policies"]:
        flags |= _NO_IDENTITY_POLICIES
    texts += policies
    if meta:
        flags |= _META
        texts += chain.from_iterable(meta.items())
    if internal:
        texts += chain.from_iterable(internal.items())
    texts += cidrs
    try:
        joined = "".join(texts)
        counts = (len(policies), len(meta) if meta else 0, len(cidrs), len(internal))
    except TypeError:  # not strings
        return None
    # A printable text holds no separator or code character (``isprintable`` is a tenth of the
    # regex's cost); others are searched.
    if not joined.isprintable() and _CONTROL.search(joined) is not None:
        return None
    body = raw + _SEP.join([_CODE_OF.get(t, t) for t in texts]).encode()
    return flags, *counts, body


_last_parent: tuple[str, bytes] = ("", b"")


def _parent_bytes(parent: str) -> bytes:
    """The parent's 32 bytes; tokens minted in a row usually share their parent."""
    global _last_parent
    last = _last_parent
    if last[0] == parent:
        return last[1]
    raw = bytes.fromhex(parent[1:])
    _last_parent = (parent, raw)
    return raw


_last_entity: tuple[str, bytes | None] = ("", None)


def _uuid_bytes(value: str) -> bytes | None:
    """The 16 bytes of a UUID in its canonical spelling (lower-case, dashed), else None.

    Logins in a row are often one entity's (a CI job's role): the last answer is kept, as
    ``_parent_bytes`` keeps the last parent's (an entity ID is no secret)."""
    global _last_entity
    last = _last_entity
    if last[0] == value:
        return last[1]
    raw = _spelled_uuid_bytes(value)
    _last_entity = (value, raw)
    return raw


def _spelled_uuid_bytes(value: str) -> bytes | None:
    """``_uuid_bytes`` itself: checked by spelling it back, as ``str(uuid.UUID(value)) == value``
    did, without building a ``uuid.UUID`` (~3 µs on every AppRole batch login)."""
    digits = value.replace("-", "")
    if len(value) != 36 or len(digits) != 32:
        return None
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        return None
    return raw if _uuid_text(raw) == value else None


def _uuid_text(raw: bytes) -> str:
    """``str(uuid.UUID(bytes=raw))``."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _pairs(texts: list[str], at: int, count: int) -> dict[str, str]:
    # Equal halves: unpack checked the total count before.
    return (
        dict(zip(texts[at : at + 2 * count : 2], texts[at + 1 : at + 2 * count : 2], strict=False))
        if count
        else {}
    )


def unpack(data: bytes) -> dict[str, Any]:
    """The fields ``pack`` wrote; raises CodecError (or UnicodeDecodeError) on anything else.

    On every request with a batch token: slices and C calls, no loop over bytes.
    """
    if len(data) < _HEADER.size or data[0] != VERSION:
        raise CodecError("truncated or unknown batch token")
    _, flags, created, ttl, epoch, n_pol, n_meta, n_cidr, n_int = _HEADER.unpack_from(data)
    pos = _HEADER.size
    parent = entity = ""
    parent_epoch = 0
    if flags & _PARENT:
        parent = "h" + data[pos : pos + 32].hex()
        pos += 32
        if flags & _PARENT_EPOCH:
            parent_epoch, epoch = epoch >> 16, epoch & _HALF
    if flags & _ENTITY_UUID:
        entity = _uuid_text(data[pos : pos + 16])
        pos += 16
    texts = [_TEXT_OF.get(t, t) for t in data[pos:].decode().split(_SEP)]
    path = issuer = texts[0]
    at = 3
    if not flags & _ISSUER_IS_PATH:
        issuer, at = texts[at], at + 1
    if flags & _ENTITY:
        entity, at = texts[at], at + 1
    namespace = "root"
    if flags & _NAMESPACE:
        namespace, at = texts[at], at + 1
    policies_end = at + n_pol
    meta_end = policies_end + 2 * n_meta
    cidrs_at = meta_end + 2 * n_int
    if len(texts) != cidrs_at + n_cidr or (parent and len(parent) != 65):
        raise CodecError("field counts do not match")
    return {
        "parent": parent,
        "policies": texts[at:policies_end],
        "path": path,
        "meta": _pairs(texts, policies_end, n_meta) if flags & _META else None,
        "display_name": texts[1],
        "creation_time": float(created),
        "ttl": ttl,
        "role": texts[2],
        "entity_id": entity,
        "bound_cidrs": texts[cidrs_at:],
        "namespace_id": namespace,
        "internal_meta": _pairs(texts, meta_end, n_int),
        "no_identity_policies": bool(flags & _NO_IDENTITY_POLICIES),
        "issuer": issuer,
        "epoch": epoch,
        "parent_epoch": parent_epoch,
    }
