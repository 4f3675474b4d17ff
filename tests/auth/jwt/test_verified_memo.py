"""The memo of checked signatures (auth/jwt/keys.py ``Verified``): a JWT seen again skips only
the signature check; every other check still runs, and a change of keys forgets the memo.

Logins go through a real in-process Core (``tests/tokens/conftest.py``) with a ``jwt`` mount;
the JWKS cases use the local HTTPS provider of ``tests/helpers/jwks.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tessera.auth.jwt import keys as jwt_keys
from tessera.framework import ErrorResponse, Operation
from tests.helpers.jwks import Provider, public_pem, rsa_key
from tests.tokens.conftest import CoreHarness, RecordingPhysical

ROLE = {
    "role_type": "jwt",
    "user_claim": "sub",
    "bound_audiences": "tessera",
    "bound_claims_type": "glob",
    "bound_claims": {"repository": "acme/*"},
    "token_type": "batch",
    "token_policies": "default",
    "clock_skew_leeway": -1,  # no leeway: an expiry is felt at once
}


@pytest.fixture
def h() -> Iterator[CoreHarness]:
    harness = CoreHarness(RecordingPhysical())
    harness.request(Operation.UPDATE, "sys/auth/jwt", data={"type": "jwt"})
    try:
        yield harness
    finally:
        harness.close()


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": "ci",
        "aud": "tessera",
        "sub": "job",
        "repository": "acme/app",
        "iat": now,
        "exp": now + 300,
    }
    return {**base, **extra}


def _configure(h: CoreHarness, **config: Any) -> None:
    h.request(Operation.UPDATE, "auth/jwt/config", data=config)
    h.request(Operation.UPDATE, "auth/jwt/role/ci", data=ROLE)


def _login(h: CoreHarness, token: str) -> str:
    resp = h.request(Operation.UPDATE, "auth/jwt/login", "", {"role": "ci", "jwt": token})
    assert resp is not None and resp.auth is not None
    return resp.auth.client_token


def _refused(h: CoreHarness, token: str) -> str:
    with pytest.raises(ErrorResponse) as refused:
        _login(h, token)
    return str(refused.value)


def _source(h: CoreHarness) -> Any:
    backend = h.core.router.get("auth/jwt/").backend
    handler = next(p for p in backend.paths if p.pattern.startswith("login")).operations[Operation.UPDATE]
    return handler.__self__._keys[1]


class _CountedCheck:
    """A signature check that notes the outcome of each check it makes (raised: False)."""

    def __init__(self, real: Any, outcomes: list[bool]) -> None:
        self.real, self.outcomes = real, outcomes

    def __call__(self, msg: bytes, key: Any, sig: bytes) -> bool:
        try:
            self.outcomes.append(bool(self.real(msg, key, sig)))
        except Exception:
            self.outcomes.append(False)
            raise
        return self.outcomes[-1]


def _signature_checks(monkeypatch: Any, alg: str) -> list[bool]:
    """The outcome of every ``alg`` signature check from now on, noted in the table of checks
    ``keys.verifies`` looks them up in."""
    outcomes: list[bool] = []
    monkeypatch.setitem(jwt_keys._VERIFIERS, alg, _CountedCheck(jwt_keys._VERIFIERS[alg], outcomes))
    return outcomes


def test_a_token_seen_again_skips_only_the_signature_check(h: CoreHarness, monkeypatch: Any) -> None:
    key = rsa_key()
    _configure(h, jwt_validation_pubkeys=[public_pem(key)])
    token = pyjwt.encode(_claims(exp=int(time.time()) + 2), key, algorithm="RS256")
    checks = _signature_checks(monkeypatch, "RS256")
    assert _login(h, token).startswith("hvb.") and _login(h, token).startswith("hvb.")
    assert checks == [True]  # checked once, remembered by digest (never the token's text)
    assert _source(h).verified._seen == {jwt_keys.Verified.digest(token)}
    time.sleep(2.2)  # the memo says nothing about time: the expiry is checked at every login
    assert _refused(h, token).endswith("token is expired")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert _refused(h, forged) == (
        "error validating token: error verifying token signature: "
        "no known key successfully validated the token signature"
    )


def test_the_key_that_verified_last_is_tried_first(h: CoreHarness, monkeypatch: Any) -> None:
    """Old and new key of a rotation in the config: fresh tokens of the new key are checked once."""
    old, new = rsa_key(), rsa_key()
    _configure(h, jwt_validation_pubkeys=[public_pem(old), public_pem(new)])
    checks = _signature_checks(monkeypatch, "RS256")
    for n in range(3):
        _login(h, pyjwt.encode(_claims(jti=f"new-{n}"), new, algorithm="RS256"))
    assert checks == [False, True, True, True]  # the old key once, then the new key alone
    checks.clear()
    _login(h, pyjwt.encode(_claims(jti="old"), old, algorithm="RS256"))  # the old key still works
    assert checks == [False, True]
    checks.clear()
    assert _refused(h, pyjwt.encode(_claims(jti="x"), rsa_key(), algorithm="RS256")).endswith(
        "no known key successfully validated the token signature"
    )
    assert checks == [False, False]


def test_other_checks_still_apply_to_a_remembered_token(h: CoreHarness) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    _configure(h, jwt_validation_pubkeys=[public_pem(key)])
    token = pyjwt.encode(_claims(), key, algorithm="ES256")
    _login(h, token)
    h.request(Operation.UPDATE, "auth/jwt/role/ci", data={**ROLE, "bound_claims": {"repository": "other/*"}})
    assert _refused(h, token) == (
        'error validating claims: claim "repository" does not match any associated bound claim values'
    )
    h.request(
        Operation.UPDATE,
        "auth/jwt/config",
        data={"jwt_validation_pubkeys": [public_pem(key)], "jwt_supported_algs": ["RS256"]},
    )
    h.request(Operation.UPDATE, "auth/jwt/role/ci", data=ROLE)
    assert "token signed with unexpected algorithm" in _refused(h, token)


def test_new_keys_in_the_config_forget_the_memo(h: CoreHarness) -> None:
    old, new = rsa_key(), rsa_key()
    _configure(h, jwt_validation_pubkeys=[public_pem(old)])
    token = pyjwt.encode(_claims(), old, algorithm="RS256")
    _login(h, token)
    _configure(h, jwt_validation_pubkeys=[public_pem(new)])
    assert _refused(h, token).endswith("no known key successfully validated the token signature")


def test_a_jwks_refresh_forgets_the_memo() -> None:
    provider = Provider()
    try:
        source = jwt_keys.RemoteKeys(provider.url + "/keys", provider.ca_pem)
        token = provider.sign(provider.claims())
        assert source.verify(token)[1] == "RS256"
        assert jwt_keys.Verified.digest(token) in source.verified
        provider.keys.pop(provider.kid())  # the provider drops the key that signed the token ...
        source.verify(provider.sign(provider.claims(), kid=provider.rotate()))  # ... an unknown kid refetches
        assert jwt_keys.Verified.digest(token) not in source.verified
        with pytest.raises(jwt_keys.SignatureError):
            source.verify(token)
    finally:
        provider.stop()


def test_the_memo_is_bounded_and_ignores_a_check_made_before_a_refresh() -> None:
    memo = jwt_keys.Verified(limit=2)
    for n in range(3):
        memo.add(bytes([n]))
    assert bytes([2]) in memo and bytes([0]) not in memo
    keys = jwt_keys.RemoteKeys("https://127.0.0.1:1/keys", "")
    taken = keys.keyset  # what a login checks against ...
    keys.keyset = jwt_keys.KeySet.of([])  # ... when a refresh replaces the keys
    taken.verified.add(b"late")  # that login's check lands in the memo of the keys it used
    assert b"late" not in keys.verified


def test_a_batch_login_of_a_known_alias_writes_nothing(h: CoreHarness) -> None:
    """As the reference: the entity and alias exist after the first login, and a batch token is
    not stored, so the next logins leave storage untouched."""
    key = rsa_key()
    _configure(h, jwt_validation_pubkeys=[public_pem(key)])
    _login(h, pyjwt.encode(_claims(), key, algorithm="RS256"))
    assert isinstance(h.physical, RecordingPhysical)
    writes = h.physical.writes  # every write that reaches storage, below the barrier
    writes.clear()
    for sub in ("job", "job"):  # a fresh JWT each time, same subject
        _login(h, pyjwt.encode(_claims(sub=sub, jti=str(time.monotonic())), key, algorithm="RS256"))
    assert writes == []
