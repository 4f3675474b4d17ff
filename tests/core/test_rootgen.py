"""Root and recovery token generation on a real in-process Core (no HTTP): the protocol and its texts."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tessera.core import rootgen
from tessera.core.core import Core, CoreConfig
from tessera.core.rootgen import GenerateRootError, decode_token, encode_token, generation
from tessera.framework import SealedError
from tessera.storage.inmem import InmemPhysical

OTP = "abcdefghijklmnopqrstuvwxyz01"  # 28 characters: hvs. + 24


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


def _refused(message: str, *, prefix: bool = False) -> pytest.RaisesExc[GenerateRootError]:
    """The step is refused with exactly this text (or text starting with it)."""
    return pytest.raises(GenerateRootError, match="^" + re.escape(message) + ("" if prefix else "$"))


def _complete(c: Core, keys: list[bytes], otp: str = OTP) -> str:
    gen = generation(c)
    gen.init(otp, "", rootgen.STANDARD)
    assert gen.attempt is not None
    nonce = gen.attempt.nonce
    first = gen.update(keys[0], nonce, rootgen.STANDARD)
    assert (first.progress, first.required, first.complete, first.encoded_token) == (1, 2, False, "")
    last = gen.update(keys[2], nonce, rootgen.STANDARD)
    assert last.complete and last.encoded_token
    return decode_token(last.encoded_token, otp, len(otp))


# -- the OTP encoding ----------------------------------------------------------------------------
def test_decode_matches_the_reference() -> None:
    """Vectors recorded from OpenBao 2.7.2 (a root token with a 26-character OTP, a recovery token)."""
    assert (
        decode_token("EkwCCB8EDgFZGFsNJxk5HjNAJUISBA1BLDM", "abcdefghijklmnopqrstuvwxyz", 26)
        == "s.alzbii0r0aJwVnB2V6grz9UI"
    )
    assert (
        decode_token("DDxLS31HCxt+fVAEfDILEhN0DFA7d2c+X1gQPQ", "dJ9e2sCYOKb02EchAAT1zBVz35iZ", 28)
        == "hvr.O4HB1624NwhzR5XaA51Dlmyg"
    )


def test_encode_is_unpadded_base64_of_the_xor() -> None:
    token = "hvs." + "A" * 24
    encoded = encode_token(token, OTP)
    assert "=" not in encoded and len(encoded) == 38
    assert decode_token(encoded, OTP, 28) == token


def test_decode_errors_use_go_texts() -> None:
    with _refused("error decoding base64'd token: illegal base64 data at input byte 0"):
        decode_token("!!!", "abc", 3)
    with _refused("error xoring token: length of byte slices is not equivalent: 26 != 3"):
        decode_token("EkwCCB8EDgFZGFsNJxk5HjNAJUISBA1BLDM", "abc", 3)


def test_generated_otp_has_the_token_length() -> None:
    otp = rootgen.generate_otp()
    assert len(otp) == rootgen.OTP_LENGTH == 28 and otp.isalnum()


# -- root generation ------------------------------------------------------------------------------
def test_generated_root_token_works(core: tuple[Core, list[bytes]]) -> None:
    c, keys = core
    token = _complete(c, keys)
    assert token.startswith("hvs.") and len(token) == 28
    entry = c.resolve_token(token)
    assert entry is not None and entry.policies == ["root"] and entry.path == "auth/token/root"
    assert generation(c).attempt is None  # the attempt ends with the token


def test_one_attempt_at_a_time_and_cancel(core: tuple[Core, list[bytes]]) -> None:
    c, _ = core
    gen = generation(c)
    gen.init(OTP, "", rootgen.STANDARD)
    with _refused("root generation already in progress for this namespace"):
        gen.init(OTP, "", rootgen.STANDARD)
    gen.cancel()
    assert gen.attempt is None
    gen.init(OTP, "", rootgen.STANDARD)


@pytest.mark.parametrize(
    ("otp", "pgp", "message"),
    [
        ("short", "", "OTP string has incorrect length"),
        ("", "", "otp or pgp_key parameter must be provided"),
        (
            "",
            "mQENBF...",
            "error parsing PGP key: error decoding given PGP key: illegal base64 data at input byte 6",
        ),
        (
            "",
            "bm90IGEga2V5",
            "error parsing PGP key: error parsing given PGP key: openpgp: invalid data: tag byte does not have MSB set",
        ),
    ],
)
def test_init_refusals(core: tuple[Core, list[bytes]], otp: str, pgp: str, message: str) -> None:
    c, _ = core
    with _refused(message):
        generation(c).init(otp, pgp, rootgen.STANDARD)
    assert generation(c).attempt is None


def test_update_refusals(core: tuple[Core, list[bytes]]) -> None:
    c, keys = core
    gen = generation(c)
    with _refused("no root generation in progress"):
        gen.update(keys[0], "x", rootgen.STANDARD)
    gen.init(OTP, "", rootgen.STANDARD)
    assert gen.attempt is not None
    nonce = gen.attempt.nonce
    with _refused(f'incorrect nonce supplied; nonce for this root generation operation is "{nonce}"'):
        gen.update(keys[0], "x", rootgen.STANDARD)
    with _refused("invalid key: key is shorter than minimum 16 bytes"):
        gen.update(b"x" * 15, nonce, rootgen.STANDARD)
    with _refused("invalid key: key is longer than maximum 33 bytes"):
        gen.update(b"x" * 34, nonce, rootgen.STANDARD)
    with _refused("incorrect strategy supplied", prefix=True):
        gen.update(keys[0], nonce, rootgen.RECOVERY)
    gen.update(keys[0], nonce, rootgen.STANDARD)
    with _refused("given key has already been provided during this generation operation"):
        gen.update(keys[0], nonce, rootgen.STANDARD)


def test_wrong_share_aborts_and_starts_the_count_over(core: tuple[Core, list[bytes]]) -> None:
    c, keys = core
    gen = generation(c)
    gen.init(OTP, "", rootgen.STANDARD)
    assert gen.attempt is not None
    nonce = gen.attempt.nonce
    gen.update(keys[0], nonce, rootgen.STANDARD)
    bogus = bytes(32) + bytes([1 if keys[0][-1] != 1 else 2])
    with pytest.raises(GenerateRootError) as info:
        gen.update(bogus, nonce, rootgen.STANDARD)
    assert str(info.value) == (
        "root generation aborted: unable to authenticate: unable to retrieve stored keys: invalid key: "
        "failed to decrypt keys from storage: cipher: message authentication failed"
    )
    assert gen.attempt is not None and gen.progress() == 0  # same attempt, shares dropped
    assert _finish(c, keys, nonce).startswith("hvs.")


def _finish(c: Core, keys: list[bytes], nonce: str) -> str:
    gen = generation(c)
    gen.update(keys[1], nonce, rootgen.STANDARD)
    result = gen.update(keys[2], nonce, rootgen.STANDARD)
    return decode_token(result.encoded_token, OTP, len(OTP))


def test_sealed_server_refuses(core: tuple[Core, list[bytes]]) -> None:
    c, keys = core
    c.seal()
    with pytest.raises(SealedError):
        generation(c).init(OTP, "", rootgen.STANDARD)
    with pytest.raises(SealedError):
        generation(c).update(keys[0], "x", rootgen.STANDARD)


def test_recovery_prefixed_tokens_are_unknown_to_a_normal_core(core: tuple[Core, list[bytes]]) -> None:
    c, _ = core
    assert c.resolve_token("hvr.O4HB1624NwhzR5XaA51Dlmyg") is None
    assert c.resolve_token("r.O4HB1624NwhzR5XaA51Dlmyg") is None


# -- recovery tokens ------------------------------------------------------------------------------
def test_recovery_generation_unseals_only_the_barrier() -> None:
    physical = InmemPhysical()
    first = Core(physical)
    keys = first.initialize(3, 2)["keys"]
    first.shutdown()
    c = Core(physical, CoreConfig(extra={"recovery_mode": True}))
    gen = generation(c)
    assert c.sealed
    gen.init(OTP, "", rootgen.RECOVERY)
    assert gen.attempt is not None
    nonce = gen.attempt.nonce
    gen.update(keys[1], nonce, rootgen.RECOVERY)
    result = gen.update(keys[0], nonce, rootgen.RECOVERY)
    token = decode_token(result.encoded_token, OTP, len(OTP))
    assert token.startswith("hvr.") and len(token) == 28
    assert not c.barrier.sealed
    assert c.tokens is None and c.router.routes() == []  # no token store, no mounts
    assert gen.check_recovery_token(token)
    assert not gen.check_recovery_token(token[:-1] + ("x" if token[-1] != "x" else "y"))
    assert not gen.check_recovery_token("")
    with _refused(rootgen.ALREADY_UNSEALED):
        gen.init(OTP, "", rootgen.RECOVERY)
    c.shutdown()


def test_no_recovery_token_matches_before_one_was_generated() -> None:
    c = Core(InmemPhysical(), CoreConfig(extra={"recovery_mode": True}))
    assert not generation(c).check_recovery_token("hvr.")
    assert not generation(c).check_recovery_token("")
