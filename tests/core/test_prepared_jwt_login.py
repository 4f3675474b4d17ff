"""The prepared login lane for JWT (``Backend.prepared_login``, ``JWTAuth.prepared_login``)
answers exactly as the generic pipeline does.

As tests/core/test_prepared_login.py does for AppRole: two dev servers with the same ``jwt``
mount (the same PEM keys, roles and default role), every login through the App as the
event-loop front hands it over, to one server with the prepared routes on and to the other with
them off. Status, headers and body must be the same bytes once random IDs are named alike, the
minted tokens must carry the same entry, and the identity aliases left behind must be the same.
Refusals included: expired, wrong audience, bad signature, unknown role, ``alg: none``, ...
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tessera.framework import ErrorResponse
from tests.helpers.jwks import GITHUB_DEPLOY_ROLE, public_pem, rsa_key
from tests.reliability.asgi import ROOT

from .test_prepared_login import RANDOM_FIELDS, masking, same_as_generic
from .test_prepared_routes import Server

RSA_KEY = rsa_key()
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = rsa_key()  # in no config: its tokens' signatures verify with no known key
ISSUER = "https://token.actions.githubusercontent.com"

ROLES: dict[str, dict[str, Any]] = {
    "deploy": GITHUB_DEPLOY_ROLE,
    "svc": {
        "role_type": "jwt",
        "user_claim": "actor",
        "bound_subject": "repo:acme/app:ref:refs/heads/main",
        "bound_audiences": "https://github.com/acme",
        "token_type": "service",
        "token_ttl": "1h",
        "token_max_ttl": "2h",
        "token_policies": "p1,p2",
    },
    "exact": {
        "role_type": "jwt",
        "user_claim": "sub",
        "bound_audiences": "https://github.com/acme",
        "bound_claims": {"ref": ["refs/heads/main", "refs/heads/release"]},
        "clock_skew_leeway": -1,
        "token_type": "batch",
    },
    "browser": {"role_type": "oidc", "user_claim": "sub", "allowed_redirect_uris": "https://x/cb"},
    "cidr": {
        "role_type": "jwt",
        "user_claim": "sub",
        "bound_audiences": "https://github.com/acme",
        "token_bound_cidrs": "10.0.0.0/8",
        "token_type": "batch",
    },
}


def _token(key: Any = RSA_KEY, alg: str = "RS256", **extra: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "https://github.com/acme",
        "sub": "repo:acme/app:ref:refs/heads/main",
        "repository": "acme/app",
        "ref": "refs/heads/main",
        "workflow": "deploy",
        "actor": "octocat",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,  # valid however slowly the module runs
        **extra,
    }
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": "k1"})


def _unsigned() -> str:
    """``alg: none``: a header and claims, an empty signature."""

    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(doc)).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "https://github.com/acme", "sub": "x", "exp": now + 600}
    return part({"alg": "none", "typ": "JWT"}) + "." + part(claims) + "."


GOOD = _token()
NOW = int(time.time())
# The logins, in order (a repeated token is served by the verified-token memo the second time).
LOGINS: list[Any] = [
    {"role": "deploy", "jwt": GOOD},
    {"role": "deploy", "jwt": GOOD},
    {"role": "DEPLOY", "jwt": _token(run_id="2")},
    {"jwt": _token(run_id="3")},  # the config's default role
    {"role": "", "jwt": _token(run_id="4")},
    {"role": "deploy", "jwt": _token(EC_KEY, "ES256", run_id="5")},
    {"role": "deploy", "jwt": _token(workflow="other")},  # new alias metadata: a write
    {"role": "svc", "jwt": _token()},
    {"role": "exact", "jwt": _token(ref="refs/heads/release")},
    # Refusals.
    {"role": "deploy", "jwt": _token(exp=NOW - 1000, iat=NOW - 2000, nbf=NOW - 2000)},
    {"role": "exact", "jwt": _token(nbf=NOW + 3600, exp=NOW + 7200)},  # far ahead: a slow run stays early
    {"role": "deploy", "jwt": _token(aud="https://github.com/other")},
    {"role": "deploy", "jwt": _token(OTHER_KEY)},
    {"role": "deploy", "jwt": _unsigned()},
    {"role": "nope", "jwt": GOOD},
    {"role": "deploy"},
    {"role": "deploy", "jwt": ""},
    {"role": "deploy", "jwt": "not.a-jwt"},
    {"role": "deploy", "jwt": "a+b.c.d"},
    {"role": "deploy", "jwt": _token(repository="other/app")},
    {"role": "deploy", "jwt": _token(iss="https://evil.example")},
    {"role": "deploy", "jwt": _token(sub=5)},
    {"role": "deploy", "jwt": _token(workflow=7)},
    {"role": "svc", "jwt": _token(sub="repo:acme/app:ref:refs/heads/dev")},
    {"role": "browser", "jwt": GOOD},
    {"role": "cidr", "jwt": GOOD},
    # Shapes the lane leaves to the generic path: an unknown field, values that are no strings.
    {"role": "deploy", "jwt": GOOD, "extra": "x"},
    {"role": 5, "jwt": GOOD},
    {"role": "deploy", "jwt": None},
]

_normal = masking(RANDOM_FIELDS, "jwt")


class JWTServer(Server):
    """A dev server with a ``jwt`` mount and its roles, always served ``fast`` or never by a
    prepared route."""

    def __init__(self, fast: bool) -> None:
        super().__init__()
        self.fast = fast
        self.setup("POST", "sys/auth/jwt", {"type": "jwt"})
        config = {
            "jwt_validation_pubkeys": [public_pem(RSA_KEY), public_pem(EC_KEY)],
            "bound_issuer": ISSUER,
            "default_role": "Deploy",
        }
        self.setup("POST", "auth/jwt/config", config)
        for name, role in ROLES.items():
            self.setup("POST", f"auth/jwt/role/{name}", role)

    def login(
        self, body: Any, headers: dict[str, str] | None = None, token: str = ""
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        return self.call("POST", "auth/jwt/login", token, body, fast=self.fast, headers=headers)


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[JWTServer, JWTServer]]:
    fast, slow = JWTServer(True), JWTServer(False)
    yield fast, slow
    fast.core.shutdown()
    slow.core.shutdown()


def _same(fast: JWTServer, slow: JWTServer, got: tuple[Any, ...], want: tuple[Any, ...]) -> None:
    same_as_generic(fast, slow, got, want, _normal)


def test_logins_answer_and_write_as_the_generic_path(pair: tuple[JWTServer, JWTServer]) -> None:
    fast, slow = pair
    statuses = []
    for body in LOGINS:
        got, want = fast.login(body), slow.login(body)
        _same(fast, slow, got, want)
        statuses.append(got[0])
    assert statuses.count(200) == 10 and 403 in statuses and 400 in statuses
    assert fast.aliases() == slow.aliases()


@pytest.mark.parametrize(
    ("headers", "token"),
    [({"x-vault-wrap-ttl": "60s"}, ""), ({"x-vault-namespace": "ns1"}, ""), ({}, ROOT)],
)
def test_unusual_requests_answer_as_the_generic_path(
    pair: tuple[JWTServer, JWTServer], headers: dict[str, str], token: str
) -> None:
    fast, slow = pair
    body = {"role": "deploy", "jwt": GOOD}
    _same(fast, slow, fast.login(body, headers, token), slow.login(body, headers, token))


def test_the_common_shape_is_answered_by_the_lane(pair: tuple[JWTServer, JWTServer]) -> None:
    """Without the lane this test fails: the common login must not fall back."""
    core = pair[0].core
    path = "auth/jwt/login"
    for body in ({"role": "deploy", "jwt": _token(run_id="lane")}, {"jwt": GOOD}):
        answered = core.serve_prepared_update(path, "", body, "127.0.0.1", "r")
        assert answered is not None and answered[0] == 200
    with pytest.raises(ErrorResponse, match='role "nope" could not be found'):  # the App renders it
        core.serve_prepared_update(path, "", {"role": "nope", "jwt": GOOD}, "127.0.0.1", "r")
    for body in ({"role": "deploy", "jwt": GOOD, "x": "y"}, {"role": 1, "jwt": GOOD}):
        assert core.serve_prepared_update(path, "", body, "127.0.0.1", "r") is None


def test_a_changed_role_or_config_is_seen_by_the_next_login(pair: tuple[JWTServer, JWTServer]) -> None:
    """What a login keeps of its role and config (parsed documents, prepared checks, the key
    source) follows their stored values: a change is seen by the very next login, on either path."""
    config = {
        "jwt_validation_pubkeys": [public_pem(RSA_KEY), public_pem(EC_KEY)],
        "bound_issuer": ISSUER,
        "default_role": "Deploy",
    }
    for server in pair:
        body = {"role": "exact", "jwt": _token(ref="refs/heads/main")}
        assert server.login(body)[0] == 200
        server.setup(
            "POST", "auth/jwt/role/exact", {**ROLES["exact"], "bound_claims": {"ref": "refs/heads/release"}}
        )
        status, _, answer = server.login(body)
        assert status == 400 and b'claim \\"ref\\" does not match' in answer
        server.setup("POST", "auth/jwt/role/exact", ROLES["exact"])
        server.setup("POST", "auth/jwt/config", {"jwt_validation_pubkeys": [public_pem(OTHER_KEY)]})
        status, _, answer = server.login(body)  # the same token: no memo of the old keys answers
        assert status == 400 and b"no known key successfully validated" in answer
        server.setup("POST", "auth/jwt/config", {**config, "bound_issuer": "https://other.example"})
        status, _, answer = server.login(body)
        assert status == 400 and b"invalid issuer" in answer
        server.setup("POST", "auth/jwt/config", config)
        assert server.login(body)[0] == 200
