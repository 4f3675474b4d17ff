"""The policy store: built-ins, writes with check-and-set, expiry, listing and the ACL cache."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from tessera.framework import InternalError
from tessera.gocompat.times import rfc3339_nano_ns
from tessera.policy.parser import PolicyParseError
from tessera.policy.store import (
    DEFAULT_POLICY,
    RESPONSE_WRAPPING_POLICY,
    PolicyStore,
    PolicyStoreError,
    decode_policy_text,
    parse_time_field,
)
from tessera.storage.base import StorageView

READ_A = 'path "a" { capabilities = ["read"] }'


@pytest.fixture
def store(storage: StorageView) -> PolicyStore:
    s = PolicyStore(storage)
    s.setup()
    return s


def test_setup_writes_builtins_once(storage: StorageView, store: PolicyStore) -> None:
    default = store.get("default")
    assert default is not None and default.raw == DEFAULT_POLICY and default.version == 1
    assert storage.get_json("policy/default")["policy"] == DEFAULT_POLICY
    store.set("default", READ_A)
    PolicyStore(storage).setup()  # an edited default policy is kept on the next unseal
    assert PolicyStore(storage).get("default").raw == READ_A  # type: ignore[union-attr]
    wrapping = store.get("response-wrapping")
    assert wrapping is not None and wrapping.raw == RESPONSE_WRAPPING_POLICY
    assert store.list() == ["default"]


def test_root_is_synthesised_and_immutable(store: PolicyStore) -> None:
    root = store.get("ROOT")
    assert root is not None and root.read_data() == {"name": "root", "policy": ""}
    assert (root.version, root.cas_required) == (0, False)
    for name in ("root", " Response-Wrapping "):
        with pytest.raises(PolicyStoreError, match="cannot update"):
            store.set(name, READ_A)
    with pytest.raises(PolicyStoreError, match='cannot delete "root" policy'):
        store.delete("root")
    with pytest.raises(PolicyStoreError, match='cannot delete "response-wrapping" policy'):
        store.delete("response-wrapping")
    with pytest.raises(PolicyStoreError, match=r"^cannot delete default policy$"):
        store.delete("Default")
    with pytest.raises(PolicyParseError):
        store.set("root", "x")  # the document is parsed before the name is judged, as in Vault


def test_names_versions_and_check_and_set(store: PolicyStore) -> None:
    first = store.set(" Mixed ", READ_A)
    assert (first.name, first.version) == ("mixed", 1)
    assert store.get("MIXED") is first
    with pytest.raises(
        PolicyStoreError, match=r"^check-and-set parameter 5 did not match the current version 1$"
    ):
        store.set("mixed", READ_A, cas=5)
    with pytest.raises(PolicyStoreError, match=r"^check-and-set parameter set to -1 on existing entry$"):
        store.set("mixed", READ_A, cas=-1)
    assert store.set("mixed", READ_A, cas=1, cas_required=True).version == 2
    with pytest.raises(PolicyStoreError, match=r"^check-and-set parameter required for this call$"):
        store.set("mixed", READ_A)
    assert store.set("mixed", READ_A, cas=2).version == 3
    assert store.set("fresh", READ_A, cas=-1).version == 1
    with pytest.raises(PolicyStoreError, match="current version 0"):
        store.set("other", READ_A, cas=3)
    with pytest.raises(PolicyStoreError, match="required"):
        store.set("other", READ_A, cas_required=True)


def test_list_delete_and_prefix(store: PolicyStore) -> None:
    for name in ("b", "a", "x/y", "x/z"):
        store.set(name, READ_A)
    assert store.list() == ["a", "b", "default", "x/y", "x/z"]
    assert store.list("x/") == ["x/y", "x/z"]
    store.delete("B")
    store.delete("never-existed")
    assert store.get("b") is None and "b" not in store.list()


def test_expiring_policies_disappear(store: PolicyStore) -> None:
    soon = time.time() + 0.3
    store.set("brief", READ_A, expiration=(soon, rfc3339_nano_ns(int(soon * 1e9))))
    brief = store.get("brief")
    assert brief is not None and brief.expiration.endswith("Z") and brief.modified
    assert store.acl(("brief",)).capabilities("a") == ["read"]
    time.sleep(0.35)
    assert store.acl(("brief",)).capabilities("a") == ["deny"]
    assert store.get("brief") is None and store.list() == ["default"]
    assert store.storage.get("policy/brief") is None


def test_acl_cache_follows_writes(store: PolicyStore) -> None:
    store.set("p", READ_A)
    first = store.acl(("p", "missing"))
    assert first is store.acl(("p", "missing")) and first.capabilities("a") == ["read"]
    store.set("p", 'path "a" { capabilities = ["list"] }')
    assert store.acl(("p", "missing")).capabilities("a") == ["list"]
    store.delete("p")
    assert store.acl(("p",)).capabilities("a") == ["deny"]
    assert store.acl(("root",)).is_root
    with pytest.raises(InternalError):
        store.acl(("root", "default"))


def test_templated_policies_per_entity(store: PolicyStore) -> None:
    store.set("own", 'path "secret/data/{{identity.entity.id}}/*" { capabilities = ["read"] }')
    alice = store.acl(("own",), {"id": "alice"})
    assert alice.capabilities("secret/data/alice/x") == ["read"]
    assert alice.capabilities("secret/data/bob/x") == ["deny"]
    assert store.acl(("own",), {"id": "bob"}).capabilities("secret/data/bob/x") == ["read"]
    assert store.acl(("own",)).capabilities("secret/data/alice/x") == ["deny"]
    default = store.acl(("default",), {"id": "e1", "name": "n1"})
    assert default.capabilities("identity/entity/id/e1") == ["read"]
    assert default.capabilities("identity/entity/name/n1") == ["read"]


def test_concurrent_writes_keep_versions_consistent(store: PolicyStore) -> None:
    errors: list[Exception] = []

    def writer() -> None:
        for _ in range(20):
            try:
                store.set("busy", READ_A)
                store.acl(("busy", "default")).allow_operation("read", "a")
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and store.get("busy").version == 80  # type: ignore[union-attr]


def test_helpers() -> None:
    assert decode_policy_text("cGF0aCAiYSIge30=") == 'path "a" {}'
    assert decode_policy_text('path "a" {}') == 'path "a" {}'
    assert rfc3339_nano_ns(1_500_000_000) == "1970-01-01T00:00:01.5Z"
    expected = datetime(2999, 1, 1, tzinfo=timezone(timedelta(hours=2))).timestamp() + 0.5
    assert parse_time_field("2999-01-01T00:00:00.500+02:00") == (expected, "2999-01-01T00:00:00.5+02:00")
    assert parse_time_field("2999-01-01T00:00:00+00:00")[1] == "2999-01-01T00:00:00Z"
    assert parse_time_field(60) == (60.0, "1970-01-01T00:01:00Z")
    with pytest.raises(ValueError, match="could not parse string as date and time"):
        parse_time_field("tomorrow")


def test_exists_answers_as_get_does(store: PolicyStore) -> None:
    """``exists`` (every created token's policy warnings) is ``get(name) is not None``."""
    store.set("p", READ_A)
    names = ("p", "P", " p ", "default", "root", "missing", "", "response-wrapping")
    for _ in range(2):  # cold and cached
        for name in names:
            assert store.exists(name) == (store.get(name) is not None), name
    store.delete("p")
    assert not store.exists("p") and store.get("p") is None
    store.set("p", READ_A)
    assert store.exists("p")


def test_exists_sees_an_expiring_policy_expire(store: PolicyStore) -> None:
    soon = time.time() + 0.3
    store.set("brief", READ_A, expiration=(soon, rfc3339_nano_ns(int(soon * 1e9))))
    assert store.exists("brief") and store.exists("brief")
    time.sleep(0.35)
    assert not store.exists("brief")
    assert store.storage.get("policy/brief") is None
