"""The key ring of one named transit key (keysutil.Policy): its stored form, rotation and archiving.

The stored JSON is the reference's, field for field, so a backup taken here restores on OpenBao and
the other way round. Key versions below ``min_decryption_version`` live in the archive entry, as in
the reference; the in-memory copy is what the cache hands to every request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ...gocompat.json import go_json_exact
from ...storage.base import Storage, TxnOp
from . import consts as C
from . import crypto
from .encoding import ZERO_TIME, b64decode, b64encode, load_json, now_time
from .errors import GoError, InternalErr, UserError


def _bytes_or_none(value: Any) -> bytes | None:
    return None if value is None else b64decode(value)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass
class KeyEntry:
    """One key version (keysutil.KeyEntry)."""

    key: bytes | None = None
    hmac_key: bytes | None = None
    time: str = ZERO_TIME
    ec_x: int | None = None
    ec_y: int | None = None
    ec_d: int | None = None
    rsa_key: dict[str, Any] | None = None
    rsa_public_key: dict[str, Any] | None = None
    public_key: str = ""
    convergent_version: int = 0
    creation_time: int = 0
    certificate_chain: list[str] | None = None
    external_key_ref: str = ""
    # Lazily built crypto objects (never serialised).
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> KeyEntry:
        return cls(
            key=_bytes_or_none(d.get("key")),
            hmac_key=_bytes_or_none(d.get("hmac_key")),
            time=d.get("time") or ZERO_TIME,
            ec_x=_int_or_none(d.get("ec_x")),
            ec_y=_int_or_none(d.get("ec_y")),
            ec_d=_int_or_none(d.get("ec_d")),
            rsa_key=d.get("rsa_key"),
            rsa_public_key=d.get("rsa_public_key"),
            public_key=d.get("public_key") or "",
            convergent_version=int(d.get("convergent_version") or 0),
            creation_time=int(d.get("creation_time") or 0),
            certificate_chain=d.get("certificate_chain"),
            external_key_ref=d.get("external_key_ref") or "",
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "key": None if self.key is None else b64encode(self.key),
            "hmac_key": None if self.hmac_key is None else b64encode(self.hmac_key),
            "time": self.time,
            "ec_x": self.ec_x,
            "ec_y": self.ec_y,
            "ec_d": self.ec_d,
            "rsa_key": self.rsa_key,
            "rsa_public_key": self.rsa_public_key,
            "public_key": self.public_key,
            "convergent_version": self.convergent_version,
            "creation_time": self.creation_time,
            "certificate_chain": self.certificate_chain,
            "external_key_ref": self.external_key_ref,
        }

    def private_key_missing(self) -> bool:
        return self.rsa_key is None and self.ec_d is None and not self.key and not self.external_key_ref

    # -- crypto objects, built once per entry --------------------------------------------
    def aead(self, key_type: int) -> crypto.AEAD:
        obj = self._cache.get("aead")
        if obj is None:
            obj = self._cache["aead"] = crypto.aead_for(key_type, self.key or b"")
        return obj  # type: ignore[no-any-return]

    def rsa_private(self) -> rsa.RSAPrivateKey | None:
        if self.rsa_key is None:
            return None
        obj = self._cache.get("rsa")
        if obj is None:
            obj = self._cache["rsa"] = crypto.rsa_private_from_go(self.rsa_key)
        return obj  # type: ignore[no-any-return]

    def rsa_public(self) -> rsa.RSAPublicKey | None:
        priv = self.rsa_private()
        if priv is not None:
            return priv.public_key()
        if self.rsa_public_key is None:
            return None
        obj = self._cache.get("rsa_pub")
        if obj is None:
            obj = self._cache["rsa_pub"] = crypto.rsa_public_from_go(self.rsa_public_key)
        return obj  # type: ignore[no-any-return]

    def ec_private(self, key_type: int) -> ec.EllipticCurvePrivateKey:
        obj = self._cache.get("ec")
        if obj is None:
            obj = self._cache["ec"] = crypto.ec_private(
                key_type, self.ec_x or 0, self.ec_y or 0, self.ec_d or 0
            )
        return obj  # type: ignore[no-any-return]

    def ec_public(self, key_type: int) -> ec.EllipticCurvePublicKey:
        obj = self._cache.get("ec_pub")
        if obj is None:
            obj = self._cache["ec_pub"] = crypto.ec_public(key_type, self.ec_x or 0, self.ec_y or 0)
        return obj  # type: ignore[no-any-return]

    def ed25519_private(self) -> ed25519.Ed25519PrivateKey:
        obj = self._cache.get("ed")
        if obj is None:
            obj = self._cache["ed"] = crypto.ed25519_from_go(self.key or b"")
        return obj  # type: ignore[no-any-return]


def rsa_public_pem(entry: KeyEntry) -> str:
    pub = entry.rsa_public()
    if pub is None:
        raise GoError("requested to encode an RSA public key with no RSA key present")
    return pub.public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass
class Policy:
    """A named key (keysutil.Policy) with every field the reference stores."""

    name: str
    type: int = C.AES256_GCM96
    key: bytes | None = None  # deprecated single key
    key_size: int = 0
    keys: dict[str, KeyEntry] = field(default_factory=dict)
    derived: bool = False
    kdf: int = 0
    convergent_encryption: bool = False
    exportable: bool = False
    min_decryption_version: int = 0
    min_encryption_version: int = 0
    latest_version: int = 0
    archive_version: int = 0
    archive_min_version: int = 0
    min_available_version: int = 0
    deletion_allowed: bool = False
    convergent_version: int = 0
    backup_info: dict[str, Any] | None = None
    restore_info: dict[str, Any] | None = None
    allow_plaintext_backup: bool = False
    version_template: str = ""
    storage_prefix: str = ""
    auto_rotate_period: int = 0  # nanoseconds (time.Duration)
    imported: bool = False
    allow_imported_key_rotation: bool = False
    soft_deleted: bool = False
    # Runtime state.
    deleted: bool = field(default=False, compare=False)
    rotate_due: float | None = field(default=None, compare=False)
    _prefixes: dict[int, str] = field(default_factory=dict, repr=False, compare=False)

    # -- JSON ------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Policy:
        lower = {k.lower(): v for k, v in d.items()}  # encoding/json matches names case-insensitively

        def g(name: str, default: Any = None) -> Any:
            value = lower.get(name.lower())
            return default if value is None else value

        p = cls(
            name=str(g("name", "")),
            type=int(g("type", 0)),
            key=_bytes_or_none(g("key")),
            key_size=int(g("key_size", 0)),
            keys={str(k): KeyEntry.from_json(v or {}) for k, v in (g("keys") or {}).items()},
            derived=bool(g("derived", False)),
            kdf=int(g("kdf", 0)),
            convergent_encryption=bool(g("convergent_encryption", False)),
            exportable=bool(g("exportable", False)),
            min_decryption_version=int(g("min_decryption_version", 0)),
            min_encryption_version=int(g("min_encryption_version", 0)),
            latest_version=int(g("latest_version", 0)),
            archive_version=int(g("archive_version", 0)),
            archive_min_version=int(g("archive_min_version", 0)),
            min_available_version=int(g("min_available_version", 0)),
            deletion_allowed=bool(g("deletion_allowed", False)),
            convergent_version=int(g("convergent_version", 0)),
            backup_info=g("backup_info"),
            restore_info=g("restore_info"),
            allow_plaintext_backup=bool(g("allow_plaintext_backup", False)),
            version_template=str(g("version_template", "")),
            storage_prefix=str(g("storage_prefix", "")),
            auto_rotate_period=int(g("auto_rotate_period", 0)),
            imported=bool(g("Imported", False)),
            allow_imported_key_rotation=bool(g("AllowImportedKeyRotation", False)),
            soft_deleted=bool(g("soft_deleted", False)),
        )
        return p

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.key:
            out["key"] = b64encode(self.key)
        if self.key_size:
            out["key_size"] = self.key_size
        out["keys"] = {k: self.keys[k].to_json() for k in sorted(self.keys)}
        out.update(
            {
                "derived": self.derived,
                "kdf": self.kdf,
                "convergent_encryption": self.convergent_encryption,
                "exportable": self.exportable,
                "min_decryption_version": self.min_decryption_version,
                "min_encryption_version": self.min_encryption_version,
                "latest_version": self.latest_version,
                "archive_version": self.archive_version,
                "archive_min_version": self.archive_min_version,
                "min_available_version": self.min_available_version,
                "deletion_allowed": self.deletion_allowed,
                "convergent_version": self.convergent_version,
                "type": self.type,
                "backup_info": self.backup_info,
                "restore_info": self.restore_info,
                "allow_plaintext_backup": self.allow_plaintext_backup,
                "version_template": self.version_template,
                "storage_prefix": self.storage_prefix,
                "auto_rotate_period": self.auto_rotate_period,
                "Imported": self.imported,
                "AllowImportedKeyRotation": self.allow_imported_key_rotation,
                "soft_deleted": self.soft_deleted,
            }
        )
        return out

    # -- storage -------------------------------------------------------------------------
    def _path(self, kind: str) -> str:
        prefix = self.storage_prefix.strip("/")
        return f"{prefix}/{kind}/{self.name}" if prefix else f"{kind}/{self.name}"

    def load_archive(self, storage: Storage) -> list[KeyEntry]:
        raw = storage.get(self._path("archive"))
        if raw is None:
            return []
        doc = load_json(raw) or {}
        return [KeyEntry.from_json(e or {}) for e in doc.get("keys") or []]

    @staticmethod
    def archive_blob(archive: list[KeyEntry]) -> bytes:
        return go_json_exact({"keys": [e.to_json() for e in archive]})

    def persist(self, storage: Storage, extra: list[TxnOp] | None = None) -> None:
        """Archive what needs archiving and write the policy (and archive) in one transaction."""
        if self.deleted:
            raise GoError("key has been deleted, not persisting")
        prior_archive_version = self.archive_version
        prior_archive_min = self.archive_min_version
        prior_keys = dict(self.keys)
        try:
            ops = list(extra or [])
            archive_op = self._handle_archiving(storage)
            if archive_op is not None:
                ops.append(archive_op)
            ops.append(TxnOp(self._path("policy"), go_json_exact(self.to_json())))
            storage.transaction(ops)
        except Exception:
            self.archive_version = prior_archive_version
            self.archive_min_version = prior_archive_min
            self.keys = prior_keys
            raise

    def _handle_archiving(self, storage: Storage) -> TxnOp | None:
        """keysutil's handleArchiving: move versions between the policy and the archive."""
        contains_min = str(self.min_decryption_version) in self.keys
        if self.min_decryption_version < 1:
            raise GoError(f"minimum decryption version of {self.min_decryption_version} is less than 1")
        if self.latest_version < 1:
            raise GoError(f"latest version of {self.latest_version} is less than 1")
        if not contains_min and self.archive_version != self.latest_version:
            raise GoError("need to move keys from archive but archive version not up-to-date")
        if self.archive_version > self.latest_version:
            raise GoError(
                f"archive version of {self.archive_version} is greater than the latest version {self.latest_version}"
            )
        if 0 < self.min_encryption_version < self.min_decryption_version:
            raise GoError(
                f"minimum decryption version of {self.min_decryption_version} is greater than minimum "
                f"encryption version {self.min_encryption_version}"
            )
        if self.min_decryption_version > self.latest_version:
            raise GoError(
                f"minimum decryption version of {self.min_decryption_version} is greater than the latest "
                f"version {self.latest_version}"
            )
        archive = self.load_archive(storage)
        keys = dict(self.keys)
        if not contains_min:
            for i in range(self.min_decryption_version, self.latest_version + 1):
                idx = i - self.min_available_version
                if not 0 <= idx < len(archive):
                    raise GoError("runtime error: index out of range")
                keys[str(i)] = archive[idx]
            self.keys = keys
            return None
        needed = self.latest_version - self.min_available_version + 1
        if len(archive) + self.min_available_version < self.latest_version + 1:
            archive = archive + [KeyEntry() for _ in range(needed - len(archive))]
        for i in range(self.archive_version + 1, self.latest_version + 1):
            archive[i - self.min_available_version] = keys[str(i)]
            self.archive_version = i
        if self.archive_min_version < self.min_available_version:
            archive = archive[self.min_available_version - self.archive_min_version :]
            self.archive_min_version = self.min_available_version
        op = TxnOp(self._path("archive"), self.archive_blob(archive))
        for i in range(self.latest_version - len(keys) + 1, self.min_decryption_version):
            keys.pop(str(i), None)
        self.keys = keys
        return op

    # -- upgrades of old policies (keysutil NeedsUpgrade/Upgrade) ------------------------
    def needs_upgrade(self) -> bool:
        latest = self.keys.get(str(self.latest_version))
        return bool(
            self.key
            or (self.latest_version == 0 and self.keys)
            or self.min_decryption_version == 0
            or self.archive_version == 0
            or (self.convergent_encryption and self.convergent_version == 0)
            or latest is None
            or not latest.hmac_key
        )

    def upgrade(self, storage: Storage) -> None:
        if self.key:
            text, secs = now_time()
            self.keys = {"1": KeyEntry(key=self.key, time=text, creation_time=secs)}
            self.key = None
        if self.latest_version == 0 and self.keys:
            self.latest_version = len(self.keys)
        if self.min_decryption_version == 0:
            self.min_decryption_version = 1
        if self.convergent_encryption and self.convergent_version == 0:
            self.convergent_version = 1
        latest = self.keys.get(str(self.latest_version), KeyEntry())
        if not latest.hmac_key:
            self.keys[str(self.latest_version)] = replace(latest, hmac_key=os.urandom(32), _cache={})
        self.persist(storage)

    # -- rotation ------------------------------------------------------------------------
    def rotate(self, storage: Storage) -> None:
        if self.soft_deleted:
            raise UserError(C.ERR_SOFT_DELETED)
        if self.imported and not self.allow_imported_key_rotation:
            raise GoError(f"imported key {self.name} does not allow rotation within Vault")
        prior = (self.latest_version, self.min_decryption_version, dict(self.keys))
        try:
            self.rotate_in_memory()
            self.imported = False
            self.persist(storage)
        except Exception:
            self.latest_version, self.min_decryption_version, self.keys = prior
            raise

    def rotate_in_memory(self) -> None:
        if self.soft_deleted:
            raise UserError(C.ERR_SOFT_DELETED)
        if self.type == C.EXTERNAL_KEY:
            raise GoError("expected external key reference to be set on policy to rotate external key")
        text, secs = now_time()
        entry = KeyEntry(time=text, creation_time=secs, hmac_key=os.urandom(32))
        kt = self.type
        if kt in C.SYMMETRIC or kt == C.HMAC:
            size = 16 if kt == C.AES128_GCM96 else 32
            if kt == C.HMAC:
                size = self.key_size
                if not C.HMAC_MIN_KEY_SIZE <= size <= C.HMAC_MAX_KEY_SIZE:
                    raise GoError(
                        f"invalid key size for HMAC key, must be between {C.HMAC_MIN_KEY_SIZE} and "
                        f"{C.HMAC_MAX_KEY_SIZE} bytes"
                    )
            entry.key = os.urandom(size)
            if kt == C.HMAC:
                entry.hmac_key = entry.key
        elif kt in C.ECDSA:
            priv = ec.generate_private_key(crypto.CURVES[kt]())
            nums = priv.private_numbers()
            entry.ec_d, entry.ec_x, entry.ec_y = (
                nums.private_value,
                nums.public_numbers.x,
                nums.public_numbers.y,
            )
            entry.public_key = (
                priv.public_key()
                .public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
                .decode()
            )
        elif kt == C.ED25519:
            full, pub = crypto.ed25519_go_bytes(ed25519.Ed25519PrivateKey.generate())
            entry.key = full
            entry.public_key = b64encode(pub)
        elif kt in C.RSA:
            priv_rsa = rsa.generate_private_key(public_exponent=65537, key_size=C.RSA_BITS[kt])
            # Like the reference, only the private key is stored; the public half is derived from it.
            entry.rsa_key = crypto.rsa_to_go(priv_rsa)
        if self.convergent_encryption and (self.convergent_version == -1 or self.convergent_version > 1):
            entry.convergent_version = C.CURRENT_CONVERGENT_VERSION
        # The new version goes into a new dict before latest_version moves, so a concurrent reader
        # that sees the new latest_version always finds its key.
        keys = dict(self.keys)
        keys[str(self.latest_version + 1)] = entry
        self.keys = keys
        self.latest_version += 1
        if self.min_decryption_version == 0:
            self.min_decryption_version = 1

    # -- helpers used by the operations ---------------------------------------------------
    def entry(self, ver: int) -> KeyEntry:
        """safeGetKeyEntry."""
        found = self.keys.get(str(ver))
        if found is None:
            raise UserError("no such key version")
        return found

    def template_parts(self) -> tuple[str, str]:
        template = self.version_template or C.DEFAULT_VERSION_TEMPLATE
        parts = template.split("{{version}}")
        if len(parts) != 2:
            raise InternalErr("error parsing version template")
        return parts[0], parts[1]

    def version_prefix(self, ver: int) -> str:
        prefix = self._prefixes.get(ver)
        if prefix is None:
            template = self.version_template or C.DEFAULT_VERSION_TEMPLATE
            prefix = self._prefixes[ver] = template.replace("{{version}}", str(ver))
        return prefix

    def convergent_version_of(self, ver: int) -> int:
        if not self.convergent_encryption:
            return 0
        cv = self.convergent_version or 1
        entry = self.keys.get(str(ver))
        if entry is not None and entry.convergent_version:
            cv = entry.convergent_version
        return cv
