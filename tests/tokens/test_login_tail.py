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
    # AttributeError from the generic path; compiled (setup.py), the list is refused where a
    # str is declared (TypeError): either way never an answer from the memo.
    with pytest.raises((AttributeError, TypeError)):
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
    try:
        answered = login_ttl(3600, 7200, 60.0, 0, 0, 0)  # type: ignore[arg-type]
    except TypeError:  # compiled (setup.py): a float is refused where an int is declared
        return
    assert type(answered[0]) is float


def test_the_memos_are_bounded() -> None:
    assert _login_ttl.cache_info().maxsize == _login_policies.cache_info().maxsize == 1024


@pytest.mark.parametrize("token_type", ["batch", "service"])
@pytest.mark.parametrize("renewable", [True, False])
def test_login_entry_is_the_keyword_built_entry(token_type: str, renewable: bool) -> None:
    """``_login_entry`` sets its fields one by one: the entry is the one the constructor gives."""
    from tessera.framework import Auth, Operation, Request
    from tessera.routing.mounts import MountEntry
    from tessera.tokens.entry import BATCH, TokenEntry
    from tessera.tokens.issue import _login_entry, login_issuer

    mount = MountEntry.new("auth", "approle/", "approle")
    req = Request(operation=Operation.UPDATE, path="login", full_path="auth/approle/login")
    auth = Auth(
        policies=["a"],
        metadata={"role_name": "ci"},
        display_name="approle",
        ttl=60,
        max_ttl=120,
        explicit_max_ttl=90,
        period=30,
        num_uses=4,
        renewable=renewable,
        entity_id="ent",
        token_type=token_type,
        bound_cidrs=["10.0.0.0/8"],
        internal_data={"role_name": "ci"},
    )
    policies = ["a", "default"]
    batch = token_type == BATCH
    got = _login_entry(req, mount, auth, 60, policies, batch)
    want = TokenEntry(
        path=req.full_path,
        meta=auth.metadata,
        display_name=auth.display_name,
        creation_time=got.creation_time,
        ttl=60,
        num_uses=0 if batch else auth.num_uses,
        entity_id=auth.entity_id,
        bound_cidrs=list(auth.bound_cidrs),
        policies=policies,
        explicit_max_ttl=0 if batch else auth.explicit_max_ttl,
        period=0 if batch else auth.period,
        type=auth.token_type,
        renewable=auth.renewable and not batch,
        max_ttl=auth.max_ttl,
        auth_internal_data=dict(auth.internal_data),
        issuer=login_issuer(mount, req.full_path, auth.internal_data),
    )
    assert got == want and vars(got) == vars(want)
    assert got.policies is policies and got.bound_cidrs is not auth.bound_cidrs
    assert got.auth_internal_data is not auth.internal_data and got.meta is auth.metadata
