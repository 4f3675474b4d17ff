"""The login tail's remembered steps answer exactly as the steps they stand for, every time."""

from __future__ import annotations

import pytest

from tessera.framework import ErrorResponse
from tessera.tokens.issue import _login_policies, _login_ttl, login_policies, login_ttl
from tessera.tokens.policies import SANITIZED_MEMO_LIST, remove_duplicates, sanitize_policies
from tessera.tokens.ttl import TTLError, calculate_ttl

POLICY_CASES = [
    ([], True, []),
    (["b", " A ", "a"], True, []),
    (["default", "x"], False, ["grp", "x", "GRP"]),
    (["x"], False, []),
    ([f"p{i}" for i in range(SANITIZED_MEMO_LIST + 3)], True, ["g"]),  # too long to remember
    (["x"], True, [f"g{i}" for i in range(SANITIZED_MEMO_LIST + 1)]),
]


def _generic(policies: list[str], add_default: bool, ident: list[str]) -> tuple[list[str], ...]:
    token = sanitize_policies(policies, add_default)
    combined = sanitize_policies(token + ident, False)
    return token, combined, remove_duplicates(ident)


@pytest.mark.parametrize("policies, add_default, ident", POLICY_CASES)
def test_login_policies_are_the_generic_steps(
    policies: list[str], add_default: bool, ident: list[str]
) -> None:
    for _ in range(2):  # computed, then remembered
        got = login_policies(policies, add_default, ident)
        assert got == _generic(policies, add_default, ident)
        again = login_policies(policies, add_default, ident)
        assert all(a is not b for a, b in zip(got, again, strict=True))  # each caller its own lists


@pytest.mark.parametrize(
    "policies, ident, message",
    [
        (["root"], [], "auth methods cannot create root tokens"),
        (["a"], ["root"], "auth methods cannot create root tokens"),
        (["response-wrapping"], [], 'cannot assign policy "response-wrapping"'),
        (["a"], ["Response-Wrapping"], 'cannot assign policy "response-wrapping"'),
    ],
)
def test_login_policies_refuse_every_time(policies: list[str], ident: list[str], message: str) -> None:
    for _ in range(3):
        with pytest.raises(ErrorResponse, match=message):
            login_policies(policies, True, ident)


def test_login_policies_of_unhashable_items_go_the_generic_way() -> None:
    with pytest.raises(AttributeError):
        login_policies([["a"]], True, [])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "args",
    [
        (3600, 7200, 0, 0, 0, 0),
        (3600, 7200, 60, 0, 0, 0),
        (3600, 7200, 9000, 0, 0, 0),  # capped, with a warning
        (3600, 7200, 0, 600, 0, 0),  # periodic
        (3600, 7200, 0, 9000, 0, 0),  # period capped
        (3600, 7200, 0, 0, 100, 0),
        (3600, 7200, 0, 0, 0, 50),
        (3600, 7200, 0, 600, 0, 300),
    ],
)
def test_login_ttl_is_calculate_ttl_for_a_token_issued_now(args: tuple[int, ...]) -> None:
    default_ttl, max_ttl, ttl, period, backend_max, explicit = args
    want, warnings = calculate_ttl(
        default_ttl=default_ttl,
        max_ttl=max_ttl,
        backend_ttl=ttl,
        period=period,
        backend_max_ttl=backend_max,
        explicit_max_ttl=explicit,
    )
    for _ in range(2):
        assert login_ttl(*args) == (want, tuple(warnings))


def test_login_ttl_refuses_every_time_and_keeps_types_apart() -> None:
    for _ in range(2):
        with pytest.raises(TTLError, match="max TTL must be greater than zero"):
            login_ttl(0, 0, 0, 0, 0, 0)
    assert type(login_ttl(3600, 7200, 60, 0, 0, 0)[0]) is int
    assert type(login_ttl(3600, 7200, 60.0, 0, 0, 0)[0]) is float  # type: ignore[arg-type]


def test_the_memos_are_bounded() -> None:
    assert _login_ttl.cache_info().maxsize == _login_policies.cache_info().maxsize == 1024
