"""userpass called directly (no server): users, scrypt hashes, login refusals, timing, renewal."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.auth.userpass import factory, hash_password, verify_password
from tessera.framework import Operation, Request

from ._memstore import MemStorage, call


@pytest.fixture
def up() -> Any:
    backend, storage = factory(None, None), MemStorage()

    def c(op: str, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return call(backend, storage, op, path, data, mount_type="userpass", **kw)

    c.backend = backend  # type: ignore[attr-defined]
    c.storage = storage  # type: ignore[attr-defined]
    return c


def test_password_hash_is_scrypt_and_verifies() -> None:
    stored = hash_password("s3cret")
    assert stored["kdf"] == "scrypt" and stored["n"] >= 2**15
    assert verify_password("s3cret", stored)
    assert not verify_password("wrong", stored)
    assert not verify_password("s3cret", None)


def test_user_crud_and_login(up: Any) -> None:
    # Long enough that a bcrypt hash's random salt never contains it by chance ("pw" did, ~1%).
    plain = "first-plain-pw"
    assert up("update", "users/Bob", {"password": plain, "token_policies": "pa", "token_ttl": "1h"})[0] == 204
    assert plain.encode() not in up.storage.data["user/bob"].replace(b'"password', b"")
    assert up("list", "users")[1].data == {"keys": ["bob"]}
    status, resp, _ = up("update", "login/Bob", {"password": plain})
    assert status == 200
    auth = resp.auth
    assert auth.metadata == {"username": "bob"} and auth.display_name == "bob" and auth.ttl == 3600
    assert up("update", "users/bob/password", {"password": "second-plain-pw"})[0] == 204
    assert up("update", "login/bob", {"password": plain})[:3:2] == (400, "invalid username or password")
    assert up("update", "login/bob", {"password": "second-plain-pw"})[0] == 200
    assert up("delete", "users/bob")[0] == 204
    assert up("read", "users/bob")[0] == 204  # a read that finds nothing (the HTTP layer makes it 404)


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("users/al", {}, 400, "must provide either password or password_hash"),
        (
            "users/al",
            {"password": "a", "password_hash": "b"},
            400,
            "only one of password or password_hash may be provided",
        ),
        (
            "users/nobody/password",
            {"password": "x"},
            500,
            "1 error occurred:\n\t* username does not exist\n\n",
        ),
        (
            "users/f",
            {"password": "x", "token_type": "default-batch"},
            400,
            "invalid 'token_type' value \"default-batch\"",
        ),
        ("login/bob", {}, 500, "missing password"),
        ("login/nobody", {"password": "x"}, 400, "invalid username or password"),
    ],
)
def test_refusals(up: Any, path: str, body: dict[str, Any], status: int, error: str) -> None:
    assert up("update", path, body)[:3:2] == (status, error)


def test_legacy_fields(up: Any) -> None:
    body = {"password": "x", "policies": "b,a", "bound_cidrs": "127.0.0.1/32", "ttl": 60, "max_ttl": 120}
    up("update", "users/al", body)
    data = up("read", "users/al")[1].data
    assert data["policies"] == data["token_policies"] == ["a", "b"]
    assert data["bound_cidrs"] == data["token_bound_cidrs"] == ["127.0.0.1"]
    assert (data["ttl"], data["max_ttl"], data["token_ttl"], data["token_max_ttl"]) == (60, 120, 60, 120)


def test_cidr_bound_user_refused_elsewhere(up: Any) -> None:
    up("update", "users/carol", {"password": "pw", "token_bound_cidrs": "10.0.0.0/8"})
    assert up("update", "login/carol", {"password": "pw"})[:3:2] == (403, "permission denied")
    assert up("update", "login/carol", {"password": "pw"}, remote_addr="10.0.0.7")[0] == 200


def test_unknown_user_does_the_same_kdf_work_as_wrong_password(
    up: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted, not timed: an unknown user runs scrypt with the same parameters as a wrong password."""
    import tessera.auth.userpass as userpass

    up("update", "users/bob", {"password": "pw"})
    calls: list[tuple[int, int, int]] = []
    real = userpass._scrypt

    def counting(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        calls.append((n, r, p))
        return real(password, salt, n, r, p)

    monkeypatch.setattr(userpass, "_scrypt", counting)

    def attempt(path: str) -> None:
        try:  # the refusal's wording is checked by the compat tests; here only the work counts
            up("update", path, {"password": "nope"})
        except Exception:
            pass

    attempt("login/bob")
    known = list(calls)
    calls.clear()
    attempt("login/ghost")
    assert known and calls == known


def test_renew_follows_user(up: Any) -> None:
    up("update", "users/bob", {"password": "pw", "token_policies": "pa", "token_ttl": "1h"})
    auth = up("update", "login/bob", {"password": "pw"})[1].auth
    from tessera.tokens.entry import TokenEntry

    entry = TokenEntry(id="s.x", policies=["default", "pa"], meta=auth.metadata)
    req = Request(operation=Operation.RENEW, path="login/bob", storage=up.storage)
    assert up.backend.renew_check(req, entry).ttl == 3600
    up("update", "users/bob/policies", {"token_policies": "x"})
    with pytest.raises(Exception, match="policies have changed, not renewing"):
        up.backend.renew_check(req, entry)
    up("delete", "users/bob")
    assert up.backend.renew_check(req, entry) is None
