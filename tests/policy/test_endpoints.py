"""sys/policies/acl, sys/policy and sys/capabilities* through a real in-process Core.

Rendering (204 for an empty answer, the injected top-level copy) belongs to the HTTP layer;
these tests pin what the handlers return and the errors they raise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tessera.core.core import Core
from tessera.framework import (
    ErrorResponse,
    InternalError,
    InvalidRequest,
    Operation,
    PermissionDenied,
    Request,
)
from tessera.storage.inmem import InmemPhysical
from tessera.system import capabilities, policies
from tessera.tokens.entry import TokenEntry

READ_A = 'path "a" { capabilities = ["read"] }'
ROOT: list[str] = []  # the module's core's root token


@pytest.fixture(scope="module")
def core() -> Iterator[Core]:
    core = Core(InmemPhysical())
    result = core.initialize(1, 1)
    core.unseal(result["keys"][0])
    ROOT[:] = [result["root_token"]]  # not on the Core: a compiled Core takes no new attributes
    try:
        yield core
    finally:
        core.seal()
        core.shutdown()


def call(
    core: Core, op: Operation, path: str, data: dict[str, Any] | None = None, token: str | None = None
) -> Any:
    return core.handle_request(Request(op, path, data or {}, client_token=token or ROOT[0]))


def token_with(core: Core, *names: str) -> TokenEntry:
    return core.tokens.create(TokenEntry(policies=list(names), path="auth/token/create"))


def test_injected_paths_are_declared() -> None:
    assert policies.INJECTED_PATHS == ("sys/policy", "sys/policy/*")
    assert "sys/capabilities-self" in capabilities.INJECTED_PATHS


def test_write_read_list_delete(core: Core) -> None:
    assert call(core, Operation.UPDATE, "sys/policies/acl/Ep1", {"policy": READ_A, "bogus": 1}) is None
    data = call(core, Operation.READ, "sys/policies/acl/ep1").data
    assert data == {"name": "ep1", "policy": READ_A}, "Vault's shape (hvac's tests compare it exactly)"
    stored = core.policy_store.get("ep1")
    assert (stored.version, stored.cas_required) == (1, False)
    legacy = call(core, Operation.READ, "sys/policy/ep1").data
    assert legacy["rules"] == READ_A and "policy" not in legacy
    keys = call(core, Operation.LIST, "sys/policies/acl/").data["keys"]
    assert keys[-1] == "root" and "ep1" in keys and "response-wrapping" not in keys
    listed = call(core, Operation.READ, "sys/policy").data
    assert listed["keys"] == listed["policies"] == keys
    assert call(core, Operation.LIST, "sys/policies/acl/ep").data["keys"] == ["ep1"]
    assert call(core, Operation.DELETE, "sys/policies/acl/ep1") is None
    assert call(core, Operation.READ, "sys/policies/acl/ep1") is None
    assert call(core, Operation.DELETE, "sys/policies/acl/ep1") is None


def test_legacy_rules_field_warns(core: Core) -> None:
    resp = call(core, Operation.UPDATE, "sys/policy/legacy", {"rules": READ_A})
    assert resp.warnings == ["'rules' is deprecated, please use 'policy' instead"]
    assert call(core, Operation.UPDATE, "sys/policy/legacy", {"policy": READ_A, "rules": "x"}) is None


@pytest.mark.parametrize(
    ("path", "data", "message"),
    [
        ("sys/policies/acl/e1", {}, "'policy' parameter not supplied or empty"),
        ("sys/policies/acl/root", {"policy": READ_A}, 'cannot update "root" policy'),
        (
            "sys/policies/acl/response-wrapping",
            {"policy": READ_A},
            'cannot update "response-wrapping" policy',
        ),
        (
            "sys/policies/acl/e1",
            {"policy": 'path "a" { capabilities = ["fly"] }'},
            'failed to parse policy: path "a": path "a": invalid capability "fly"',
        ),
        (
            "sys/policies/acl/e1",
            {"policy": READ_A, "ttl": "1h", "expiration": "2999-01-01T00:00:00Z"},
            "cannot supply both 'expiration' and 'ttl' for policies",
        ),
        (
            "sys/policies/acl/e1",
            {"policy": READ_A, "ttl": 0},
            "refusing to update policy as expiration time has already elapsed",
        ),
        (
            "sys/policies/acl/e1",
            {"policy": READ_A, "expiration": "2001-01-01T00:00:00Z"},
            "refusing to update policy as expiration time has already elapsed",
        ),
        (
            "sys/policies/acl/e1",
            {"policy": READ_A, "expiration": "soon"},
            'Field validation failed: error converting input for field "expiration": could not parse string as date and time',
        ),
        (
            "sys/policies/acl/e1",
            {"policy": READ_A, "ttl": "-1h"},
            "Field validation failed: error converting input for field \"ttl\": cannot provide negative value '-3600'",
        ),
        (
            "sys/policies/acl/e1",
            {"policy": READ_A, "cas": 4},
            "check-and-set parameter 4 did not match the current version 0",
        ),
    ],
)
def test_write_errors(core: Core, path: str, data: dict[str, Any], message: str) -> None:
    with pytest.raises(ErrorResponse) as exc:
        call(core, Operation.UPDATE, path, data)
    assert exc.value.errors() == [message]


def test_delete_errors(core: Core) -> None:
    for name, message in [
        ("root", 'cannot delete "root" policy'),
        ("default", "cannot delete default policy"),
    ]:
        with pytest.raises(ErrorResponse) as exc:
            call(core, Operation.DELETE, f"sys/policies/acl/{name}")
        assert exc.value.errors() == [message]


def test_patch(core: Core) -> None:
    with pytest.raises(ErrorResponse, match="policy not found"):
        call(core, Operation.PATCH, "sys/policies/acl/nope", {"cas_required": True})
    with pytest.raises(ErrorResponse, match="'policy' parameter not supplied or empty"):
        call(core, Operation.PATCH, "sys/policies/acl/root", {"cas_required": True})
    call(core, Operation.UPDATE, "sys/policies/acl/pt", {"policy": READ_A})
    resp = call(core, Operation.PATCH, "sys/policies/acl/PT", {"cas_required": True, "ttl": "2h"})
    assert resp.status == 200 and resp.data is None
    stored = core.policy_store.get("pt")
    assert (stored.version, stored.cas_required, stored.raw) == (2, True, READ_A)
    assert stored.expiration.endswith("Z")
    with pytest.raises(ErrorResponse, match="check-and-set parameter 1 did not match the current version 2"):
        call(core, Operation.PATCH, "sys/policies/acl/pt", {"cas": 1})


def test_policies_drive_the_pipeline(core: Core) -> None:
    call(
        core,
        Operation.UPDATE,
        "sys/policies/acl/pipe",
        {"policy": 'path "sys/policies/acl/*" { capabilities = ["read"] }'},
    )
    entry = token_with(core, "pipe")
    assert call(core, Operation.READ, "sys/policies/acl/pipe", token=entry.id).data["name"] == "pipe"
    with pytest.raises(PermissionDenied):
        call(core, Operation.DELETE, "sys/policies/acl/pipe", token=entry.id)
    call(
        core,
        Operation.UPDATE,
        "sys/policies/acl/pipe",
        {"policy": 'path "sys/policies/acl/*" { capabilities = ["delete"] }'},
    )
    with pytest.raises(PermissionDenied):  # rule changes apply to existing tokens at once
        call(core, Operation.READ, "sys/policies/acl/pipe", token=entry.id)


def test_capabilities_endpoints(core: Core) -> None:
    call(
        core,
        Operation.UPDATE,
        "sys/policies/acl/capa",
        {"policy": 'path "secret/*" { capabilities = ["read", "list"] }'},
    )
    entry = token_with(core, "capa", "default")
    one = call(core, Operation.UPDATE, "sys/capabilities", {"token": entry.id, "paths": ["secret/x"]}).data
    assert one == {"secret/x": ["list", "read"], "capabilities": ["list", "read"]}
    two = call(
        core,
        Operation.UPDATE,
        "sys/capabilities-accessor",
        {"accessor": entry.accessor, "paths": "secret/x,other"},
    ).data
    assert two == {"secret/x": ["list", "read"], "other": ["deny"]}
    own = call(
        core,
        Operation.UPDATE,
        "sys/capabilities-self",
        {"path": ["secret/y"], "token": "ignored"},
        token=entry.id,
    ).data
    assert own == {"secret/y": ["list", "read"], "capabilities": ["list", "read"]}
    root = call(core, Operation.UPDATE, "sys/capabilities-self", {"paths": ["a", "a"]}).data
    assert root == {"a": ["root"]}


@pytest.mark.parametrize(
    ("path", "data", "error", "message"),
    [
        ("sys/capabilities", {"paths": ["a"]}, InternalError, "1 error occurred:\n\t* no token found\n\n"),
        (
            "sys/capabilities",
            {"token": 5, "paths": ["a"]},
            InternalError,
            "1 error occurred:\n\t* no token found\n\n",
        ),
        ("sys/capabilities", {"token": "nope"}, ErrorResponse, "paths must be supplied"),
        (
            "sys/capabilities",
            {"token": "nope", "paths": ["a"]},
            InvalidRequest,
            "1 error occurred:\n\t* invalid token\n\n",
        ),
        (
            "sys/capabilities",
            {"token": "nope", "paths": ["", "a"]},
            InvalidRequest,
            "1 error occurred:\n\t* missing path\n\n",
        ),
        ("sys/capabilities-self", {"paths": []}, ErrorResponse, "paths must be supplied"),
        ("sys/capabilities-accessor", {"paths": ["a"]}, ErrorResponse, "missing accessor"),
        (
            "sys/capabilities-accessor",
            {"accessor": "nope"},
            InvalidRequest,
            "1 error occurred:\n\t* invalid accessor\n\n",
        ),
    ],
)
def test_capabilities_errors(core: Core, path: str, data: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error) as exc:
        call(core, Operation.UPDATE, path, data)
    assert exc.value.errors() == [message]
