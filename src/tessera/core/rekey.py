"""Rekeying: new unseal key shares (and threshold) from a quorum of the current ones.

The flow is Vault's: ``init`` with the new shape, ``update`` with current shares until the threshold,
then either the new shares are in force at once or, with ``require_verification``, only after a
quorum of the *new* shares has been given back to ``verify`` (so nobody loses the keys in transit).
The root key stays; it is re-encrypted under the new unseal key together with the new seal
configuration in one storage transaction, so a crash cannot leave shares and config out of step.
"""

from __future__ import annotations

import base64
import hmac
import logging
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from ..barrier.aes_gcm import ROOT_KEY_PATH, BarrierError, open_with, seal_with
from ..storage.base import TxnOp
from . import pgpkeys, shamir
from .seal import SEAL_CONFIG_PATH, seal_config_problem

if TYPE_CHECKING:
    from .core import Core

log = logging.getLogger("tessera.core.rekey")

# Outside the barrier, as Vault keeps PGP-encrypted backups of new shares (coreBarrierUnsealKeysBackupPath).
BARRIER_BACKUP_PATH = "core/unseal-keys-backup"
RECOVERY_BACKUP_PATH = "core/recovery-keys-backup"
KEY_MIN, KEY_MAX = 16, 33


class RekeyError(Exception):
    """logical.CodedError: a status and Vault's text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def sealed_error() -> RekeyError:
    return RekeyError(503, "Vault is sealed")


@dataclass
class RekeyConfig:
    secret_shares: int
    secret_threshold: int
    pgp_keys: list[str] = field(default_factory=list)
    pgp_fingerprints: list[str] = field(default_factory=list)
    backup: bool = False
    verification_required: bool = False
    nonce: str = ""
    progress: list[bytes] = field(default_factory=list)
    verification_key: bytes = b""
    verification_nonce: str = ""
    verification_progress: list[bytes] = field(default_factory=list)


@dataclass
class RekeyResult:
    """What the last share of an update yields: the new shares (or a verification to do)."""

    shares: list[bytes]
    nonce: str
    verification_required: bool = False
    verification_nonce: str = ""
    backup: bool = False
    pgp_fingerprints: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "nonce": self.nonce,
            "complete": True,
            "keys": [k.hex() for k in self.shares],
            "keys_base64": [base64.b64encode(k).decode() for k in self.shares],
            "pgp_fingerprints": self.pgp_fingerprints,
            "backup": self.backup,
            "verification_required": self.verification_required,
        }
        if self.verification_nonce:
            doc["verification_nonce"] = self.verification_nonce
        return doc


class Rekey:
    """The barrier-key rekey of one Core (recovery keys do not exist with the Shamir seal)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.lock = threading.Lock()
        self.config: RekeyConfig | None = None
        # The seal manager's unseal-progress object at init: sealing replaces it, which tells us the
        # server was sealed since (Vault's preSeal drops a rekey in progress, new shares included).
        self._epoch: object = None

    # -- reading -------------------------------------------------------------------------------
    def _check(self) -> None:
        if self.core.sealed:
            raise sealed_error()
        if self.config is not None and self.core.seal_manager.progress is not self._epoch:
            self.config = None

    def threshold(self) -> int:
        """The threshold of the shares in force (what ``update`` needs)."""
        self._check()
        cfg = self.core.seal_manager.config()
        if cfg is None:
            raise RekeyError(400, "Vault is not initialized")
        return cfg.secret_threshold

    def current(self) -> RekeyConfig | None:
        self._check()
        return self.config

    def progress(self, verification: bool) -> tuple[bool, int]:
        self._check()
        conf = self.config
        if conf is None:
            raise RekeyError(400, "rekey operation not in progress")
        if verification:
            return bool(conf.verification_key), len(conf.verification_progress)
        return True, len(conf.progress)

    # -- the ceremony --------------------------------------------------------------------------
    def init(self, conf: RekeyConfig) -> None:
        problem = seal_config_problem(conf.secret_shares, conf.secret_threshold, conf.pgp_keys)
        if problem:
            # OpenBao answers this bad input with a 500; Tessera with a 400 (README, compatibility).
            raise RekeyError(400, f"invalid rekey seal configuration: {problem}")
        conf.pgp_fingerprints = pgpkeys.fingerprints(conf.pgp_keys)
        self._check()
        with self.lock:
            if self.config is not None:
                raise RekeyError(400, "rekey already in progress")
            conf.nonce = str(uuid.uuid4())
            self.config = conf
            self._epoch = self.core.seal_manager.progress
        log.info(
            "rekey initialized: nonce=%s shares=%d threshold=%d validation_required=%s",
            conf.nonce,
            conf.secret_shares,
            conf.secret_threshold,
            conf.verification_required,
        )

    def cancel(self) -> None:
        self._check()
        with self.lock:
            self.config = None

    def update(self, key: bytes, nonce: str) -> RekeyResult | None:
        """One current share; None until the threshold, then the new shares."""
        self._check()
        _check_length(key)
        existing = self.core.seal_manager.config()
        if existing is None:
            raise RekeyError(400, "Vault is not initialized")
        with self.lock:
            conf = self.config
            if conf is None:
                raise RekeyError(400, "no barrier rekey in progress")
            if conf.verification_key:
                raise RekeyError(
                    400,
                    "rekey operation already finished; verification must be performed; nonce for the "
                    f'verification operation is "{conf.verification_nonce}"',
                )
            if not hmac.compare_digest(str(nonce).encode(), conf.nonce.encode()):
                raise RekeyError(
                    400, f'incorrect nonce supplied; nonce for this rekey operation is "{conf.nonce}"'
                )
            if any(hmac.compare_digest(k, key) for k in conf.progress):
                raise RekeyError(400, "given key has already been provided during this generation operation")
            conf.progress.append(key)
            if len(conf.progress) < existing.secret_threshold:
                return None
            shares, conf.progress = conf.progress, []
            unseal_key = _combine(shares, existing.secret_threshold, "failed to compute root key")
            self._verify_unseal_key(unseal_key)
            new_key = os.urandom(32)
            new_shares = _split(new_key, conf.secret_shares, conf.secret_threshold)
            result = RekeyResult(new_shares, conf.nonce)
            if conf.pgp_keys:
                self._encrypt(conf, result)
            if conf.verification_required:
                conf.verification_nonce = str(uuid.uuid4())
                conf.verification_key = new_key
                result.verification_required = True
                result.verification_nonce = conf.verification_nonce
                return result
            self._perform(conf, new_key, "failed to perform barrier rekey")
            self.config = None
            return result

    def verify(self, key: bytes, nonce: str) -> str | None:
        """One *new* share; None until the new threshold, then the nonce of the completed check."""
        self._check()
        _check_length(key)
        with self.lock:
            conf = self.config
            if conf is None:
                raise RekeyError(400, "no rekey in progress")
            if not conf.verification_key:
                raise RekeyError(400, "no rekey verification in progress")
            if not hmac.compare_digest(str(nonce).encode(), conf.verification_nonce.encode()):
                raise RekeyError(
                    400,
                    f'incorrect nonce supplied; nonce for this verify operation is "{conf.verification_nonce}"',
                )
            if any(hmac.compare_digest(k, key) for k in conf.verification_progress):
                raise RekeyError(400, "given key has already been provided during this verify operation")
            conf.verification_progress.append(key)
            if len(conf.verification_progress) < conf.secret_threshold:
                return None
            shares, conf.verification_progress = conf.verification_progress, []
            try:
                recovered = _combine(shares, conf.secret_threshold, "failed to compute key for verification")
                if not hmac.compare_digest(recovered, conf.verification_key):
                    log.error("rekey verification failed")
                    raise RekeyError(400, "rekey verification failed; incorrect key shares supplied")
                self._perform(conf, recovered, "failed to perform rekey")
            except RekeyError:
                # A failed check starts over with a fresh nonce, as Vault's deferred reset does.
                conf.verification_nonce = str(uuid.uuid4())
                raise
            self.config = None
            return conf.verification_nonce

    def verify_restart(self) -> None:
        self._check()
        with self.lock:
            if self.config is not None:
                self.config.verification_progress = []
                self.config.verification_nonce = str(uuid.uuid4())

    # -- backups of PGP-encrypted shares ---------------------------------------------------------
    def read_backup(self, recovery: bool) -> dict[str, Any] | None:
        self._check()
        raw = self.core.physical.get(RECOVERY_BACKUP_PATH if recovery else BARRIER_BACKUP_PATH)
        if raw is None:
            return None
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise RekeyError(500, f"error decoding backup keys: {exc}") from None
        return {"nonce": doc.get("Nonce", ""), "keys": doc.get("Keys") or {}}

    def delete_backup(self, recovery: bool) -> None:
        self._check()
        self.core.physical.delete(RECOVERY_BACKUP_PATH if recovery else BARRIER_BACKUP_PATH)

    # -- internals -------------------------------------------------------------------------------
    def _encrypt(self, conf: RekeyConfig, result: RekeyResult) -> None:
        """Encrypt the new shares (as hex text) to their PGP keys; keep a backup if asked to.

        Like Vault, the backup is written before a pending verification, outside the barrier, as
        ``{"Nonce", "Keys": {fingerprint: [hex of each encrypted share]}}``.
        """
        try:
            fingerprints, encrypted = pgpkeys.encrypt_shares(result.shares, conf.pgp_keys)
        except pgpkeys.PGPKeyError as exc:
            raise RekeyError(500, f"failed to encrypt shares: {exc}") from None
        result.shares, result.pgp_fingerprints, result.backup = encrypted, fingerprints, conf.backup
        if not conf.backup:
            return
        backup: dict[str, list[str]] = {}
        for fingerprint, share in zip(fingerprints, encrypted, strict=True):
            backup.setdefault(fingerprint, []).append(share.hex())
        try:
            self.core.physical.put(BARRIER_BACKUP_PATH, orjson.dumps({"Nonce": conf.nonce, "Keys": backup}))
        except Exception as exc:
            log.error("failed to save unseal key backup: %s", exc)
            raise RekeyError(500, f"failed to save unseal key backup: {exc}") from None

    def _verify_unseal_key(self, unseal_key: bytes) -> None:
        core = self.core
        blob = core.physical.get(ROOT_KEY_PATH)
        if blob is None:
            raise RekeyError(500, "failed to read root key: no stored keys found")
        try:
            root_key = open_with(unseal_key, ROOT_KEY_PATH, blob)
        except BarrierError as exc:
            raise RekeyError(
                500, f"failed to read root key: invalid key: failed to decrypt keys from storage: {exc}"
            ) from None
        if not hmac.compare_digest(root_key, core.barrier.keyring().root_key):
            log.error("root key verification failed")
            # (sic) OpenBao's wording.
            raise RekeyError(400, "rootter key verification failed: Unseal failed, invalid key")

    def _perform(self, conf: RekeyConfig, new_key: bytes, prefix: str) -> None:
        """Re-encrypt the root key under ``new_key`` and store the new seal configuration, atomically."""
        core = self.core
        try:
            root_key = core.barrier.keyring().root_key
            seal_doc = {
                "secret_shares": conf.secret_shares,
                "secret_threshold": conf.secret_threshold,
                "type": "shamir",
            }
            core.physical.transaction(
                [
                    TxnOp(ROOT_KEY_PATH, seal_with(new_key, ROOT_KEY_PATH, root_key)),
                    TxnOp(SEAL_CONFIG_PATH, orjson.dumps(seal_doc)),
                ]
            )
        except Exception as exc:
            log.exception("rekey failed")
            raise RekeyError(500, f"{prefix}: {exc}") from None
        log.info(
            "security barrier rekeyed: shares=%d threshold=%d", conf.secret_shares, conf.secret_threshold
        )


def _check_length(key: bytes) -> None:
    if len(key) < KEY_MIN:
        raise RekeyError(400, f"key is shorter than minimum {KEY_MIN} bytes")
    if len(key) > KEY_MAX:
        raise RekeyError(400, f"key is longer than maximum {KEY_MAX} bytes")


def _combine(shares: list[bytes], threshold: int, what: str) -> bytes:
    if threshold == 1:
        return shares[0]
    try:
        return shamir.combine(shares)
    except shamir.ShamirError as exc:
        raise RekeyError(500, f"{what}: {exc}") from None


def _split(key: bytes, shares: int, threshold: int) -> list[bytes]:
    if shares == 1:
        return [key]
    return shamir.split(key, shares, threshold)


_LOCK = threading.Lock()


def rekey(core: Core) -> Rekey:
    """The Core's rekey state (``core.rekey_state``), made when first asked for."""
    with _LOCK:
        state = core.rekey_state
        if not isinstance(state, Rekey):
            state = core.rekey_state = Rekey(core)
        return state
