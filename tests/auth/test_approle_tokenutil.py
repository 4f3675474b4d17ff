"""The shared token fields: parsing, Vault's refusals and the Auth they produce."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.auth.tokenutil import (
    TokenParams,
    cidrs_subset,
    equivalent_policies,
    invalid_cidr,
    parse_addrs,
    parse_policies,
    token_fields,
)
from tessera.framework import Auth, ErrorResponse, FieldData, Operation, Request


def _parse(**raw: Any) -> TokenParams:
    params = TokenParams()
    params.parse_token_fields(FieldData(raw, token_fields()))
    return params


def test_fields_become_auth() -> None:
    params = _parse(
        token_policies="b,a",
        token_ttl="1h",
        token_max_ttl="2h",
        token_type="batch",
        token_bound_cidrs="10.0.0.0/8,127.0.0.1/32",
        token_no_default_policy=True,
        token_explicit_max_ttl=7200,
    )
    auth = Auth()
    params.populate_token_auth(auth, Request(operation=Operation.UPDATE, path="login"))
    assert auth.policies == ["b", "a"] and auth.ttl == 3600 and auth.max_ttl == 7200
    assert auth.token_type == "batch" and auth.no_default_policy and auth.explicit_max_ttl == 7200
    assert auth.bound_cidrs == ["10.0.0.0/8", "127.0.0.1"]


def test_strictly_bind_ip_uses_the_caller() -> None:
    auth = Auth()
    _parse(token_strictly_bind_ip=True).populate_token_auth(
        auth, Request(operation=Operation.UPDATE, path="login", remote_addr="10.9.8.7")
    )
    assert auth.bound_cidrs == ["10.9.8.7"]


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"token_ttl": 7200, "token_max_ttl": 3600}, "'token_ttl' cannot be greater than 'token_max_ttl'"),
        (
            {"token_type": "batch", "token_period": 60},
            "'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens",
        ),
        (
            {"token_type": "batch", "token_num_uses": 2},
            "'token_type' cannot be 'batch' or 'default_batch' when set to generate tokens with limited use count",
        ),
        ({"token_type": "default-service"}, "invalid 'token_type' value \"default-service\""),
        ({"token_num_uses": -2}, "'token_num_uses' cannot be negative"),
        (
            {"token_bound_cidrs": "nope"},
            'error parsing address "nope": Unable to convert "nope" to an IPv4 or IPv6 address, or a UNIX Socket',
        ),
    ],
)
def test_refusals(raw: dict[str, Any], error: str) -> None:
    with pytest.raises(ErrorResponse) as exc:
        _parse(**raw)
    assert exc.value.message == error


def test_cidr_helpers() -> None:
    assert parse_addrs(["127.0.0.1/32", "10.1.2.3/8", "::1/128"]) == ["127.0.0.1", "10.1.2.3/8", "::1"]
    assert invalid_cidr(["10.0.0.0/8", "127.0.0.1"]) == "127.0.0.1"
    assert invalid_cidr(["10.0.0.0/8"]) is None
    assert cidrs_subset(["10.0.0.0/8"], ["10.1.0.0/16"])
    assert not cidrs_subset(["10.0.0.0/8"], ["192.168.0.0/16"])


def test_policy_helpers() -> None:
    assert parse_policies(["z", "Y", "z", " Default "]) == ["default", "y", "z"]
    assert equivalent_policies(["default", "a"], ["a"])
    assert not equivalent_policies(["a"], ["b"])


@pytest.mark.parametrize(
    "raw, cidrs",
    [
        ({}, None),
        ({"token_policies": "b,a", "token_ttl": "1h", "token_max_ttl": "2h", "token_num_uses": 3}, None),
        ({"token_type": "batch", "token_no_default_policy": True}, None),
        ({"token_period": "5m", "token_explicit_max_ttl": "1h", "token_bound_cidrs": "10.0.0.0/8"}, None),
        ({"token_bound_cidrs": "10.0.0.0/8"}, ["192.168.0.1"]),
        ({"token_strictly_bind_ip": True}, None),
        ({"token_strictly_bind_ip": True}, ["10.1.2.3"]),
    ],
)
def test_token_auth_is_auth_then_populate_token_auth(raw: dict[str, Any], cidrs: list[str] | None) -> None:
    """``token_auth`` (one call, for logins) gives what the two-step way gives."""
    params = _parse(**raw)
    req = Request(operation=Operation.UPDATE, path="login", remote_addr="10.9.8.7")
    meta, internal = {"role_name": "r"}, {"role_name": "r"}
    slow = Auth(metadata=meta, internal_data=internal, alias_name="alias", orphan=True)
    params.populate_token_auth(slow, req)
    if cidrs is not None:
        slow.bound_cidrs = list(cidrs)
    if params.token_strictly_bind_ip:
        slow.bound_cidrs = parse_addrs([req.remote_addr])
    fast = params.token_auth(
        req, metadata=meta, internal_data=internal, alias_name="alias", bound_cidrs=cidrs
    )
    assert fast == slow
    assert fast.policies is not params.token_policies and fast.token_policies is not fast.policies
    assert fast.bound_cidrs is not params.token_bound_cidrs
