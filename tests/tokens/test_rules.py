"""The pure rules of the token system: TTL arithmetic, policy resolution, globs and roles."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.framework import ErrorResponse, FieldData, Operation
from tessera.gocompat.durations import human_duration
from tessera.tokens.entry import TokenEntry
from tessera.tokens.policies import (
    SANITIZED_MEMO_LIST,
    _deduplicated,
    _remove_duplicates,
    _sanitize,
    _sanitized,
    glob_match,
    remove_duplicates,
    resolve_token_policies,
    sanitize_policies,
)
from tessera.tokens.roles import Role, apply_role_update, parse_cidrs
from tessera.tokens.ttl import TTLError, calculate_ttl

H = 3600
SYS = {"default_ttl": 768 * H, "max_ttl": 768 * H}


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (2764800, "768h"), (5400, "1h30m"), (3630, "1h30s"), (59, "59s"), (61, "1m1s"), (7200, "2h")],
)
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_ttl_defaults_and_caps() -> None:
    assert calculate_ttl(**SYS, now=1000) == (768 * H, [])
    ttl, warnings = calculate_ttl(**SYS, backend_ttl=90000 * H, now=1000)
    assert ttl == 768 * H
    assert warnings == [
        'TTL of "90000h" exceeded the effective max_ttl of "768h"; TTL value is capped accordingly'
    ]
    ttl, warnings = calculate_ttl(**SYS, backend_ttl=2 * H, explicit_max_ttl=H, now=1000)
    assert (ttl, len(warnings)) == (H, 1)


def test_period_rules() -> None:
    ttl, warnings = calculate_ttl(**SYS, period=1000 * H, now=1000)
    assert ttl == 768 * H
    assert warnings == [
        'period of "1000h" exceeded the effective max_ttl of "768h"; period value is capped accordingly'
    ]
    # a period ignores the increment and the explicit max only bounds it from the start time
    assert calculate_ttl(**SYS, period=1800, increment=10 * H, now=1000)[0] == 1800
    ttl, _ = calculate_ttl(**SYS, period=1800, explicit_max_ttl=2000, start=1000, now=2000)
    assert ttl == 1000


def test_renewal_past_max_refused() -> None:
    with pytest.raises(TTLError, match="past the max TTL, cannot renew"):
        calculate_ttl(**SYS, explicit_max_ttl=60, start=1000, now=1060)
    # renewals count from the issue time, not from now
    assert calculate_ttl(**SYS, increment=600, explicit_max_ttl=900, start=1000, now=1500)[0] == 400


@settings(deadline=None)
@given(
    default=st.integers(1, 10**7),
    maximum=st.integers(1, 10**7),
    increment=st.integers(0, 10**7),
    backend=st.integers(0, 10**7),
    explicit=st.integers(0, 10**7),
)
def test_ttl_never_exceeds_the_effective_max(
    default: int, maximum: int, increment: int, backend: int, explicit: int
) -> None:
    ttl, _ = calculate_ttl(
        default_ttl=min(default, maximum),
        max_ttl=maximum,
        increment=increment,
        backend_ttl=backend,
        explicit_max_ttl=explicit,
        now=10**9,
    )
    limit = min(maximum, explicit) if explicit else maximum
    assert 0 < ttl <= limit


@pytest.mark.parametrize(
    ("pattern", "subject", "ok"),
    [
        ("app-*", "app-x", True),
        ("app-*", "xapp-x", False),
        ("*-prod", "db-prod", True),
        ("a*b*c", "aXXbYYc", True),
        ("a*b*c", "aXXcYYb", False),
        ("*", "", True),
        ("", "", True),
        ("exact", "exact", True),
        ("exact", "exactly", False),
    ],
)
def test_glob(pattern: str, subject: str, ok: bool) -> None:
    assert glob_match(pattern, subject) is ok


def test_sanitize_policies() -> None:
    assert sanitize_policies(["P1", " p2 ", "p1", ""], True) == ["default", "p1", "p2"]
    assert sanitize_policies(["root", "p1"], True) == ["root"]
    assert sanitize_policies([], False) == []
    assert sanitize_policies(["p1,p2"], False) == ["p1,p2"]


def _parent(*policies: str) -> TokenEntry:
    return TokenEntry(policies=list(policies))


def test_policy_resolution_without_role() -> None:
    parent = _parent("creator", "default", "p1")
    kw = {"no_default_policy": False, "role": None}
    assert resolve_token_policies([], parent=parent, is_sudo=False, **kw) == ["creator", "default", "p1"]
    assert resolve_token_policies(["p1"], parent=parent, is_sudo=False, **kw) == ["default", "p1"]
    assert resolve_token_policies(["default"], parent=parent, is_sudo=False, **kw) == ["default"]
    with pytest.raises(ErrorResponse, match="child policies must be subset of parent"):
        resolve_token_policies(["p2"], parent=parent, is_sudo=False, **kw)
    assert resolve_token_policies(["p2"], parent=parent, is_sudo=True, **kw) == ["default", "p2"]
    assert resolve_token_policies(
        ["p1"], parent=parent, is_sudo=False, no_default_policy=True, role=None
    ) == ["p1"]
    with pytest.raises(ErrorResponse, match='cannot assign policy "response-wrapping"'):
        resolve_token_policies(["response-wrapping"], parent=parent, is_sudo=True, **kw)
    # a parent without "default" does not hand it down
    assert resolve_token_policies(["p1"], parent=_parent("p1", "p2"), is_sudo=False, **kw) == ["p1"]


def test_policy_resolution_with_role() -> None:
    role = Role(
        name="r1",
        allowed_policies=["p1", "p2"],
        allowed_policies_glob=["app-*"],
        disallowed_policies=["p3"],
    )
    parent = _parent("creator")
    kw = {"no_default_policy": False, "role": role, "is_sudo": False}
    assert resolve_token_policies([], parent=parent, **kw) == ["default", "p1", "p2"]
    assert resolve_token_policies(["app-x"], parent=parent, **kw) == ["app-x", "default"]
    with pytest.raises(ErrorResponse) as exc:
        resolve_token_policies(["p3"], parent=parent, **kw)
    assert exc.value.message == (
        'token policies (["default" "p3"]) must be subset of the role\'s allowed policies '
        '(["default" "p1" "p2"]) or glob policies (["app-*"])'
    )
    deny_only = Role(name="d", disallowed_policies=["p2", "default"])
    assert resolve_token_policies([], parent=_parent("p1"), **{**kw, "role": deny_only}) == ["p1"]
    # the parent's "default" is copied, then refused like any disallowed policy (as Vault does)
    with pytest.raises(ErrorResponse, match='token policy "default" is disallowed by this role'):
        resolve_token_policies([], parent=_parent("p1", "default"), **{**kw, "role": deny_only})
    with pytest.raises(ErrorResponse, match='token policy "p2" is disallowed by this role'):
        resolve_token_policies(["p2"], parent=parent, **{**kw, "role": deny_only})


def _role_update(role: Role, raw: dict, op: Operation = Operation.UPDATE) -> list[str]:
    from tessera.auth.token_create import ROLE_FIELDS

    return apply_role_update(role, FieldData(raw, ROLE_FIELDS), op, 768 * H)


def test_role_update_semantics() -> None:
    role = Role(name="r")
    assert _role_update(role, {}, Operation.CREATE) == []
    assert role.renewable is True and role.token_type == "default-service"
    _role_update(role, {"orphan": True})
    _role_update(role, {"allowed_policies": "B,a"})
    assert role.orphan is True and role.allowed_policies == ["a", "b"]
    warnings = _role_update(role, {"period": "1h", "token_period": "2h"})
    assert role.token_period == 7200 and role.period == 0 and len(warnings) == 1
    warnings = _role_update(role, {"token_explicit_max_ttl": "10000h"})
    assert warnings == [
        "Given explicit max TTL of 36000000 is greater than system/mount allowed value of 2764800 seconds; "
        "until this is fixed attempting to create tokens against this role will result in an error"
    ]
    with pytest.raises(ErrorResponse, match="non-orphan"):
        _role_update(Role(name="b"), {"token_type": "batch"}, Operation.CREATE)
    with pytest.raises(ErrorResponse, match="renewable"):
        _role_update(Role(name="b"), {"token_type": "batch", "orphan": True}, Operation.CREATE)
    with pytest.raises(ErrorResponse, match="limited use count"):
        _role_update(Role(name="b", token_type="default-batch"), {"token_num_uses": 2})


def test_parse_cidrs() -> None:
    assert parse_cidrs(["127.0.0.1/32", "10.0.0.0/8", " ::1/128 ", "10.1.2.3/8"]) == [
        "127.0.0.1",
        "10.0.0.0/8",
        "::1",
        "10.1.2.3/8",
    ]
    with pytest.raises(ValueError, match='Unable to convert "abc"'):
        parse_cidrs(["abc"])


def test_sanitize_policies_memo_gives_each_caller_its_own_list() -> None:
    first = sanitize_policies(["B", "a"], True)
    first.append("mutated")
    assert sanitize_policies(["B", "a"], True) == ["a", "b", "default"]
    assert sanitize_policies(["B", "a"], False) == ["a", "b"]  # add_default is part of the key


def test_sanitize_policies_memo_agrees_with_a_fresh_computation() -> None:
    cases: list[list[str]] = [
        [],
        ["root", "x"],
        [" Default "],
        ["p"] * 3,
        [f"p{i}" for i in range(40)],
        ["a", ""],
    ]
    for policies in cases:
        for add_default in (True, False):
            assert sanitize_policies(policies, add_default) == _sanitize(policies, add_default)
            assert sanitize_policies(policies, add_default) == _sanitize(policies, add_default)
    long = [f"p{i}" for i in range(SANITIZED_MEMO_LIST + 1)]
    before = _sanitized.cache_info().currsize
    sanitize_policies(long, False)
    assert _sanitized.cache_info().currsize == before  # long lists are not remembered


def test_remove_duplicates_memo_gives_each_caller_its_own_list() -> None:
    first = remove_duplicates(["B", " a", "b"])
    first.append("mutated")
    assert remove_duplicates(["B", " a", "b"]) == ["a", "b"]
    assert remove_duplicates(["B", " a", "b"], lowercase=False) == ["B", "a", "b"]  # part of the key
    assert remove_duplicates(iter(["x", "x "])) == ["x"]  # any iterable, as before


def test_remove_duplicates_memo_agrees_with_a_fresh_computation() -> None:
    cases: list[list[str]] = [[], ["", " "], ["Default", "default"], [f"p{i}" for i in range(40)]]
    for items in cases:
        for lowercase in (True, False):
            assert remove_duplicates(items, lowercase) == _remove_duplicates(items, lowercase)
    long = [f"q{i}" for i in range(SANITIZED_MEMO_LIST + 1)]
    before = _deduplicated.cache_info().currsize
    remove_duplicates(long)
    assert _deduplicated.cache_info().currsize == before  # long lists are not remembered
    with pytest.raises((AttributeError, TypeError)):  # TypeError when compiled (setup.py)
        remove_duplicates([["unhashable"]])  # type: ignore[list-item]
