"""Claim reading and matching of the jwt auth method (the parts with no server in the loop)."""

from __future__ import annotations

import pytest

from tessera.auth.jwt.claims import (
    check_bound_claims,
    get_claim,
    group_names,
    mapped_metadata,
    present,
    user_alias,
)
from tessera.auth.jwt.login import same_origin, time_window
from tessera.framework import ErrorResponse

CLAIMS = {
    "sub": "repo:acme/app",
    "ref": "refs/heads/main",
    "n": 5,
    "deep": {"a/b": {"c": "x"}},
    "teams": ["a", "b"],
}


def test_json_pointer_reaches_nested_and_escaped_keys() -> None:
    assert get_claim(CLAIMS, "/deep/a~1b/c") == "x"
    assert get_claim(CLAIMS, "/teams/1") == "b"
    assert not present(get_claim(CLAIMS, "/deep/missing"))
    assert not present(get_claim(CLAIMS, "missing"))


@pytest.mark.parametrize(
    "bound,glob,ok",
    [
        ({"ref": "refs/heads/*"}, True, True),
        ({"ref": "refs/heads/*"}, False, False),  # a star is literal for string matching
        ({"ref": ["refs/tags/*", "refs/heads/m?in"]}, True, False),  # only * is special
        ({"sub": "repo:acme/*"}, True, True),
        ({"n": 5}, False, True),
        ({"n": "5"}, False, False),  # types must agree
        ({"teams": "b"}, False, True),  # any element of a list claim
    ],
)
def test_bound_claims(bound: dict, glob: bool, ok: bool) -> None:
    if ok:
        check_bound_claims(CLAIMS, bound, glob)
    else:
        with pytest.raises(ErrorResponse, match="does not match"):
            check_bound_claims(CLAIMS, bound, glob)


def test_missing_bound_claim_and_names() -> None:
    with pytest.raises(ErrorResponse, match='claim "env" is missing'):
        check_bound_claims(CLAIMS, {"env": "prod"}, False)
    assert user_alias(CLAIMS, "sub") == "repo:acme/app"
    with pytest.raises(ErrorResponse, match="could not be converted to string"):
        user_alias(CLAIMS, "n")
    assert mapped_metadata(CLAIMS, {"ref": "git_ref", "missing": "m"}) == {"git_ref": "refs/heads/main"}
    with pytest.raises(ErrorResponse, match="error converting claim 'n' to string"):
        mapped_metadata(CLAIMS, {"n": "number"})
    assert group_names(CLAIMS, "teams") == ["a", "b"]
    assert group_names({"g": "solo"}, "g") == ["solo"]
    with pytest.raises(ErrorResponse, match="value 5 in groups claim"):
        group_names({"g": ["a", 5]}, "g")


@pytest.mark.parametrize(
    "claims,leeway,error",
    [
        ({"exp": 1000}, 0, None),
        ({"exp": 999}, 0, "token is expired"),
        ({"exp": 940}, 60, None),
        ({"exp": 939}, 60, "token is expired"),
        ({"nbf": 1060}, 60, None),
        ({"nbf": 1061}, 60, "token not yet valid"),
        ({"iat": 1061}, 60, "token not yet valid"),  # iat stands in for a missing nbf
        ({"iat": 2000, "nbf": 1000}, 0, None),
        ({}, 0, None),
    ],
)
def test_times_with_leeway(claims: dict, leeway: int, error: str | None) -> None:
    times = (claims.get("exp"), claims.get("nbf"), claims.get("iat"))
    if error is None:
        time_window(*times, leeway, now=1000)
    else:
        with pytest.raises(ErrorResponse, match=error):
            time_window(*times, leeway, now=1000)


def test_same_origin_treats_loopback_names_alike() -> None:
    assert same_origin("https://localhost:8200/v1/x", "https://127.0.0.1:8200")
    assert not same_origin("https://127.0.0.1:8201/v1/x", "https://127.0.0.1:8200")
    assert not same_origin("http://127.0.0.1:8200/v1/x", "https://127.0.0.1:8200")
    assert not same_origin("https://example.com:8200/v1/x", "https://127.0.0.1:8200")
