"""AppRole's per-login memos: the parsed role (keyed by its stored bytes) and salted IDs.

A login must see exactly what a fresh parse of storage gives, including a role changed or
deleted behind its back (another worker process writes the same storage)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tessera.auth.approle import factory
from tessera.auth.approle.store import SALTED_MEMO_SIZE, AppRoleStore, create_hmac

from ._memstore import MemStorage, call


@pytest.fixture
def approle() -> Any:
    backend, storage = factory(None, None), MemStorage()

    def c(op: str, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return call(backend, storage, op, path, data, **kw)

    c.backend = backend  # type: ignore[attr-defined]
    c.storage = storage  # type: ignore[attr-defined]
    return c


def _login(c: Any, role: str = "web") -> tuple[str, str]:
    c("update", f"role/{role}", {"token_policies": "pa", "token_type": "batch"})
    rid = c("read", f"role/{role}/role-id")[1].data["role_id"]
    sid = c("update", f"role/{role}/secret-id", {})[1].data["secret_id"]
    return rid, sid


def test_login_role_matches_a_fresh_parse_and_is_reused() -> None:
    store, storage = AppRoleStore(), MemStorage()
    storage.put_json("role/web", {"name": "web", "role_id": "r", "hmac_key": "k", "token_policies": ["a"]})
    first = store.login_role(storage, "Web")
    assert first is not None
    assert first.role == store.role(storage, "web")
    assert first.name_hmac == create_hmac("k", "web")
    assert store.login_role(storage, "web") is first  # same bytes: not parsed again
    assert store.secret_key(first.role, "s") == f"secret_id/{create_hmac('k', 'web')}/s"


def test_login_role_follows_storage_written_elsewhere() -> None:
    store, storage = AppRoleStore(), MemStorage()
    storage.put_json("role/web", {"name": "web", "hmac_key": "k", "token_policies": ["a"]})
    first = store.login_role(storage, "web")
    storage.put("role/web", orjson.dumps({"name": "web", "hmac_key": "k2", "token_policies": ["b"]}))
    second = store.login_role(storage, "web")
    assert second is not None and second is not first
    assert second.role.token_policies == ["b"] and second.name_hmac == create_hmac("k2", "web")
    storage.delete("role/web")
    assert store.login_role(storage, "web") is None


def test_secret_key_of_a_role_not_from_the_memo_is_computed() -> None:
    store, storage = AppRoleStore(), MemStorage()
    storage.put_json("role/web", {"name": "web", "hmac_key": "k"})
    store.login_role(storage, "web")
    other = store.role(storage, "web")
    assert other is not None
    other.hmac_key = "changed"
    assert store.secret_key(other, "s") == f"secret_id/{create_hmac('changed', 'web')}/s"


def test_salted_ids_are_the_hmac_under_the_salt_and_bounded() -> None:
    store, storage = AppRoleStore(), MemStorage()
    salt = store.salt(storage)
    assert store.salt_id(storage, "abc") == create_hmac(salt, "abc")
    assert store.salt_id(storage, "abc") == create_hmac(salt, "abc")
    for i in range(SALTED_MEMO_SIZE + 5):
        assert store.salt_id(storage, str(i)) == create_hmac(salt, str(i))
    assert len(store._salted) <= SALTED_MEMO_SIZE


def test_login_sees_role_updates_and_deletion(approle: Any) -> None:
    rid, sid = _login(approle)
    assert approle("update", "login", {"role_id": rid, "secret_id": sid})[1].auth.policies == ["pa"]
    approle("update", "role/web", {"token_policies": "pb"})
    assert approle("update", "login", {"role_id": rid, "secret_id": sid})[1].auth.policies == ["pb"]
    approle("update", "role/web", {"bind_secret_id": False, "secret_id_bound_cidrs": "10.0.0.0/8"})
    status, _, error = approle("update", "login", {"role_id": rid, "secret_id": sid})
    assert status == 400 and "unauthorized by CIDR restrictions on the role" in error
    approle("delete", "role/web")
    status, _, error = approle("update", "login", {"role_id": rid, "secret_id": sid})
    assert status == 400 and "invalid role or secret ID" in error


def test_login_after_a_write_by_another_process(approle: Any) -> None:
    """Another worker replaces the stored role: the next login here parses the new bytes."""
    rid, sid = _login(approle)
    approle("update", "login", {"role_id": rid, "secret_id": sid})
    doc = orjson.loads(approle.storage.data["role/web"])
    doc["token_policies"] = ["from-elsewhere"]
    approle.storage.data["role/web"] = orjson.dumps(doc)
    assert approle("update", "login", {"role_id": rid, "secret_id": sid})[1].auth.policies == [
        "from-elsewhere"
    ]
