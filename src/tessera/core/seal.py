"""Initialisation and unsealing: the unseal key is split with Shamir and rebuilt from shares."""

from __future__ import annotations

import hmac
import os
import threading
import uuid
from dataclasses import dataclass, field

import orjson

from ..barrier.aes_gcm import Barrier, BarrierError
from ..framework.errors import ErrorResponse
from ..storage.base import Physical
from . import pgpkeys, shamir

SEAL_CONFIG_PATH = "core/seal-config"


def seal_config_problem(shares: int, threshold: int, pgp_keys: list[str] | None = None) -> str:
    """SealConfig.Validate's wording, in its order, without its prefix ("" when valid).

    Init and rekey both check a new configuration with it; the PGP keys come last (their count,
    then each one parses).
    """
    if shares < 1:
        return "shares must be at least one"
    if threshold < 1:
        return "threshold must be at least one"
    if shares > 1 and threshold == 1:
        return "threshold must be greater than one for multiple shares"
    if shares > 255:
        return "shares must be less than 256"
    if threshold > 255:
        return "threshold must be less than 256"
    if threshold > shares:
        return "threshold cannot be larger than shares"
    try:
        pgpkeys.check_keys(pgp_keys or [], shares)
    except pgpkeys.PGPKeyError as exc:
        return str(exc)
    return ""


@dataclass
class SealConfig:
    secret_shares: int
    secret_threshold: int
    type: str = "shamir"


@dataclass
class UnsealProgress:
    shares: list[bytes] = field(default_factory=list)
    nonce: str = ""


class SealManager:
    """Holds the seal configuration and the unseal attempt in progress."""

    def __init__(self, physical: Physical, barrier: Barrier) -> None:
        self.physical = physical
        self.barrier = barrier
        self.progress = UnsealProgress()
        self.lock = threading.Lock()

    def config(self) -> SealConfig | None:
        raw = self.physical.get(SEAL_CONFIG_PATH)
        if raw is None:
            return None
        d = orjson.loads(raw)
        return SealConfig(int(d["secret_shares"]), int(d["secret_threshold"]), d.get("type", "shamir"))

    def initialize(self, shares: int, threshold: int) -> list[bytes]:
        """Create the barrier and return the unseal key shares."""
        problem = seal_config_problem(shares, threshold)
        if problem:
            raise ErrorResponse(f"invalid seal configuration: {problem}")
        unseal_key = _random_key()
        self.barrier.initialize(unseal_key)
        self.physical.put(
            SEAL_CONFIG_PATH,
            orjson.dumps({"secret_shares": shares, "secret_threshold": threshold, "type": "shamir"}),
        )
        if shares == 1:
            return [unseal_key]
        return shamir.split(unseal_key, shares, threshold)

    def submit(self, share: bytes) -> bool:
        """Add a share; True once the barrier is unsealed. Raises on a wrong key."""
        cfg = self.config()
        if cfg is None:
            raise ErrorResponse("Vault is not initialized")
        # Vault's unsealFragment bounds and AES key sizes, with its texts (a wrong size was a 500 here).
        if len(share) < 16:
            raise ErrorResponse("invalid key: key is shorter than minimum 16 bytes")
        if len(share) > 33:
            raise ErrorResponse("invalid key: key is longer than maximum 33 bytes")
        with self.lock:
            if not self.progress.nonce:
                self.progress.nonce = str(uuid.uuid4())
            if any(hmac.compare_digest(s, share) for s in self.progress.shares):  # secrets: constant time
                return False
            self.progress.shares.append(share)
            if len(self.progress.shares) < cfg.secret_threshold:
                return False
            shares, self.progress = self.progress.shares, UnsealProgress()
        try:
            key = shares[0] if cfg.secret_threshold == 1 else shamir.combine(shares)
        except shamir.ShamirError as exc:
            raise ErrorResponse(f"failed to compute root key: {exc}") from None
        if len(key) not in (16, 24, 32):
            raise ErrorResponse(
                f"invalid key: failed to setup unseal key: crypto/aes: invalid key size {len(key)}"
            )
        try:
            self.barrier.unseal(key)
        except BarrierError as exc:
            raise ErrorResponse(
                f"unable to retrieve stored keys: invalid key: failed to decrypt keys from storage: {exc}"
            ) from None
        return True

    def reset(self) -> None:
        with self.lock:
            self.progress = UnsealProgress()


def _random_key() -> bytes:
    return os.urandom(32)
