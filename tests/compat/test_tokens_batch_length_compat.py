"""Batch tokens are no longer than the reference's for the same token (issue 23), and what the
reference does with them still matches while Tessera's deny-list and issuer epochs are in use.

Both servers mint the same token (same request, same parent kind); the whole strings are
compared, prefixes included (the reference's ``b.`` is two characters shorter than ``hvb.``).
"""

from __future__ import annotations

import pytest

from tests.compat.token_pairs import Duo, with_token
from tests.helpers.servers import ReferenceServer, TesseraServer

P1 = 'path "secret/p1/*" { capabilities = ["read"] }'
CREATOR = 'path "auth/token/create*" { capabilities = ["create", "update"] }'


@pytest.fixture
def duo(reference: ReferenceServer, tessera: TesseraServer) -> Duo:
    d = Duo(reference, tessera)
    for name, rules in (("x", P1), ("creator", CREATOR)):
        d.policy(name, rules)
    return d


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"policies": ["default", "x"], "ttl": "15m"}, "auth/token/create"),
        ({"policies": ["default", "x"], "ttl": "15m", "no_parent": True}, "auth/token/create"),
        ({"policies": ["x"], "ttl": "15m"}, "auth/token/create-orphan"),
        (
            {"policies": ["default", "x"], "ttl": "15m", "meta": {"team": "ci", "job": "4242"}},
            "auth/token/create",
        ),
    ],
)
def test_batch_token_no_longer_than_the_reference(duo: Duo, body: dict, path: str) -> None:
    ref, tes = duo.create({"type": "batch", **body}, path=path)
    assert len(tes) <= len(ref), (len(tes), len(ref))


def test_batch_token_of_a_service_parent_no_longer_than_the_reference(duo: Duo) -> None:
    parent = duo.create({"policies": ["creator", "x"], "ttl": "1h"})
    ref, tes = duo.create({"type": "batch", "policies": ["x"], "ttl": "15m"}, token=parent)
    assert len(tes) <= len(ref), (len(tes), len(ref))


def test_approle_batch_login_no_longer_than_the_reference(duo: Duo) -> None:
    mount = duo.unique("ar")
    duo.ok("POST", f"sys/auth/{mount}", json={"type": "approle"})
    duo.ok(
        "POST",
        f"auth/{mount}/role/ci",
        json={"token_type": "batch", "token_policies": ["x"], "token_ttl": "15m"},
    )
    role_ids = duo.ok("GET", f"auth/{mount}/role/ci/role-id", 200)
    secret_ids = duo.ok("POST", f"auth/{mount}/role/ci/secret-id", 200)

    def creds(i: int) -> dict:
        return {"role_id": role_ids[i]["data"]["role_id"], "secret_id": secret_ids[i]["data"]["secret_id"]}

    ref, tes = duo.ok("POST", f"auth/{mount}/login", 200, token=None, json=creds)
    ref_token, tes_token = ref["auth"]["client_token"], tes["auth"]["client_token"]
    assert len(tes_token) <= len(ref_token), (len(tes_token), len(ref_token))


def test_batch_behaviour_still_matches_beside_a_deny_list_and_a_cut(duo: Duo) -> None:
    """Other tokens' deny-list entries and another issuer's cut change nothing visible."""
    revoked = duo.create({"type": "batch", "policies": ["x"], "ttl": "15m"})
    status, _ = duo.tes.call("POST", "auth/token/revoke-batch", json={"token": revoked[1]})[:2]
    assert status == 204
    status = duo.tes.call("POST", f"sys/token-issuers/auth/token/create/{duo.unique('cut')}/bump")[0]
    assert status == 200  # an issuer of its own: the session's shared server serves other tests
    b = duo.create({"type": "batch", "policies": ["x"], "ttl": "20m"})
    duo.same("POST", "auth/token/lookup", json=with_token("token", b))
    duo.same("GET", "auth/token/lookup-self", token=b)
    duo.same("POST", "auth/token/revoke", json=with_token("token", b))
    duo.same("POST", "auth/token/renew-self", token=b)
    duo.same("GET", "cubbyhole/x", token=b)
