"""What each step of a JWT login's own checks costs: CPU µs per call, in a tight loop.

    python -m bench.jwt_stages [--calls 3000]

The token and role are ``bench/jwt_bench.py``'s (a GitHub Actions-style token, a glob bound
claim, two claim mappings). Steps, in the order ``auth/jwt/login.py`` runs them: taking the
compact JWS apart, the memo's digest, the signature check (through ``keys.verifies`` and through
``cryptography`` directly, to show what the wrapper adds), the registered claims' types and
times, the bound claims, all of the role's claim checks together, and the alias and metadata. What a whole login costs in process is
``bench.login_inproc``'s figure; the difference is the request path and the token's minting.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tessera.auth.jwt import keys
from tessera.auth.jwt.claims import BoundClaims, mapped_metadata, user_alias
from tessera.auth.jwt.config import JWTConfig
from tessera.auth.jwt.login import RoleChecks, check_registered_types, check_times
from tessera.auth.jwt.role import Role
from tests.helpers.jwks import public_pem

from .jwt_bench import ROLE, github_token, signing_key


def per_call(fn: Callable[[], Any], calls: int) -> float:
    """This thread's CPU µs per call of ``fn`` (after a warm-up)."""
    for _ in range(min(200, calls)):
        fn()
    start = time.thread_time()
    for _ in range(calls):
        fn()
    return (time.thread_time() - start) / calls * 1e6


def raw_verify(alg: str, key: Any, jws: keys.JWS) -> Callable[[], None]:
    """The signature check as ``cryptography`` does it, with nothing around it."""
    if alg == "RS256":
        return lambda: key.verify(jws.signature, jws.signing_input, padding.PKCS1v15(), hashes.SHA256())
    r, s = int.from_bytes(jws.signature[:32], "big"), int.from_bytes(jws.signature[32:], "big")
    return lambda: key.verify(encode_dss_signature(r, s), jws.signing_input, ec.ECDSA(hashes.SHA256()))


def stages(alg: str) -> list[tuple[str, Callable[[], Any]]]:
    private = signing_key(alg)
    token = github_token(private, alg, run_id="7", jti="bench-7")
    key = keys.StaticKeys([public_pem(private)]).keys[0]
    jws = keys.parse_jws(token)
    claims = jws.claims
    bound = cast(dict[str, Any], ROLE["bound_claims"])
    mappings = cast(dict[str, str], ROLE["claim_mappings"])
    bound_claims = BoundClaims(bound, True)  # as a login has it: prepared once per stored role
    role = Role(
        role_type="jwt",
        user_claim="sub",
        bound_audiences=[str(ROLE["bound_audiences"])],
        bound_claims_type="glob",
        bound_claims=bound,
    )
    checks = RoleChecks.of(JWTConfig(bound_issuer=str(claims["iss"])), role)
    return [
        ("parse_jws (split, base64, JSON)", lambda: keys.parse_jws(token)),
        ("memo digest (BLAKE2b-256)", lambda: keys.Verified.digest(token)),
        ("signature (keys.verifies)", lambda: keys.verifies(jws, key)),
        ("signature (cryptography alone)", raw_verify(alg, key, jws)),
        ("registered claims' types", lambda: check_registered_types(claims)),
        ("exp / nbf / iat", lambda: check_times(claims, 60)),
        ("bound claims (glob, prepared)", lambda: bound_claims.check(claims)),
        ("all claim checks (RoleChecks)", lambda: checks.check(claims, alg)),
        (
            "alias and metadata",
            lambda: (user_alias(claims, "sub"), mapped_metadata(claims, mappings)),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args(argv)
    for alg in ("RS256", "ES256"):
        print(alg)
        for name, fn in stages(alg):
            print(f"  {name:<34} {per_call(fn, args.calls):7.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
