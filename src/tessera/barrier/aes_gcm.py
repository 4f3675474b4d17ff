"""The security barrier: everything stored passes through AES-256-GCM with a keyring of terms.

Ciphertext layout (as Vault's aes_gcm barrier, version 2):
``term (4 bytes, big endian) | 0x02 | nonce (12) | ciphertext | tag (16)``, with the storage
path as additional data so a value cannot be moved to another key. The keyring is encrypted
with the root key; the root key is encrypted with the unseal key that Shamir shares rebuild.

Reads are served from a plaintext cache (see :class:`ReadCache`) when this process is the only
writer of the storage (in memory, SQLite); every write through the barrier invalidates it.
"""

from __future__ import annotations

import base64
import builtins
import os
import struct
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..framework.errors import SealedError
from ..runtime.nonces import gcm_nonce
from ..storage.base import Physical, Storage, TxnOp
from ..telemetry import metrics

VERSION = 2
KEYRING_PATH = "core/keyring"
ROOT_KEY_PATH = "core/root-key"
_HEADER = 5  # term + version


class BarrierError(Exception):
    pass


@dataclass
class Key:
    term: int
    value: bytes
    install_time: float

    def to_json(self) -> dict[str, object]:
        return {
            "term": self.term,
            "value": base64.b64encode(self.value).decode(),
            "install_time": self.install_time,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Key:
        return cls(int(d["term"]), base64.b64decode(str(d["value"])), float(d["install_time"]))


class Keyring:
    def __init__(self, root_key: bytes, keys: dict[int, Key], active_term: int) -> None:
        self.root_key = root_key
        self.keys = keys
        self.active_term = active_term
        self._aead = {t: AESGCM(k.value) for t, k in keys.items()}
        # What sealing under the active term needs, made once per keyring (a rotation makes a new
        # Keyring): its AESGCM object and the blob's 5-byte header.
        self.sealer: tuple[AESGCM, bytes] = (
            self._aead[active_term],
            struct.pack(">IB", active_term, VERSION),
        )

    @classmethod
    def new(cls, root_key: bytes) -> Keyring:
        key = Key(1, AESGCM.generate_key(256), time.time())
        return cls(root_key, {1: key}, 1)

    def rotated(self) -> Keyring:
        term = self.active_term + 1
        keys = dict(self.keys)
        keys[term] = Key(term, AESGCM.generate_key(256), time.time())
        return Keyring(self.root_key, keys, term)

    def active(self) -> Key:
        return self.keys[self.active_term]

    def aead(self, term: int) -> AESGCM | None:
        return self._aead.get(term)

    def serialize(self) -> bytes:
        return orjson.dumps(
            {
                "active_term": self.active_term,
                "root_key": base64.b64encode(self.root_key).decode(),
                "keys": [k.to_json() for k in self.keys.values()],
            }
        )

    @classmethod
    def deserialize(cls, raw: bytes) -> Keyring:
        d = orjson.loads(raw)
        keys = {int(k["term"]): Key.from_json(k) for k in d["keys"]}
        return cls(base64.b64decode(d["root_key"]), keys, int(d["active_term"]))


def seal_with(key: bytes, path: str, plaintext: bytes, term: int = 0) -> bytes:
    """Encrypt with a bare key (the root key or unseal key), same layout, term 0."""
    nonce = gcm_nonce()
    ct = AESGCM(key).encrypt(nonce, plaintext, path.encode())
    return struct.pack(">IB", term, VERSION) + nonce + ct


def open_with(key: bytes, path: str, blob: bytes) -> bytes:
    if len(blob) < _HEADER + 12 + 16:
        raise BarrierError("invalid ciphertext length")
    try:
        return AESGCM(key).decrypt(blob[5:17], blob[17:], path.encode())
    except InvalidTag:
        raise BarrierError("cipher: message authentication failed") from None


# Physical backends only this process writes: a cache in front of them cannot go stale. A
# PostgreSQL database may be shared by several nodes: cached only with HA (``cacheable``), where
# the fenced active node is its only writer and standbys follow its change feed.
CACHEABLE_PHYSICAL = frozenset({"inmem", "sqlite", "file"})
CACHE_ENTRIES = 50_000
CACHE_BYTES = 64 * 1024 * 1024
CACHE_VALUE_MAX = 64 * 1024
# Transactions of more keys (revoking a tree, tidying) leave them empty: bulk writes would push
# the hot entries out of the cache for keys that are seldom read back.
WRITE_THROUGH_MAX = 8
_ENTRY_OVERHEAD = 128  # rough bytes per cached entry beyond its key and value


NOT_CACHED = object()  # ReadCache.peek's answer for a key it holds nothing about


class ReadCache:
    """Decrypted values (and absences) by storage path, bounded by count and bytes.

    Saves the physical read and the AES-GCM open on hot keys (a KV secret, a role, a policy).
    Per process, and only sound when this process is the storage's only writer. A write marks
    its keys before it reaches storage and unmarks them after; a key is never filled while
    marked, nor by a reader whose physical read started before a write began or ended (the
    generation moved). So once any read has seen a write's value, no later read sees the old
    one, and after the write returns every read sees it. Eviction is first-in first-out.

    A write that succeeded fills its own keys (write-through) when no other write of the same
    key was in flight at any moment of its span: then what it wrote is what storage holds.
    Overlapping writers leave the key empty, since storage's order of their commits is unknown.
    Saves the read-back a written key gets next (a KV write's existence check: on PostgreSQL a
    round trip per write).

    Beside the values, the keys known to exist (:meth:`exists`): a write-through write that
    stored a value proves its key exists until a delete of it begins, whatever other stores of
    it are in flight (a store never makes a key absent). Overlapping writers of one key, which
    leave its value uncached, so keep its existence known (only then: an uncontested key's
    value is cached instead): a KV write's existence check under concurrent writes of one
    secret read it back from storage every time.
    """

    def __init__(self, entries: int, max_bytes: int) -> None:
        self.entries = entries
        self.max_bytes = max_bytes
        self._values: dict[str, bytes | None] = {}
        self._bytes = 0
        self._generation = 0
        self._writing: dict[str, int] = {}
        # Keys two writes were in flight for at once: not written through until all have ended.
        self._contested: set[str] = set()
        # Keys a committed store proved present since any delete of them began (oldest first).
        self._present: dict[str, None] = {}
        # Keys a delete (or another process's write) touched while writes of them were in flight:
        # whether they exist is unknown until those writes have all ended.
        self._unsure: set[str] = set()
        self.clears = 0  # a write that began before a clear (a seal) writes nothing through
        self._lock = threading.Lock()

    def generation(self) -> int:
        return self._generation

    def lookup(self, key: str) -> tuple[bool, bytes | None]:
        """(found, value); a found None is a cached absence."""
        try:
            return True, self._values[key]
        except KeyError:
            return False, None

    def peek(self, key: str) -> bytes | object | None:
        """The cached value (None: a cached absence), or ``NOT_CACHED``: ``lookup`` for the
        barrier's read path, with no tuple made (every storage read of every request asks)."""
        return self._values.get(key, NOT_CACHED)

    def exists(self, key: str) -> bool:
        """Whether ``key`` is known to exist (False: unknown, ask storage)."""
        return key in self._present

    def fill(self, key: str, value: bytes | None, generation: int) -> None:
        if value is not None and len(value) > CACHE_VALUE_MAX:
            return
        with self._lock:
            if generation != self._generation or key in self._writing or key in self._values:
                return
            self._store(key, value)

    def begin_write(self, keys: Iterable[str], stores: Collection[str] = ()) -> list[str]:
        """Before a write reaches storage: its keys leave the cache and cannot be filled. Those
        not in ``stores`` (deletes, or writes whose kind is not told) lose their known existence."""
        marked = list(keys)
        with self._lock:
            self._generation += 1
            for key in marked:
                writing = self._writing.get(key, 0)
                if writing:
                    self._contested.add(key)
                self._writing[key] = writing + 1
                if key in self._values:
                    self._drop(key)
                if key not in stores:
                    self._unsure.add(key)
                    self._present.pop(key, None)
        return marked

    def end_write(
        self, keys: list[str], written: dict[str, bytes | None] | None = None, clears: int = 0
    ) -> None:
        """After the write landed (or failed): the keys may be cached again by later reads.
        ``written``, given only when the write succeeded, holds the values it stored; ``clears``
        is what :attr:`clears` was before it began."""
        with self._lock:
            self._generation += 1
            if clears != self.clears:
                written = None
            for key in keys:
                # A stored value proves the key exists; remembered only where the value itself
                # cannot be written through (other writers of the key overlapped this one).
                stored = written is not None and written.get(key) is not None and key not in self._unsure
                left = self._writing[key] - 1
                if left:
                    self._writing[key] = left
                    if stored:
                        self._mark_present(key)
                    continue
                del self._writing[key]
                self._unsure.discard(key)
                if key in self._contested:
                    self._contested.discard(key)
                    if stored:
                        self._mark_present(key)
                elif written is not None and key in written:
                    self._store(key, written[key])

    def _mark_present(self, key: str) -> None:
        """``key`` exists (lock held); as many keys are remembered as values, oldest out first."""
        present = self._present
        if key in present:
            return
        if len(present) >= self.entries:
            del present[next(iter(present))]
        present[key] = None

    def _store(self, key: str, value: bytes | None) -> None:
        """Cache ``value`` under ``key`` (lock held), evicting the oldest entries to fit."""
        if value is not None and (type(value) is not bytes or len(value) > CACHE_VALUE_MAX):
            return
        size = _ENTRY_OVERHEAD + len(key) + (len(value) if value is not None else 0)
        if key in self._values:
            self._drop(key)
        while self._values and (len(self._values) >= self.entries or self._bytes + size > self.max_bytes):
            self._drop(next(iter(self._values)))
        self._values[key] = value
        self._bytes += size

    def invalidate(self, key: str) -> None:
        """Another process wrote ``key``: drop it, and refuse fills by reads that began before."""
        with self._lock:
            self._generation += 1
            if key in self._writing:
                self._contested.add(key)  # which commit came last is unknown: no write-through
                self._unsure.add(key)
            self._present.pop(key, None)
            if key in self._values:
                self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self.clears += 1
            self._values.clear()
            self._present.clear()
            self._bytes = 0

    def _drop(self, key: str) -> None:
        value = self._values.pop(key)
        self._bytes -= _ENTRY_OVERHEAD + len(key) + (len(value) if value is not None else 0)

    def __len__(self) -> int:
        return len(self._values)


def _cache_for(physical: Physical) -> ReadCache | None:
    """The read cache for this physical backend; ``TESSERA_BARRIER_CACHE=0`` turns it off."""
    setting = os.environ.get("TESSERA_BARRIER_CACHE", "")
    entries = CACHE_ENTRIES
    if setting:
        try:
            entries = int(setting)
        except ValueError:
            entries = CACHE_ENTRIES
    if entries <= 0 or (physical.name not in CACHEABLE_PHYSICAL and not physical.cacheable):
        return None
    return ReadCache(entries, CACHE_BYTES)


class Barrier(Storage):
    """Encrypting Storage over a Physical backend; refuses everything while sealed."""

    def __init__(self, physical: Physical) -> None:
        self.physical = physical
        self._keyring: Keyring | None = None
        self._lock = threading.Lock()
        self.encryptions = 0
        self.cache = _cache_for(physical)
        # Written values stay cached only where a read is a network round trip (PostgreSQL with
        # HA): on local storage a read after a write is cheap, and keeping every written token
        # and lease would grow the process by the cache's size over a long run.
        self.write_through = physical.name not in CACHEABLE_PHYSICAL

    # -- lifecycle -------------------------------------------------------------------
    @property
    def sealed(self) -> bool:
        return self._keyring is None

    def initialized(self) -> bool:
        return self.physical.get(KEYRING_PATH) is not None

    def initialize(self, unseal_key: bytes) -> Keyring:
        root_key = AESGCM.generate_key(256)
        keyring = Keyring.new(root_key)
        self.physical.transaction(
            [
                TxnOp(KEYRING_PATH, seal_with(root_key, KEYRING_PATH, keyring.serialize())),
                TxnOp(ROOT_KEY_PATH, seal_with(unseal_key, ROOT_KEY_PATH, root_key)),
            ]
        )
        return keyring

    def unseal(self, unseal_key: bytes) -> None:
        blob = self.physical.get(ROOT_KEY_PATH)
        if blob is None:
            raise BarrierError("barrier is not initialized")
        root_key = open_with(unseal_key, ROOT_KEY_PATH, blob)
        ring_blob = self.physical.get(KEYRING_PATH)
        if ring_blob is None:
            raise BarrierError("keyring is missing")
        self._keyring = Keyring.deserialize(open_with(root_key, KEYRING_PATH, ring_blob))

    def install_keyring(self, keyring: Keyring) -> None:
        """A worker process's unseal: the active process hands over its keyring (workers.py)."""
        self._keyring = keyring

    def reload_keyring(self) -> None:
        """Re-read the keyring from storage with the root key in hand (after ``sys/rotate``)."""
        ring = self.keyring()
        blob = self.physical.get(KEYRING_PATH)
        if blob is None:
            raise BarrierError("keyring is missing")
        self._keyring = Keyring.deserialize(open_with(ring.root_key, KEYRING_PATH, blob))

    def seal(self) -> None:
        self._keyring = None
        if self.cache is not None:
            self.cache.clear()  # no plaintext outlives the keyring

    def keyring(self) -> Keyring:
        ring = self._keyring
        if ring is None:
            raise SealedError()
        return ring

    def rotate(self) -> Key:
        with self._lock:
            ring = self.keyring().rotated()
            self.physical.put(KEYRING_PATH, seal_with(ring.root_key, KEYRING_PATH, ring.serialize()))
            self._keyring = ring
            return ring.active()

    def rekey_unseal_key(self, new_unseal_key: bytes) -> None:
        ring = self.keyring()
        self.physical.put(ROOT_KEY_PATH, seal_with(new_unseal_key, ROOT_KEY_PATH, ring.root_key))

    # -- encryption ------------------------------------------------------------------
    def encrypt(self, path: str, plaintext: bytes) -> bytes:
        ring = self._keyring
        if ring is None:
            raise SealedError()
        aead, header = ring.sealer
        nonce = gcm_nonce()
        self.encryptions += 1
        return header + nonce + aead.encrypt(nonce, plaintext, path.encode() if path else None)

    def decrypt(self, path: str, blob: bytes) -> bytes:
        ring = self.keyring()
        if len(blob) < _HEADER + 12 + 16:
            raise BarrierError("invalid ciphertext length")
        term, version = struct.unpack(">IB", blob[:5])
        if version != VERSION:
            raise BarrierError("version bytes mis-match")
        aead = ring.aead(term)
        if aead is None:
            raise BarrierError(f"no decryption key available for term {term}")
        aad = path.encode() if path else None
        try:
            return aead.decrypt(blob[5:17], blob[17:], aad)
        except InvalidTag:
            raise BarrierError("cipher: message authentication failed") from None

    # -- Storage ---------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """The plaintext at ``key``. Every request reads through here (an AppRole login six
        times), so a cached value is answered in this one frame; a miss reads storage."""
        start = perf_counter()
        try:
            if self._keyring is None:
                raise SealedError()
            cache = self.cache
            if cache is not None:
                value = cache.peek(key)
                if value is not NOT_CACHED:
                    return value  # type: ignore[return-value]
            return self._read(key)
        finally:
            metrics.BARRIER_GET.since(start)

    def _read(self, key: str) -> bytes | None:
        """A read the cache could not answer: storage, decrypted (and filled in when cached)."""
        cache = self.cache
        if cache is None:
            blob = self.physical.get(key)
            return None if blob is None else self.decrypt(key, blob)
        generation = cache.generation()
        blob = self.physical.get(key)
        value = None if blob is None else self.decrypt(key, blob)
        cache.fill(key, value, generation)
        return value

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value; a key the cache knows exists costs no read."""
        cache = self.cache
        if cache is not None and cache.exists(key):
            self.keyring()
            return True
        return self.get(key) is not None

    def put(self, key: str, value: bytes) -> None:
        start = perf_counter()
        try:
            self._put(key, value)
        finally:
            metrics.BARRIER_PUT.since(start)

    def _put(self, key: str, value: bytes) -> None:
        blob = self.encrypt(key, value)
        if self.cache is None:
            self.physical.put(key, blob)
            return
        self._write_through({key: value}, lambda: self.physical.put(key, blob))

    def delete(self, key: str) -> None:
        start = perf_counter()
        try:
            self._delete(key)
        finally:
            metrics.BARRIER_DELETE.since(start)

    def _delete(self, key: str) -> None:
        self.keyring()
        if self.cache is None:
            self.physical.delete(key)
            return
        self._write_through({key: None}, lambda: self.physical.delete(key))

    def list(self, prefix: str) -> builtins.list[str]:
        start = perf_counter()
        self.keyring()
        try:
            return self.physical.list(prefix)
        finally:
            metrics.BARRIER_LIST.since(start)

    def list_all(self, prefix: str) -> builtins.list[str]:
        self.keyring()
        return self.physical.list_all(prefix)

    def get_many(self, keys: builtins.list[str]) -> dict[str, bytes]:
        """One backend read decrypted straight, as ``scan``: a batch of expiring leases is read
        once, to be deleted, so it does not churn the read cache."""
        self.keyring()
        return {key: self.decrypt(key, blob) for key, blob in self.physical.get_many(keys).items()}

    def list_many(self, prefixes: builtins.list[str]) -> dict[str, builtins.list[str]]:
        self.keyring()
        return self.physical.list_many(prefixes)

    def scan(
        self, prefix: str, after: str, limit: int
    ) -> tuple[builtins.list[tuple[str, bytes]], str | None]:
        """A page decrypted straight from the backend: bulk loads do not churn the read cache."""
        self.keyring()
        page, following = self.physical.scan(prefix, after, limit)
        return [(k, self.decrypt(k, v)) for k, v in page], following

    def transaction(self, ops: builtins.list[TxnOp]) -> None:
        enc = [TxnOp(op.key, None if op.value is None else self.encrypt(op.key, op.value)) for op in ops]
        if self.cache is None:
            self.physical.transaction(enc)
            return
        written = {op.key: op.value for op in ops} if len(ops) <= WRITE_THROUGH_MAX else None
        self._write_through(written, lambda: self.physical.transaction(enc), [op.key for op in ops])

    def _write_through(
        self,
        written: dict[str, bytes | None] | None,
        write: Callable[[], None],
        keys: Iterable[str] | None = None,
    ) -> None:
        """Run ``write`` with its keys marked in the cache; once it succeeded, ``written`` (the
        plaintext it stored, None to leave the keys empty) fills them: see :class:`ReadCache`."""
        cache = self.cache
        assert cache is not None
        clears = cache.clears
        through = written if self.write_through else None
        stores = () if through is None else [key for key, value in through.items() if value is not None]
        marked = cache.begin_write(keys if keys is not None else (written or ()), stores)
        try:
            write()
        except BaseException:
            cache.end_write(marked)
            raise
        cache.end_write(marked, through, clears)
