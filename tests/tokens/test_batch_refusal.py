"""Refusing batch tokens that still decrypt: the deny-list (revoke-batch) and issuer epochs."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest

from tessera.framework import CodedError, ErrorResponse, Operation
from tessera.framework.errors import PermissionDenied
from tests.tokens.conftest import CoreHarness


def _tag(token: str) -> bytes:
    """The token's AES-GCM tag: how the deny-list names a token revoked by value."""
    body = token.split(".", 1)[1]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))[-16:]


def _batch(h: CoreHarness, **data: object) -> str:
    return h.create(type="batch", policies=["default"], ttl="15m", **data)


def _lookup_error(h: CoreHarness, token: str) -> str:
    with pytest.raises(CodedError) as refused:
        h.request(Operation.UPDATE, "auth/token/lookup", data={"token": token})
    assert refused.value.status == 403
    return str(refused.value)


def _self_status(h: CoreHarness, token: str) -> Exception | None:
    try:
        h.request(Operation.READ, "auth/token/lookup-self", token=token)
    except Exception as exc:  # the token's own use: a plain permission denied
        return exc
    return None


def test_revoke_batch_refuses_only_that_token_and_lookup_says_why(harness: CoreHarness) -> None:
    leaked, other = _batch(harness), _batch(harness)
    assert _self_status(harness, leaked) is None
    assert harness.request(Operation.UPDATE, "auth/token/revoke-batch", data={"token": leaked}) is None
    denied = _self_status(harness, leaked)
    assert isinstance(denied, PermissionDenied) and str(denied) == "permission denied"
    assert _self_status(harness, other) is None
    assert _lookup_error(harness, leaked) == "bad token: batch token refused (revoked)"
    assert _lookup_error(harness, "hvb.AAAA") == "bad token"  # no reason for what never decrypted
    entry_expiry = harness.store.denylist._tags[_tag(leaked)]
    assert abs(entry_expiry - (time.time() + 900)) < 5  # kept as long as the token would live


@pytest.mark.parametrize("by", ["token", "token_sha256"])
def test_the_other_prefix_spelling_of_a_revoked_token_is_refused_too(harness: CoreHarness, by: str) -> None:
    leaked = _batch(harness)
    other_spelling = "b." + leaked[len("hvb.") :]
    assert _self_status(harness, other_spelling) is None  # both spellings are one token
    data = (
        {"token": leaked} if by == "token" else {"token_sha256": hashlib.sha256(leaked.encode()).hexdigest()}
    )
    harness.request(Operation.UPDATE, "auth/token/revoke-batch", data=data)
    for spelling in (leaked, other_spelling):
        assert isinstance(_self_status(harness, spelling), PermissionDenied)


def test_revoke_by_sha256_needs_no_token_in_the_request(harness: CoreHarness) -> None:
    leaked = _batch(harness)
    digest = hashlib.sha256(leaked.encode()).hexdigest()
    harness.request(Operation.UPDATE, "auth/token/revoke-batch", data={"token_sha256": digest.upper()})
    assert isinstance(_self_status(harness, leaked), PermissionDenied)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, 'exactly one of "token" or "token_sha256" is required'),
        ({"token": "x", "token_sha256": "ab" * 32}, 'exactly one of "token" or "token_sha256" is required'),
        ({"token_sha256": "zz"}, '"token_sha256" must be 64 hexadecimal digits'),
        (
            {"token": "hvs.abcdefghijklmnopqrstuvwx"},
            "not a batch token: revoke service tokens with auth/token/revoke",
        ),
        ({"token": "hvb.AAAA"}, "token to revoke not found"),
        ({"token": "hvb.%%%"}, "token to revoke not found"),
    ],
)
def test_revoke_batch_bad_input_is_a_clear_400(harness: CoreHarness, data: dict, message: str) -> None:
    with pytest.raises(ErrorResponse) as bad:
        harness.request(Operation.UPDATE, "auth/token/revoke-batch", data=data)
    assert str(bad.value) == message


def test_revoke_batch_needs_sudo(harness: CoreHarness) -> None:
    policy = 'path "auth/token/revoke-batch" { capabilities = ["update"] }'
    harness.request(Operation.UPDATE, "sys/policies/acl/rb", data={"policy": policy})
    caller = harness.create(policies=["rb"])
    leaked = _batch(harness)
    with pytest.raises(PermissionDenied):
        harness.request(Operation.UPDATE, "auth/token/revoke-batch", caller, {"token": leaked})
    assert _self_status(harness, leaked) is None


def test_the_deny_list_survives_a_reseal_and_shrinks_as_entries_expire(harness: CoreHarness) -> None:
    short = harness.create(type="batch", policies=["default"], ttl="2s")
    long_lived = _batch(harness)
    for token in (short, long_lived):
        harness.request(Operation.UPDATE, "auth/token/revoke-batch", data={"token": token})
    harness.core.seal()
    harness.core.unseal(harness.key)
    assert len(harness.store.denylist) == 2
    assert isinstance(_self_status(harness, long_lived), PermissionDenied)
    deadline = time.monotonic() + 15  # the core's own ticker prunes; wait for it, bounded
    while len(harness.store.denylist) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(harness.store.denylist) == 1
    assert harness.store.storage.list("denylist/") == [_tag(long_lived).hex()]


def test_cutting_an_issuer_refuses_what_it_minted_and_not_what_comes_after(harness: CoreHarness) -> None:
    before = [_batch(harness, no_parent=True) for _ in range(3)]
    elsewhere = harness.create(type="batch", policies=["default"], ttl="15m", path="auth/token/create-orphan")
    resp = harness.request(Operation.UPDATE, "sys/token-issuers/auth/token/create/bump")
    assert resp is not None and resp.data == {"id": "auth/token/create", "epoch": 1}
    for token in before:
        assert isinstance(_self_status(harness, token), PermissionDenied)
        assert _lookup_error(harness, token) == "bad token: batch token refused (issuer epoch)"
    assert _self_status(harness, elsewhere) is None
    after = _batch(harness, no_parent=True)
    assert _self_status(harness, after) is None
    read = harness.request(Operation.READ, "sys/token-issuers/auth/token/create")
    assert read is not None and read.data == {"id": "auth/token/create", "epoch": 1}
    listed = harness.request(Operation.LIST, "sys/token-issuers")
    assert listed is not None
    assert listed.data["key_info"]["auth/token/create"] == {"epoch": 1}
    assert listed.data["key_info"]["auth/token/create-orphan"] == {"epoch": 0}
    harness.core.seal()
    harness.core.unseal(harness.key)
    assert isinstance(_self_status(harness, before[0]), PermissionDenied)
    assert _self_status(harness, after) is None


def test_token_roles_are_issuers_of_their_own(harness: CoreHarness) -> None:
    harness.request(
        Operation.UPDATE,
        "auth/token/roles/ci",
        data={"orphan": True, "renewable": False, "token_type": "batch"},
    )
    listed = harness.request(Operation.LIST, "sys/token-issuers")
    assert listed is not None and "auth/token/create/ci" in listed.data["keys"]
    from_role = harness.create(path="auth/token/create/ci", ttl="15m", policies=["default"])
    plain = _batch(harness)
    harness.request(Operation.UPDATE, "sys/token-issuers/auth/token/create/ci/bump")
    assert isinstance(_self_status(harness, from_role), PermissionDenied)
    assert _self_status(harness, plain) is None


@pytest.mark.parametrize("issuer", ["auth/../sys", "sys/token", "auth/a//b", "auth/x y"])
def test_issuer_ids_are_checked(harness: CoreHarness, issuer: str) -> None:
    with pytest.raises(ErrorResponse) as bad:
        harness.request(Operation.UPDATE, f"sys/token-issuers/{issuer}/bump")
    assert str(bad.value) == f'invalid issuer id "{issuer}"'


def test_bump_needs_sudo_and_read_does_not(harness: CoreHarness) -> None:
    policy = 'path "sys/token-issuers/*" { capabilities = ["read", "update", "list"] }'
    harness.request(Operation.UPDATE, "sys/policies/acl/ti", data={"policy": policy})
    caller = harness.create(policies=["ti"])
    with pytest.raises(PermissionDenied):
        harness.request(Operation.UPDATE, "sys/token-issuers/auth/token/create/bump", caller)
    read = harness.request(Operation.READ, "sys/token-issuers/auth/token/create", caller)
    assert read is not None and read.data["epoch"] == 0


def _parent(h: CoreHarness) -> tuple[str, str]:
    """A service token that may mint child batch tokens: (token, its parent issuer id)."""
    policy = 'path "auth/token/create" { capabilities = ["update"] }'
    h.request(Operation.UPDATE, "sys/policies/acl/minter", data={"policy": policy})
    resp = h.request(Operation.UPDATE, "auth/token/create", data={"policies": ["minter"], "ttl": "1h"})
    assert resp is not None and resp.auth is not None
    return resp.auth.client_token, f"auth/token/parent/{resp.auth.accessor}"


def test_cutting_a_parent_refuses_its_children_only(harness: CoreHarness) -> None:
    parent, issuer = _parent(harness)
    other_parent, _ = _parent(harness)
    children = [harness.create(parent, type="batch", ttl="15m") for _ in range(2)]
    cousin = harness.create(other_parent, type="batch", ttl="15m")
    orphan = _batch(harness, no_parent=True)  # the same path (auth/token/create), another parent
    resp = harness.request(Operation.UPDATE, f"sys/token-issuers/{issuer}/bump")
    assert resp is not None and resp.data == {"id": issuer, "epoch": 1}
    for child in children:
        assert isinstance(_self_status(harness, child), PermissionDenied)
        assert _lookup_error(harness, child) == "bad token: batch token refused (issuer epoch)"
    for unaffected in (cousin, orphan, parent):
        assert _self_status(harness, unaffected) is None
    fresh = harness.create(parent, type="batch", ttl="15m")  # the parent mints again at once
    assert _self_status(harness, fresh) is None
    assert len(fresh) == len(children[0])  # the parent's epoch costs no byte in the token
    listed = harness.request(Operation.LIST, "sys/token-issuers")
    assert listed is not None and listed.data["key_info"][issuer] == {"epoch": 1}
    read = harness.request(Operation.READ, f"sys/token-issuers/{issuer}")
    assert read is not None and read.data == {"id": issuer, "epoch": 1}
    harness.request(Operation.UPDATE, f"sys/token-issuers/{issuer}/bump")
    assert isinstance(_self_status(harness, fresh), PermissionDenied)
    newest = harness.create(parent, type="batch", ttl="15m")
    harness.core.seal()
    harness.core.unseal(harness.key)
    assert isinstance(_self_status(harness, children[0]), PermissionDenied)
    assert isinstance(_self_status(harness, fresh), PermissionDenied)
    assert _self_status(harness, newest) is None and _self_status(harness, cousin) is None


def test_a_childs_path_and_parent_are_two_issuers(harness: CoreHarness) -> None:
    parent, issuer = _parent(harness)
    harness.request(Operation.UPDATE, f"sys/token-issuers/{issuer}/bump")
    child = harness.create(parent, type="batch", ttl="15m")  # minted at the parent's epoch 1
    assert _self_status(harness, child) is None
    harness.request(Operation.UPDATE, "sys/token-issuers/auth/token/create/bump")
    assert isinstance(_self_status(harness, child), PermissionDenied)  # its path was cut too
    assert _self_status(harness, harness.create(parent, type="batch", ttl="15m")) is None


def test_epochs_past_the_compact_fields_fall_back_to_json(harness: CoreHarness) -> None:
    parent, issuer = _parent(harness)
    salted = harness.store.accessor_target(issuer.rsplit("/", 1)[1])
    harness.store.issuers.bump(issuer, salted)
    harness.store.issuers._parents[salted] = 70_000  # past 16 bits: the token carries JSON
    harness.store.issuers._epochs[issuer] = 70_000
    child = harness.create(parent, type="batch", ttl="15m")
    assert _self_status(harness, child) is None
    harness.request(Operation.UPDATE, f"sys/token-issuers/{issuer}/bump")
    assert isinstance(_self_status(harness, child), PermissionDenied)


def test_a_parent_issuer_names_a_known_accessor(harness: CoreHarness) -> None:
    with pytest.raises(ErrorResponse) as bad:
        harness.request(Operation.UPDATE, "sys/token-issuers/auth/token/parent/nosuchaccessor/bump")
    assert str(bad.value) == "invalid accessor"
    listed = harness.request(Operation.LIST, "sys/token-issuers")
    assert listed is not None and not any(k.startswith("auth/token/parent/") for k in listed.data["keys"])
