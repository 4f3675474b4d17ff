"""AppRole's backend called directly (no server): roles, secret IDs, login refusals, renewal."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tessera.auth.approle import factory
from tessera.auth.approle.store import SecretIDEntry
from tessera.framework import Auth, Operation, Request

from ._memstore import MemStorage, call


@pytest.fixture
def approle() -> Any:
    backend, storage = factory(None, None), MemStorage()

    def c(op: str, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return call(backend, storage, op, path, data, **kw)

    c.backend = backend  # type: ignore[attr-defined]
    c.storage = storage  # type: ignore[attr-defined]
    return c


def _role_with_secret(c: Any, role: str = "web", **secret: Any) -> tuple[str, str, str]:
    assert c("update", f"role/{role}", {"token_policies": "pa"})[0] == 204
    rid = c("read", f"role/{role}/role-id")[1].data["role_id"]
    resp = c("update", f"role/{role}/secret-id", secret)[1]
    return rid, resp.data["secret_id"], resp.data["secret_id_accessor"]


def test_seed_role_reads_back(approle: Any) -> None:
    body = {"token_policies": "build", "token_ttl": "15m", "token_max_ttl": "30m", "token_type": "batch"}
    assert approle("update", "role/ci", body)[0] == 204
    data = approle("read", "role/ci")[1].data
    assert data == {
        "bind_secret_id": True,
        "local_secret_ids": False,
        "secret_id_bound_cidrs": None,
        "secret_id_num_uses": 0,
        "secret_id_ttl": 0,
        "token_bound_cidrs": [],
        "token_explicit_max_ttl": 0,
        "token_max_ttl": 1800,
        "token_no_default_policy": False,
        "token_num_uses": 0,
        "token_period": 0,
        "token_policies": ["build"],
        "token_strictly_bind_ip": False,
        "token_ttl": 900,
        "token_type": "batch",
    }


def test_login_gives_batch_auth_with_role_metadata(approle: Any) -> None:
    approle("update", "role/ci", {"token_type": "batch", "token_ttl": "15m"})
    rid = approle("read", "role/ci/role-id")[1].data["role_id"]
    sid = approle("update", "role/ci/secret-id", {"metadata": '{"team":"a"}'})[1].data["secret_id"]
    status, resp, _ = approle("update", "login", {"role_id": rid, "secret_id": sid})
    assert status == 200
    auth = resp.auth
    assert auth.token_type == "batch" and auth.ttl == 900 and not auth.client_token
    assert auth.metadata == {"role_name": "ci", "team": "a"}
    assert auth.alias_name == rid and auth.internal_data == {"role_name": "ci"}


def test_secret_ids_are_stored_only_as_hmacs(approle: Any) -> None:
    _, sid, acc = _role_with_secret(approle)
    blob = b"".join(approle.storage.data.values()) + "".join(approle.storage.data).encode()
    assert sid.encode() not in blob
    assert acc.encode() not in "".join(approle.storage.data).encode()  # accessors are salted in keys


def test_num_uses_count_down_then_refuse(approle: Any) -> None:
    rid, sid, _ = _role_with_secret(approle, num_uses=2)
    login = {"role_id": rid, "secret_id": sid}
    assert approle("update", "login", login)[0] == 200
    assert (
        approle("update", "role/web/secret-id/lookup", {"secret_id": sid})[1].data["secret_id_num_uses"] == 1
    )
    assert approle("update", "login", login)[0] == 200
    assert approle("update", "login", login)[:3:2] == (400, "invalid role or secret ID")
    assert approle("update", "role/web/secret-id/lookup", {"secret_id": sid})[0] == 204


def test_expired_secret_id_is_refused(approle: Any) -> None:
    approle("update", "role/short", {"secret_id_ttl": "1s"})
    rid = approle("read", "role/short/role-id")[1].data["role_id"]
    sid = approle("update", "role/short/secret-id")[1].data["secret_id"]
    time.sleep(1.2)
    assert approle("update", "login", {"role_id": rid, "secret_id": sid})[:3:2] == (
        400,
        "invalid role or secret ID",
    )


@pytest.mark.parametrize(
    ("secret", "role_body", "error"),
    [
        (
            {"cidr_list": "10.0.0.0/8"},
            {},
            'source address "127.0.0.1" unauthorized through CIDR restrictions on the secret ID',
        ),
        (
            {"cidr_list": "10.0.0.0/8", "num_uses": 3},
            {},
            'source address "127.0.0.1" unauthorized by CIDR restrictions on the secret ID: %!w(<nil>)',
        ),
        (
            {},
            {"secret_id_bound_cidrs": "10.0.0.0/8"},
            'source address "127.0.0.1" unauthorized by CIDR restrictions on the role: %!w(<nil>)',
        ),
    ],
)
def test_wrong_cidr_refused_without_spending_a_use(
    approle: Any, secret: dict[str, Any], role_body: dict[str, Any], error: str
) -> None:
    approle("update", "role/c", {"token_policies": "pa", **role_body})
    rid = approle("read", "role/c/role-id")[1].data["role_id"]
    sid = approle("update", "role/c/secret-id", secret)[1].data["secret_id"]
    before = approle("update", "role/c/secret-id/lookup", {"secret_id": sid})[1].data["secret_id_num_uses"]
    assert approle("update", "login", {"role_id": rid, "secret_id": sid})[:3:2] == (400, error)
    after = approle("update", "role/c/secret-id/lookup", {"secret_id": sid})[1].data["secret_id_num_uses"]
    assert before == after
    assert approle("update", "login", {"role_id": rid, "secret_id": sid}, remote_addr="10.1.2.3")[0] == 200


def test_token_bound_cidrs_from_secret_id_win(approle: Any) -> None:
    rid, sid, _ = _role_with_secret(approle, token_bound_cidrs="127.0.0.1/32,10.0.0.0/8")
    auth = approle("update", "login", {"role_id": rid, "secret_id": sid})[1].auth
    assert auth.bound_cidrs == ["127.0.0.1", "10.0.0.0/8"]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (
            {"token_ttl": "2h", "token_max_ttl": "1h"},
            400,
            "'token_ttl' cannot be greater than 'token_max_ttl'",
        ),
        (
            {"token_type": "batch", "token_period": "1h"},
            400,
            "'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens",
        ),
        ({"token_type": "nope"}, 400, "invalid 'token_type' value \"nope\""),
        ({"token_num_uses": -1}, 400, "'token_num_uses' cannot be negative"),
        (
            {"token_ttl": -5},
            400,
            "error converting input for field \"token_ttl\": cannot provide negative value '-5'",
        ),
        ({"secret_id_num_uses": -1}, 400, "secret_id_num_uses cannot be negative"),
        (
            {"bind_secret_id": False},
            500,
            "1 error occurred:\n\t* at least one constraint should be enabled on the role\n\n",
        ),
        (
            {"token_strictly_bind_ip": True, "token_bound_cidrs": "10.0.0.0/8"},
            400,
            "'token_strictly_bind_ip' conflicts with 'token_bound_cidrs'; set only one",
        ),
    ],
)
def test_role_validation_errors(approle: Any, body: dict[str, Any], status: int, error: str) -> None:
    assert approle("update", "role/bad", body)[:3:2] == (status, error)


def test_legacy_aliases(approle: Any) -> None:
    approle("update", "role/leg", {"policies": "b,a", "period": "1h", "bound_cidr_list": "127.0.0.1/32"})
    data = approle("read", "role/leg")[1].data
    assert data["policies"] == data["token_policies"] == ["a", "b"]
    assert data["period"] == data["token_period"] == 3600
    assert data["secret_id_bound_cidrs"] == ["127.0.0.1/32"]


def test_login_refusals(approle: Any) -> None:
    rid, _, _ = _role_with_secret(approle)
    assert approle("update", "login", {"secret_id": "x"})[:3:2] == (500, "missing role_id")
    assert approle("update", "login", {"role_id": rid})[:3:2] == (400, "missing secret_id")
    assert approle("update", "login", {"role_id": "nope", "secret_id": "x"})[:3:2] == (
        400,
        "invalid role or secret ID",
    )


def test_renew_rechecks_role(approle: Any) -> None:
    rid, sid, _ = _role_with_secret(approle)
    auth = approle("update", "login", {"role_id": rid, "secret_id": sid})[1].auth
    req = Request(operation=Operation.RENEW, path="login", storage=approle.storage)
    approle("update", "role/web", {"token_ttl": "10m", "token_max_ttl": "20m"})
    granted = approle.backend.renew_check(req, _entry(auth))
    assert (granted.ttl, granted.max_ttl) == (600, 1200)
    approle("delete", "role/web")
    with pytest.raises(Exception, match='role "web" does not exist during renewal'):
        approle.backend.renew_check(req, _entry(auth))


def _entry(auth: Auth) -> Any:
    from tessera.tokens.entry import TokenEntry

    return TokenEntry(
        id="s.x", policies=["default", "pa"], meta=auth.metadata, auth_internal_data=auth.internal_data
    )


def test_secret_id_entries_read_back_what_was_stored_and_drop_unknown_keys() -> None:
    entry = SecretIDEntry(
        secret_id_accessor="a", secret_id_num_uses=3, metadata={"k": "v"}, cidr_list=["10.0.0.0/8"]
    )
    assert SecretIDEntry.from_json(entry.to_json()) == entry
    newer = {**entry.to_json(), "written_by_a_later_version": True}
    assert SecretIDEntry.from_json(newer) == entry
    assert SecretIDEntry.from_json({}) == SecretIDEntry()
