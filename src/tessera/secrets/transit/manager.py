"""Per-mount key cache and locking (keysutil.LockManager).

Every request of a mount goes through one ``KeyManager``: policies are loaded from storage once and
then served from memory, so encrypt and decrypt read nothing and write nothing. Writers (create,
rotate, config, trim, delete, restore) take the mount's lock and update the cached object, which is
the only copy the process uses; there is no other writer to invalidate against.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from ...gocompat.json import go_json_exact
from ...gocompat.times import parse_rfc3339
from ...gocompat.types import json_kind
from ...storage.base import Storage, TxnOp
from . import consts as C
from .encoding import b64decode, b64encode, load_json, now_time
from .errors import GoError, UserError
from .gojson_errors import decode_error
from .policy import KeyEntry, Policy


@dataclass
class PolicyRequest:
    """What an upsert creates (keysutil.PolicyRequest)."""

    name: str
    key_type: int = C.AES256_GCM96
    key_size: int = 0
    derived: bool = False
    convergent: bool = False
    exportable: bool = False
    upsert: bool = False
    allow_plaintext_backup: bool = False
    auto_rotate_period: int = 0  # seconds


class KeyManager:
    """The cache of one transit mount."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.cache: dict[str, Policy] = {}
        self.cache_size = 0  # configured size (0 = unlimited); informational, every key stays cached

    def invalidate(self, name: str) -> None:
        with self.lock:
            self.cache.pop(name, None)

    def invalidate_key(self, key: str) -> None:
        """Another process wrote ``key`` of this mount: drop the key it belongs to."""
        kind, _, name = key.partition("/")
        if kind in ("policy", "archive") and name:
            self.invalidate(name)
        else:
            with self.lock:
                self.cache.clear()

    # -- lookups ---------------------------------------------------------------------------
    def get(self, storage: Storage, name: str) -> Policy | None:
        """The named policy or None; cached after the first load."""
        p = self.cache.get(name)
        if p is None:
            with self.lock:
                p = self.cache.get(name)
                if p is None:
                    p = self._load(storage, name)
                    if p is None:
                        return None
                    self.cache[name] = p
        if p.auto_rotate_period and p.latest_version:
            self._maybe_auto_rotate(storage, p)
        return p

    def _load(self, storage: Storage, name: str) -> Policy | None:
        raw = storage.get("policy/" + name)
        if raw is None:
            return None
        p = Policy.from_json(load_json(raw))
        if p.needs_upgrade():
            p.upgrade(storage)
        return p

    def _maybe_auto_rotate(self, storage: Storage, p: Policy) -> None:
        """Rotate a key whose auto-rotate period has passed (the reference's periodic check, done lazily)."""
        due = p.rotate_due
        now = time.time()
        if due is not None and now < due:
            return
        with self.lock:
            latest = p.keys.get(str(p.latest_version))
            if latest is None:
                return
            period = p.auto_rotate_period / 1e9
            try:
                created = parse_rfc3339(latest.time)
            except ValueError:
                created = float(latest.creation_time)
            if now > created + period and not (p.imported and not p.allow_imported_key_rotation):
                try:
                    p.rotate(storage)
                except (GoError, UserError):
                    return
                created = now
            p.rotate_due = created + period

    def get_or_create(self, storage: Storage, req: PolicyRequest) -> Policy | None:
        """GetPolicy with upsert: validate the request and create the key if it is missing."""
        p = self.get(storage, req.name)
        if p is not None or not req.upsert:
            return p
        with self.lock:
            p = self.get(storage, req.name)
            if p is not None:
                return p
            kt = req.key_type
            if kt in C.SYMMETRIC:
                if req.convergent and not req.derived:
                    raise GoError("convergent encryption requires derivation to be enabled")
            elif kt in C.ECDSA or kt in C.RSA or kt == C.HMAC:
                if req.derived or req.convergent:
                    raise GoError(
                        f"key derivation and convergent encryption not supported for keys of type {C.type_name(kt)}"
                    )
            elif kt == C.ED25519:
                if req.convergent:
                    raise GoError(f"convergent encryption not supported for keys of type {C.type_name(kt)}")
            else:
                raise GoError(f"unsupported key type {C.type_name(kt)}")
            p = Policy(
                name=req.name,
                type=kt,
                derived=req.derived,
                exportable=req.exportable,
                allow_plaintext_backup=req.allow_plaintext_backup,
                auto_rotate_period=req.auto_rotate_period * 1_000_000_000,
                key_size=req.key_size,
            )
            if req.derived:
                p.kdf = C.KDF_HKDF_SHA256
                if req.convergent:
                    p.convergent_encryption = True
                    p.convergent_version = -1
            p.rotate(storage)
            self.cache[req.name] = p
            return p

    # -- deletion ------------------------------------------------------------------------------
    def delete(self, storage: Storage, name: str) -> None:
        with self.lock:
            p = self.cache.get(name) or self._load(storage, name)
            if p is None:
                raise GoError("could not delete key; not found")
            if not p.deletion_allowed:
                raise GoError("deletion is not allowed for this key")
            p.deleted = True
            self.cache.pop(name, None)
            storage.transaction([TxnOp("policy/" + name, None), TxnOp("archive/" + name, None)])

    # -- backup and restore --------------------------------------------------------------------
    def backup(self, storage: Storage, name: str) -> str:
        with self.lock:
            p = self.cache.get(name) or self._load(storage, name)
            if p is None or p.deleted:
                raise GoError(f'key "{name}" not found')
            if p.soft_deleted:
                raise UserError(C.ERR_SOFT_DELETED)
            if not p.exportable:
                raise GoError("exporting is disallowed on the policy")
            if not p.allow_plaintext_backup:
                raise GoError("plaintext backup is disallowed on the policy")
            prior = p.backup_info
            text, _ = now_time()
            p.backup_info = {"time": text, "version": p.latest_version}
            try:
                p.persist(storage)
            except GoError as exc:
                p.backup_info = prior
                raise GoError(f"failed to persist policy with backup info: {exc}") from None
            archive = p.load_archive(storage)
            doc = {"policy": p.to_json(), "archived_keys": {"keys": [e.to_json() for e in archive]}}
            self.cache[name] = p
            return b64encode(go_json_exact(doc) + b"\n")

    def restore(self, storage: Storage, name: str, backup: str, force: bool) -> None:
        """RestorePolicy: the backup's policy (renamed if ``name``) and archive, then a persist."""
        try:
            raw = b64decode(backup)
        except ValueError as exc:
            raise GoError(str(exc)) from None
        syntax = decode_error(raw)
        if syntax is not None:
            raise GoError(syntax)
        doc = json.JSONDecoder().raw_decode(raw.decode("utf-8", "replace").lstrip(" \t\r\n"))[0]
        lower = {str(k).lower(): v for k, v in (doc or {}).items()}
        pdoc = lower.get("policy")
        if pdoc is not None and not isinstance(pdoc, dict):
            raise GoError(
                f"json: cannot unmarshal {json_kind(pdoc)} into Go struct field KeyData.policy of type keysutil.Policy"
            )
        if pdoc is None:
            raise GoError("runtime error: invalid memory address or nil pointer dereference")
        policy = Policy.from_json(pdoc)
        if name:
            policy.name = name
        name = policy.name
        archived = lower.get("archived_keys")
        with self.lock:
            existing = self.cache.get(name)
            if existing is not None and not force:
                raise GoError(f'key "{name}" already exists')
            if existing is None and not force and storage.get("policy/" + name) is not None:
                raise GoError(f'key "{name}" already exists')
            ops: list[TxnOp] = []
            if isinstance(archived, dict):
                keys = archived.get("keys") or archived.get("Keys") or []
                entries = [KeyEntry.from_json(e or {}) for e in keys]
                blob = Policy.archive_blob(entries)
                # The archive must be readable by the persist below, so it is written first.
                storage.put(policy._path("archive"), blob)
            text, _ = now_time()
            policy.restore_info = {"time": text, "version": policy.latest_version}
            try:
                policy.persist(storage, ops)
            except GoError as exc:
                raise GoError(f'failed to restore the policy "{name}": {exc}') from None
            if existing is not None:
                existing.deleted = True
            self.cache[name] = policy


def configured_cache_size(storage: Storage) -> int:
    raw = storage.get("config/cache")
    if raw is None:
        return 0
    doc: Any = load_json(raw)
    return int((doc or {}).get("size") or 0)
