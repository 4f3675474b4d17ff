"""``login.RoleChecks``: a role's claim checks prepared once per stored role and config, and kept on
the role object. Checked against the plain checks they replaced (written out again here, as
``JWTAuth.verify`` and ``login`` ran them on every login): the same refusal, or none, for any
claims, role and config; and made again when the role or the config changes.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import jwt as pyjwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.auth.jwt.claims import get_claim, present
from tessera.auth.jwt.config import JWTConfig
from tessera.auth.jwt.login import INVALID, RoleChecks
from tessera.auth.jwt.role import Role
from tessera.framework import ErrorResponse, Operation
from tessera.gocompat.types import json_kind
from tests.helpers.jwks import public_pem, rsa_key
from tests.tokens.conftest import CoreHarness

NOW = 1_700_000_000


def plain_checks(cfg: JWTConfig, role: Role, claims: dict[str, Any], alg: str) -> None:
    """The checks as they were, straight from the role and config on every call."""
    for name in ("iss", "sub", "jti"):
        value = claims.get(name)
        if value is not None and not isinstance(value, str):
            raise ErrorResponse(
                f"{INVALID}json: cannot unmarshal {json_kind(value)} into Go struct field Claims.{name} of type string"
            )
    aud = claims.get("aud")
    if aud is not None and not (
        isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))
    ):
        raise ErrorResponse(
            f"{INVALID}go-jose/go-jose/jwt: expected string or array value to unmarshal to Audience"
        )
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ErrorResponse(
                f"{INVALID}go-jose/go-jose/jwt: expected number value to unmarshal NumericDate"
            )
    if cfg.jwt_supported_algs and alg not in cfg.jwt_supported_algs:
        raise ErrorResponse(
            f"{INVALID}invalid algorithm (alg) header parameter: token signed with unexpected algorithm"
        )
    if cfg.bound_issuer and claims.get("iss") != cfg.bound_issuer:
        raise ErrorResponse(f"{INVALID}invalid issuer (iss) claim")
    if role.bound_subject and claims.get("sub") != role.bound_subject:
        raise ErrorResponse(f"{INVALID}invalid subject (sub) claim")
    if role.bound_audiences:
        auds = aud if isinstance(aud, list) else [aud]
        if not any(a in role.bound_audiences for a in auds if isinstance(a, str)):
            raise ErrorResponse(
                f"{INVALID}invalid audience (aud) claim: audience claim does not match any expected audience"
            )
    leeway = 60 if role.clock_skew_leeway == 0 else max(role.clock_skew_leeway, 0)
    exp = claims.get("exp")
    if exp is not None and NOW - leeway > float(exp):
        raise ErrorResponse(f"{INVALID}invalid expiration time (exp) claim: token is expired")
    nbf = claims.get("nbf")
    if nbf is None:
        nbf = claims.get("iat")
    if nbf is not None and NOW + leeway < float(nbf):
        raise ErrorResponse(f"{INVALID}invalid not before (nbf) claim: token not yet valid")
    if not role.bound_audiences and claims.get("aud"):
        raise ErrorResponse("audience claim found in JWT but no audiences bound to the role")
    if role.bound_claims:
        glob = role.bound_claims_type == "glob"
        for name in sorted(role.bound_claims):
            expected = role.bound_claims[name]
            actual = get_claim(claims, name)
            if not present(actual):
                raise ErrorResponse(f'error validating claims: claim "{name}" is missing')
            wanted = expected if isinstance(expected, list) else [expected]
            got = actual if isinstance(actual, list) else [actual]
            if not any(_plain_match(w, g, glob) for w in wanted for g in got):
                raise ErrorResponse(
                    f'error validating claims: claim "{name}" does not match any associated bound claim values'
                )


def _plain_match(wanted: Any, got: Any, glob: bool) -> bool:
    if glob:
        if not (isinstance(wanted, str) and isinstance(got, str)):
            return False
        parts = wanted.split("*")  # Vault's glob: only * is special
        if len(parts) == 1:
            return wanted == got
        if not got.startswith(parts[0]):
            return False
        at = len(parts[0])
        for middle in parts[1:-1]:
            found = got.find(middle, at)
            if found < 0:
                return False
            at = found + len(middle)
        return len(got) - at >= len(parts[-1]) and got.endswith(parts[-1])
    return type(wanted) is type(got) and wanted == got


def outcome(check: Any) -> str | None:
    try:
        check()
    except ErrorResponse as exc:
        return str(exc)
    return None


_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-2.5, 2.5),
    st.sampled_from(["", "i", "s", "a", "b", "acme/app", "acme/", "other/app", "x*y", "xay"]),
    st.lists(st.sampled_from(["a", "b", "c", "acme/app", "xzy"]), max_size=3),
    st.lists(st.one_of(st.sampled_from(["a", "b"]), st.integers(0, 2)), max_size=3),
    st.just({"r": "acme/app"}),
)
_TIME = st.one_of(
    _ANY, st.integers(-120, 120).map(lambda d: NOW + d), st.floats(-120, 120).map(lambda d: NOW + d)
)
_CLAIMS = st.fixed_dictionaries(
    {},
    optional={
        "iss": _ANY,
        "sub": _ANY,
        "jti": _ANY,
        "aud": _ANY,
        "exp": _TIME,
        "nbf": _TIME,
        "iat": _TIME,
        "r": _ANY,
        "deep": st.one_of(_ANY, st.just({"r": ["acme/app", "b"]})),
    },
)
_BOUND = st.one_of(
    st.none(),
    st.just({"r": "acme/*"}),
    st.just({"r": ["x*y", "a"]}),
    st.just({"r": "acme/app", "deep": "a"}),
    st.just({"r": ["a", 1]}),
    st.just({"/deep/r": "acme/*"}),
    st.just({"/deep/r": "b"}),
)


@settings(max_examples=600, deadline=None)
@given(
    claims=_CLAIMS,
    alg=st.sampled_from(["RS256", "ES256"]),
    algs=st.sampled_from([[], ["RS256"], ["ES256", "PS256"]]),
    issuer=st.sampled_from(["", "i"]),
    subject=st.sampled_from(["", "s"]),
    audiences=st.sampled_from([[], ["a"], ["a", "b"]]),
    leeway=st.sampled_from([-1, 0, 5, 100]),
    bound=_BOUND,
    glob=st.booleans(),
)
def test_the_same_refusal_as_the_plain_checks(
    claims: dict[str, Any],
    alg: str,
    algs: list[str],
    issuer: str,
    subject: str,
    audiences: list[str],
    leeway: int,
    bound: dict[str, Any] | None,
    glob: bool,
) -> None:
    cfg = JWTConfig(jwt_supported_algs=algs, bound_issuer=issuer)
    role = Role(
        role_type="jwt",
        user_claim="sub",
        bound_subject=subject,
        bound_audiences=audiences,
        clock_skew_leeway=leeway,
        bound_claims=bound,
        bound_claims_type="glob" if glob else "string",
    )
    assert outcome(lambda: RoleChecks.of(cfg, role).check(claims, alg, NOW)) == outcome(
        lambda: plain_checks(cfg, role, claims, alg)
    )


def test_made_once_per_role_and_config_version() -> None:
    cfg = JWTConfig(bound_issuer="i")
    role = Role(role_type="jwt", user_claim="sub", bound_claims={"r": "acme/*"}, bound_claims_type="glob")
    checks = RoleChecks.of(cfg, role)
    assert RoleChecks.of(cfg, role) is checks  # kept on the role object
    other_cfg = JWTConfig(bound_issuer="j")  # a config stored anew is a new object: made again
    assert RoleChecks.of(other_cfg, role) is not checks
    assert outcome(lambda: RoleChecks.of(other_cfg, role).check({"iss": "i", "r": "acme/x"}, "RS256"))
    stored = asdict(role)  # what the backend writes (auth/jwt/__init__.py)
    assert "checks" not in stored  # the memo is never stored or read out
    again = Role.from_json(stored)
    assert again.checks is None and RoleChecks.of(cfg, again) is not checks  # a role stored anew: made again


def test_a_changed_role_is_felt_by_the_next_login() -> None:
    """Through the handler: the role read again from storage is a new object, so new checks."""
    h = CoreHarness()
    try:
        h.request(Operation.UPDATE, "sys/auth/jwt", data={"type": "jwt"})
        key = rsa_key()
        h.request(Operation.UPDATE, "auth/jwt/config", data={"jwt_validation_pubkeys": [public_pem(key)]})
        role = {
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_claims_type": "glob",
            "bound_claims": {"r": "acme/*"},
        }
        h.request(Operation.UPDATE, "auth/jwt/role/ci", data=role)
        token = pyjwt.encode(
            {"sub": "job", "r": "acme/app", "exp": int(time.time()) + 60}, key, algorithm="RS256"
        )
        body = {"role": "ci", "jwt": token}
        assert h.request(Operation.UPDATE, "auth/jwt/login", "", body).auth is not None
        h.request(Operation.UPDATE, "auth/jwt/role/ci", data={**role, "bound_claims": {"r": "other/*"}})
        with pytest.raises(ErrorResponse, match='claim "r" does not match'):
            h.request(Operation.UPDATE, "auth/jwt/login", "", body)
        h.request(Operation.UPDATE, "auth/jwt/role/ci", data=role)
        assert h.request(Operation.UPDATE, "auth/jwt/login", "", body).auth is not None
    finally:
        h.close()
