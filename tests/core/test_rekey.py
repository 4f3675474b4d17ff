"""Rekeying on a real in-process Core: new shares take over (after verification if asked), old ones stop."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tessera.core import shamir
from tessera.core.core import Core
from tessera.core.rekey import RekeyConfig, RekeyError, rekey
from tessera.core.seal import SealManager
from tessera.storage.base import TxnOp
from tessera.storage.inmem import InmemPhysical


@pytest.fixture
def core() -> Iterator[tuple[Core, list[bytes]]]:
    """An unsealed Core with 3 key shares, threshold 2."""
    c = Core(InmemPhysical())
    keys = c.initialize(3, 2)["keys"]
    for key in keys[:2]:
        c.unseal(key)
    try:
        yield c, keys
    finally:
        c.shutdown()


def _refused(status: int, message: str) -> pytest.RaisesExc[RekeyError]:
    """Refused with this status and exactly this text."""

    def check(exc: RekeyError) -> bool:
        return exc.status == status

    return pytest.raises(RekeyError, match="^" + re.escape(message) + "$", check=check)


def _unseals(c: Core, shares: list[bytes]) -> bool:
    """Seal, then try the shares; True if the Core came back unsealed."""
    c.seal()
    c.seal_manager.reset()
    done = False
    for share in shares:
        try:
            done = c.unseal(share)
        except Exception:
            return False
        if done:
            break
    return done and not c.sealed


def _rekey(
    c: Core, keys: list[bytes], shares: int, threshold: int, verify: bool = False
) -> tuple[list[bytes], str]:
    state = rekey(c)
    state.init(RekeyConfig(shares, threshold, verification_required=verify))
    assert state.config is not None
    nonce = state.config.nonce
    assert state.update(keys[0], nonce) is None
    result = state.update(keys[1], nonce)
    assert result is not None and result.nonce == nonce
    return result.shares, result.verification_nonce


def test_new_shares_replace_the_old(core: tuple[Core, list[bytes]]) -> None:
    c, keys = core
    new, verification = _rekey(c, keys, 5, 3)
    assert len(new) == 5 and verification == ""
    assert rekey(c).config is None
    cfg = c.seal_manager.config()
    assert cfg is not None and (cfg.secret_shares, cfg.secret_threshold) == (5, 3)
    assert not _unseals(c, keys[:2])
    assert _unseals(c, new[2:5])


def test_single_share_is_the_key_itself(core: tuple[Core, list[bytes]]) -> None:
    c, keys = core
    new, _ = _rekey(c, keys, 1, 1)
    assert len(new) == 1 and len(new[0]) == 32
    assert _unseals(c, new)


def test_verification_keeps_old_shares_until_new_ones_are_shown(core: tuple[Core, list[bytes]]) -> None:
    c, keys = core
    new, vnonce = _rekey(c, keys, 3, 2, verify=True)
    state = rekey(c)
    assert vnonce and state.progress(True) == (True, 0)
    with _refused(
        400,
        "rekey operation already finished; verification must be performed; nonce for the verification "
        f'operation is "{vnonce}"',
    ):
        state.update(keys[2], state.config.nonce if state.config else "")
    cfg = c.seal_manager.config()
    assert cfg is not None and cfg.secret_threshold == 2
    # Wrong shares: refused, progress dropped and a new nonce issued.
    other = shamir.split(bytes(32), 3, 2)
    assert state.verify(other[0], vnonce) is None
    with _refused(400, "rekey verification failed; incorrect key shares supplied"):
        state.verify(other[1], vnonce)
    assert state.config is not None
    fresh = state.config.verification_nonce
    assert fresh != vnonce and state.progress(True) == (True, 0)
    with _refused(400, f'incorrect nonce supplied; nonce for this verify operation is "{fresh}"'):
        state.verify(new[0], vnonce)
    state.verify_restart()
    restarted = state.config.verification_nonce
    assert restarted != fresh
    assert state.verify(new[0], restarted) is None
    with _refused(400, "given key has already been provided during this verify operation"):
        state.verify(new[0], restarted)
    assert state.verify(new[1], restarted) == restarted
    assert state.config is None
    assert not _unseals(c, keys[:2])
    assert _unseals(c, new[1:])


@pytest.mark.parametrize(
    ("shares", "threshold", "problem"),
    [
        (0, 0, "shares must be at least one"),
        (2, 0, "threshold must be at least one"),
        (2, 1, "threshold must be greater than one for multiple shares"),
        (2, 3, "threshold cannot be larger than shares"),
        (300, 2, "shares must be less than 256"),
    ],
)
def test_invalid_configurations_are_400s(
    core: tuple[Core, list[bytes]], shares: int, threshold: int, problem: str
) -> None:
    """OpenBao's text; its 500 for this bad input is a 400 here (README, compatibility)."""
    c, _ = core
    with _refused(400, f"invalid rekey seal configuration: {problem}"):
        rekey(c).init(RekeyConfig(shares, threshold))


def test_update_refusals(core: tuple[Core, list[bytes]]) -> None:
    c, keys = core
    state = rekey(c)
    with _refused(400, "no barrier rekey in progress"):
        state.update(keys[0], "")
    with _refused(400, "no rekey in progress"):
        state.verify(keys[0], "")
    state.init(RekeyConfig(1, 1))
    with _refused(400, "rekey already in progress"):
        state.init(RekeyConfig(1, 1))
    assert state.config is not None
    nonce = state.config.nonce
    with _refused(400, f'incorrect nonce supplied; nonce for this rekey operation is "{nonce}"'):
        state.update(keys[0], "wrong")
    with _refused(400, "key is shorter than minimum 16 bytes"):
        state.update(b"k" * 15, nonce)
    with _refused(400, "key is longer than maximum 33 bytes"):
        state.update(b"k" * 34, nonce)
    with _refused(400, "no rekey verification in progress"):
        state.verify(keys[0], "")
    state.update(keys[0], nonce)
    with _refused(400, "given key has already been provided during this generation operation"):
        state.update(keys[0], nonce)
    state.cancel()
    assert state.config is None


def test_wrong_shares_are_a_500_and_the_count_starts_over(core: tuple[Core, list[bytes]]) -> None:
    c, _ = core
    state = rekey(c)
    state.init(RekeyConfig(1, 1))
    assert state.config is not None
    nonce = state.config.nonce
    bogus = shamir.split(bytes(32), 3, 2)
    state.update(bogus[0], nonce)
    with _refused(
        500,
        "failed to read root key: invalid key: failed to decrypt keys from storage: cipher: message "
        "authentication failed",
    ):
        state.update(bogus[1], nonce)
    assert state.progress(False) == (True, 0)


def test_unusable_pgp_keys_are_refused(core: tuple[Core, list[bytes]]) -> None:
    """SealConfig.Validate's texts; a 400 where OpenBao answers 500."""
    c, _ = core
    with _refused(
        400,
        "invalid rekey seal configuration: error decoding given PGP key: illegal base64 data at input byte 6",
    ):
        rekey(c).init(RekeyConfig(1, 1, pgp_keys=["mQENBF..."]))
    with _refused(
        400,
        "invalid rekey seal configuration: count mismatch between number of provided PGP keys and number of shares",
    ):
        rekey(c).init(RekeyConfig(2, 2, pgp_keys=["mQENBF..."]))
    assert rekey(c).current() is None


def test_sealed_core_refuses(core: tuple[Core, list[bytes]]) -> None:
    c, keys = core
    c.seal()
    for call in (
        lambda: rekey(c).init(RekeyConfig(1, 1)),
        lambda: rekey(c).update(keys[0], ""),
        rekey(c).cancel,
    ):
        with _refused(503, "Vault is sealed"):
            call()


def test_sealing_drops_a_rekey_in_progress(core: tuple[Core, list[bytes]]) -> None:
    """Vault's preSeal: new shares awaiting verification are discarded, the current ones stay valid."""
    c, keys = core
    _rekey(c, keys, 3, 2, verify=True)
    assert rekey(c).current() is not None
    assert _unseals(c, keys[1:])
    assert rekey(c).current() is None
    with _refused(400, "no rekey in progress"):
        rekey(c).verify(keys[0], "")


def test_backups_are_absent_without_pgp(core: tuple[Core, list[bytes]]) -> None:
    c, _ = core
    assert rekey(c).read_backup(False) is None
    rekey(c).delete_backup(False)


class _FailingTransactions(InmemPhysical):
    """Storage whose transactions fail once armed: the rekey must leave the old keys in force."""

    armed = False

    def transaction(self, ops: list[TxnOp]) -> None:
        if self.armed:
            raise OSError("disk full")
        super().transaction(ops)


def test_failed_write_keeps_the_old_shares() -> None:
    physical = _FailingTransactions()
    c = Core(physical)
    keys = c.initialize(3, 2)["keys"]
    for key in keys[:2]:
        c.unseal(key)
    physical.armed = True
    state = rekey(c)
    state.init(RekeyConfig(1, 1))
    assert state.config is not None
    state.update(keys[0], state.config.nonce)
    with _refused(500, "failed to perform barrier rekey: disk full"):
        state.update(keys[2], state.config.nonce)
    physical.armed = False
    cfg = SealManager(physical, c.barrier).config()
    assert cfg is not None and (cfg.secret_shares, cfg.secret_threshold) == (3, 2)
    assert _unseals(c, keys[1:])
    c.shutdown()
