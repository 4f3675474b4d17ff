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


# -- secret IDs and role ID index entries, parsed once per stored document -----------------------
class _CountingStorage(MemStorage):
    """MemStorage that records writes and deletes (a login with unlimited uses makes none)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def put(self, key: str, value: bytes) -> None:
        self.writes.append(key)
        super().put(key, value)

    def delete(self, key: str) -> None:
        self.writes.append(key)
        super().delete(key)


@pytest.fixture
def counted() -> Any:
    backend, storage = factory(None, None), _CountingStorage()

    def c(op: str, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return call(backend, storage, op, path, data, **kw)

    c.backend = backend  # type: ignore[attr-defined]
    c.storage = storage  # type: ignore[attr-defined]
    return c


def _secret_key(c: Any) -> str:
    (key,) = [k for k in c.storage.data if k.startswith("secret_id/")]
    return key


def test_login_secret_matches_a_fresh_parse_and_is_reused(approle: Any) -> None:
    rid, sid = _login(approle)
    store = approle.backend.renew_hook.__self__.store
    parsed = store.login_role(approle.storage, "web")
    secret_hmac = parsed.secret_hmac(sid)
    assert secret_hmac == create_hmac(parsed.role.hmac_key, sid)
    found = store.login_secret(approle.storage, parsed, secret_hmac)
    assert found is not None
    assert found.entry == store.secret(approle.storage, parsed.role, secret_hmac)
    accessor = found.entry.secret_id_accessor
    assert found.accessor_key == "accessor/" + store.salt_id(approle.storage, accessor)
    assert store.login_secret(approle.storage, parsed, secret_hmac) is found
    assert store.login_role_name(approle.storage, rid) == store.role_id_entry(approle.storage, rid) == "web"
    assert store.login_role_name(approle.storage, "no-such-role-id") is None


def test_unlimited_secret_id_logins_write_nothing(counted: Any) -> None:
    rid, sid = _login(counted)
    counted.storage.writes.clear()
    for _ in range(3):
        assert counted("update", "login", {"role_id": rid, "secret_id": sid})[0] == 200
    assert counted.storage.writes == []


def test_counted_uses_are_written_and_the_shared_entry_is_left_alone(counted: Any) -> None:
    counted("update", "role/web", {"token_policies": "pa", "token_type": "batch"})
    rid = counted("read", "role/web/role-id")[1].data["role_id"]
    sid = counted("update", "role/web/secret-id", {"num_uses": 3})[1].data["secret_id"]
    key = _secret_key(counted)
    store = counted.backend.renew_hook.__self__.store
    counted.storage.writes.clear()
    assert counted("update", "login", {"role_id": rid, "secret_id": sid})[0] == 200
    assert counted.storage.writes == [key]
    assert orjson.loads(counted.storage.data[key])["secret_id_num_uses"] == 2
    memo = store._secrets[key]
    assert memo.entry.secret_id_num_uses == 3  # the shared parse is never changed; storage moved on
    assert counted("update", "login", {"role_id": rid, "secret_id": sid})[0] == 200
    assert orjson.loads(counted.storage.data[key])["secret_id_num_uses"] == 1
    assert counted("update", "login", {"role_id": rid, "secret_id": sid})[0] == 200
    assert key not in counted.storage.data  # the last use deletes it, with its accessor
    assert not [k for k in counted.storage.data if k.startswith("accessor/")]
    status, _, error = counted("update", "login", {"role_id": rid, "secret_id": sid})
    assert status == 400 and error == "invalid role or secret ID"
    assert key not in store._secrets


def test_login_sees_a_secret_id_written_elsewhere(approle: Any) -> None:
    """Another worker process changes or removes the secret ID: the next login here sees it."""
    rid, sid = _login(approle)
    assert approle("update", "login", {"role_id": rid, "secret_id": sid})[0] == 200
    key = _secret_key(approle)
    doc = orjson.loads(approle.storage.data[key])
    doc["metadata"] = {"team": "elsewhere"}
    approle.storage.data[key] = orjson.dumps(doc)
    auth = approle("update", "login", {"role_id": rid, "secret_id": sid})[1].auth
    assert auth.metadata == {"role_name": "web", "team": "elsewhere"}
    doc["expiration_time"] = 1.0  # expired since 1970
    approle.storage.data[key] = orjson.dumps(doc)
    status, _, error = approle("update", "login", {"role_id": rid, "secret_id": sid})
    assert status == 400 and error == "invalid role or secret ID"
    assert key not in approle.storage.data


def test_login_sees_a_secret_id_deleted_or_its_accessor_gone(approle: Any) -> None:
    rid, sid = _login(approle)
    assert approle("update", "login", {"role_id": rid, "secret_id": sid})[0] == 200
    (accessor_key,) = [k for k in approle.storage.data if k.startswith("accessor/")]
    del approle.storage.data[accessor_key]
    status, _, error = approle("update", "login", {"role_id": rid, "secret_id": sid})
    assert status == 400 and error == "invalid role or secret ID"
    assert not [k for k in approle.storage.data if k.startswith("secret_id/")]  # dropped with it
    sid2 = approle("update", "role/web/secret-id", {})[1].data["secret_id"]
    assert approle("update", "login", {"role_id": rid, "secret_id": sid2})[0] == 200
    approle.storage.data.pop(_secret_key(approle))
    status, _, error = approle("update", "login", {"role_id": rid, "secret_id": sid2})
    assert status == 400 and error == "invalid role or secret ID"


def test_login_sees_a_new_role_id(approle: Any) -> None:
    """The role ID index entry is reread every login: a changed role ID refuses the old one."""
    rid, sid = _login(approle)
    assert approle("update", "login", {"role_id": rid, "secret_id": sid})[0] == 200
    approle("update", "role/web/role-id", {"role_id": "custom-id"})
    status, _, error = approle("update", "login", {"role_id": rid, "secret_id": sid})
    assert status == 400 and error == "invalid role or secret ID"
    assert approle("update", "login", {"role_id": "custom-id", "secret_id": sid})[0] == 200


def test_login_memos_are_bounded(approle: Any) -> None:
    from tessera.auth.approle.store import LOGIN_MEMO_SIZE

    rid, _ = _login(approle)
    store = approle.backend.renew_hook.__self__.store
    for _ in range(3):
        sid = approle("update", "role/web/secret-id", {})[1].data["secret_id"]
        assert approle("update", "login", {"role_id": rid, "secret_id": sid})[0] == 200
    assert len(store._secrets) == 3
    store._secrets.update(
        {f"k{i}": store._secrets[next(iter(store._secrets))] for i in range(LOGIN_MEMO_SIZE)}
    )
    sid = approle("update", "role/web/secret-id", {})[1].data["secret_id"]
    assert approle("update", "login", {"role_id": rid, "secret_id": sid})[0] == 200
    assert len(store._secrets) == 1  # full: started afresh
