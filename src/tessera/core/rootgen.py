"""Root and recovery token generation from unseal key shares (Vault's generate-root protocol).

Key holders start an attempt with a one-time password (or a PGP public key), then each submits a
share; when the threshold is reached the combined key is checked against the barrier and a token is
minted and returned XORed with the OTP (or PGP-encrypted), so the token never crosses the wire in
clear. One attempt runs at a
time; a root attempt and a recovery attempt share that slot, as in OpenBao.
"""

from __future__ import annotations

import base64
import hmac
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..barrier.aes_gcm import ROOT_KEY_PATH, BarrierError, open_with
from ..framework import SealedError
from ..gocompat.base64 import Base64Error, go_b64decode
from ..tokens.ids import base62
from . import pgpkeys, shamir

if TYPE_CHECKING:
    from .core import Core

log = logging.getLogger("tessera.core.rootgen")

# Tessera issues ``hvs.``/``hvr.`` + 24 base62 characters, so OTPs are 28 long (OpenBao: ``s.``, 26).
TOKEN_LENGTH = 24
TOKEN_PREFIX_LENGTH = 4
OTP_LENGTH = TOKEN_LENGTH + TOKEN_PREFIX_LENGTH
# Unseal key shares: at least 16 bytes, at most the 32-byte key plus Shamir's one-byte x coordinate.
KEY_MIN, KEY_MAX = 16, 33

STANDARD = "root"
RECOVERY = "recovery"
RECOVERY_PREFIX = "hvr."
DR = "dr"  # a DR operation token, generated on a DR secondary from the primary's key shares
DR_PREFIX = "hvs."

ALREADY_UNSEALED = "attempted to generate recovery operation token when already unsealed"


class GenerateRootError(Exception):
    """A refused step; the HTTP layer decides the status (400 for the raw endpoints)."""


# -- the OTP encoding (sdk/helper/roottoken, sdk/helper/xor) -----------------------------------
def generate_otp(length: int = OTP_LENGTH) -> str:
    return base62(length)


def xor_bytes(a: bytes, b: bytes) -> bytes:
    if len(a) != len(b):
        raise GenerateRootError(f"length of byte slices is not equivalent: {len(a)} != {len(b)}")
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def encode_token(token: str, otp: str) -> str:
    """roottoken.EncodeToken: base64 (standard alphabet, no padding) of token XOR otp."""
    if not token:
        raise GenerateRootError("no token provided")
    if not otp:
        raise GenerateRootError("no otp provided")
    try:
        raw = xor_bytes(otp.encode(), token.encode())
    except GenerateRootError as exc:
        raise GenerateRootError(f"xor of root token failed: {exc}") from None
    return base64.b64encode(raw).decode().rstrip("=")


def decode_token(encoded: str, otp: str, otp_length: int) -> str:
    """roottoken.DecodeToken for OTPs of the Vault >= 1.10 scheme (the only one Tessera issues)."""
    if otp_length == 0:
        # The pre-1.10 scheme: both sides base64, the result formatted as a UUID.
        try:
            raw = xor_bytes(go_b64decode(encoded, padded=True), go_b64decode(otp, padded=True))
        except (GenerateRootError, Base64Error) as exc:
            raise GenerateRootError(f"error xoring token: {exc}") from None
        if len(raw) != 16:
            raise GenerateRootError(
                f"error formatting base64 token value: wrong length byte slice ({len(raw)})"
            )
        return str(uuid.UUID(bytes=raw))
    try:
        raw = go_b64decode(encoded, padded=False)
    except Base64Error as exc:
        raise GenerateRootError(f"error decoding base64'd token: {exc}") from None
    try:
        return xor_bytes(raw, otp.encode()).decode("utf-8", "replace")
    except GenerateRootError as exc:
        raise GenerateRootError(f"error xoring token: {exc}") from None


def check_key_length(key: bytes) -> None:
    if len(key) < KEY_MIN:
        raise GenerateRootError(f"invalid key: key is shorter than minimum {KEY_MIN} bytes")
    if len(key) > KEY_MAX:
        raise GenerateRootError(f"invalid key: key is longer than maximum {KEY_MAX} bytes")


def combine_shares(shares: list[bytes], threshold: int) -> bytes:
    """The unseal key from ``threshold`` shares (a single "share" is the key itself)."""
    if threshold == 1:
        return shares[0]
    try:
        return shamir.combine(shares)
    except shamir.ShamirError as exc:
        raise GenerateRootError(f"failed to compute root key: {exc}") from None


def root_key_from_unseal_key(core: Core, unseal_key: bytes) -> bytes:
    """Decrypt the stored root key with an unseal key; Vault's texts when the key is wrong."""
    blob = core.physical.get(ROOT_KEY_PATH)
    if blob is None:
        raise GenerateRootError("unable to retrieve stored keys: no stored keys found")
    try:
        return open_with(unseal_key, ROOT_KEY_PATH, blob)
    except BarrierError as exc:
        raise GenerateRootError(
            f"unable to retrieve stored keys: invalid key: failed to decrypt keys from storage: {exc}"
        ) from None


# -- the generation state machine --------------------------------------------------------------
@dataclass
class Attempt:
    nonce: str
    otp: str
    pgp_key: str
    pgp_fingerprint: str
    strategy: str
    progress: list[bytes] = field(default_factory=list)


@dataclass
class UpdateResult:
    progress: int
    required: int
    encoded_token: str = ""
    pgp_fingerprint: str = ""

    @property
    def complete(self) -> bool:
        return self.progress == self.required


class RootGeneration:
    """The one generation attempt of a Core (OpenBao keeps one per namespace; Tessera has one)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.lock = threading.Lock()
        self.attempt: Attempt | None = None
        # The recovery token minted by a completed recovery attempt (memory only, one at a time),
        # and likewise the DR operation token of a DR secondary.
        self.recovery_token = ""
        self.dr_token = ""

    @property
    def recovery_mode(self) -> bool:
        return bool(self.core.config.extra.get("recovery_mode"))

    def check(self) -> None:
        """lockRootGeneration: the server must be unsealed, or sealed and in recovery mode."""
        if self.core.sealed and not self.recovery_mode:
            raise SealedError()
        if self.recovery_mode and not self.core.barrier.sealed:
            raise GenerateRootError(ALREADY_UNSEALED)

    def required(self) -> int:
        cfg = self.core.seal_manager.config()
        if cfg is None:
            raise GenerateRootError("server is not yet initialized")
        return cfg.secret_threshold

    def progress(self) -> int:
        attempt = self.attempt
        return len(attempt.progress) if attempt is not None else 0

    def init(self, otp: str, pgp_key: str, strategy: str) -> None:
        self.check()
        if strategy == DR and not self.core.replication.dr_secondary:
            raise GenerateRootError("DR operation tokens are generated on a DR secondary only")
        if otp:
            if len(otp) != OTP_LENGTH:
                raise GenerateRootError("OTP string has incorrect length")
            pgp_key, fingerprint = "", ""  # an OTP wins over a PGP key, as in OpenBao
        elif pgp_key:
            try:
                fingerprint = pgpkeys.fingerprints([pgp_key])[0]
            except pgpkeys.PGPKeyError as exc:
                raise GenerateRootError(f"error parsing PGP key: {exc}") from None
        else:
            raise GenerateRootError("otp or pgp_key parameter must be provided")
        with self.lock:
            if self.attempt is not None:
                raise GenerateRootError("root generation already in progress for this namespace")
            self.attempt = Attempt(str(uuid.uuid4()), otp, pgp_key, fingerprint, strategy)
            log.info("%s generation initialized", _kind(strategy))

    def cancel(self) -> None:
        with self.lock:
            self.attempt = None

    def update(self, key: bytes, nonce: str, strategy: str) -> UpdateResult:
        """Add one share; at the threshold authenticate the key and mint the token."""
        self.check()
        check_key_length(key)
        threshold = self.required()
        with self.lock:
            attempt = self.attempt
            if attempt is None:
                raise GenerateRootError("no root generation in progress")
            if not hmac.compare_digest(str(nonce).encode(), attempt.nonce.encode()):
                raise GenerateRootError(
                    f'incorrect nonce supplied; nonce for this root generation operation is "{attempt.nonce}"'
                )
            if strategy != attempt.strategy:
                raise GenerateRootError(
                    "incorrect strategy supplied; a generate root operation of another type is already in progress"
                )
            if any(hmac.compare_digest(existing, key) for existing in attempt.progress):
                raise GenerateRootError(
                    "given key has already been provided during this generation operation"
                )
            attempt.progress.append(key)
            progress = len(attempt.progress)
            if progress < threshold:
                return UpdateResult(progress, threshold, pgp_fingerprint=attempt.pgp_fingerprint)
            shares, attempt.progress = attempt.progress, []
            combined = combine_shares(shares, threshold)
            try:
                self._authenticate(combined, strategy)
            except GenerateRootError as exc:
                log.error("root generation aborted: %s", exc)
                raise GenerateRootError(f"root generation aborted: {exc}") from None
            token, cleanup = self._generate(strategy)
            try:
                if attempt.otp:
                    encoded = encode_token(token, attempt.otp)
                else:
                    encoded = pgpkeys.encrypt_token(token, attempt.pgp_key)
            except (GenerateRootError, pgpkeys.PGPKeyError) as exc:
                cleanup()
                raise GenerateRootError(str(exc)) from None
            self.attempt = None
            log.info("%s generation finished", _kind(strategy))
            return UpdateResult(progress, threshold, encoded, attempt.pgp_fingerprint)

    def _authenticate(self, unseal_key: bytes, strategy: str) -> None:
        core = self.core
        if strategy == RECOVERY:
            # Recovery mode has no unseal endpoint: the generation itself opens the barrier.
            try:
                root_key_from_unseal_key(core, unseal_key)
                core.barrier.unseal(unseal_key)
            except BarrierError as exc:
                raise GenerateRootError(
                    f"recovery operation token generation failed, cannot unseal barrier: {exc}"
                ) from None
            except GenerateRootError as exc:
                raise GenerateRootError(f"unable to authenticate: {exc}") from None
            return
        try:
            root_key = root_key_from_unseal_key(core, unseal_key)
        except GenerateRootError as exc:
            raise GenerateRootError(f"unable to authenticate: {exc}") from None
        if not hmac.compare_digest(root_key, core.barrier.keyring().root_key):
            raise GenerateRootError("root key verification failed: Unseal failed, invalid key")

    def _generate(self, strategy: str) -> tuple[str, Callable[[], None]]:
        """The new token and a function undoing it (if the encoding fails)."""
        if strategy == RECOVERY:
            token = RECOVERY_PREFIX + base62(TOKEN_LENGTH)
            self.recovery_token = token

            def forget() -> None:
                self.recovery_token = ""

            return token, forget
        if strategy == DR:
            token = DR_PREFIX + base62(TOKEN_LENGTH)
            self.dr_token = token

            def forget_dr() -> None:
                self.dr_token = ""

            return token, forget_dr
        core = self.core
        token = core.create_root_token(path="auth/token/root", display_name="root")

        def revoke() -> None:
            entry = core.tokens.lookup(token)
            if entry is not None:
                core.tokens.revoke_orphan(entry)

        return token, revoke

    def check_recovery_token(self, presented: str) -> bool:
        """Constant-time comparison with the one recovery token (none yet: nothing matches)."""
        current = self.recovery_token
        return bool(presented and current) and hmac.compare_digest(presented.encode(), current.encode())

    def check_dr_token(self, presented: str) -> bool:
        """Constant-time comparison with the generated DR operation token (none: nothing matches)."""
        current = self.dr_token
        return bool(presented and current) and hmac.compare_digest(presented.encode(), current.encode())


def _kind(strategy: str) -> str:
    return {RECOVERY: "recovery operation token", DR: "DR operation token"}.get(strategy, "root")


_LOCK = threading.Lock()


def generation(core: Core) -> RootGeneration:
    """The Core's generation state (``core.root_generation``), made when first asked for."""
    with _LOCK:
        gen = core.root_generation
        if not isinstance(gen, RootGeneration):
            gen = core.root_generation = RootGeneration(core)
        return gen
