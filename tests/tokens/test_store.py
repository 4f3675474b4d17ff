"""The token store inside a real Core: batch tokens, the entry cache, expiry, tidy and logins."""

from __future__ import annotations

import ast
import copy
import time
from collections.abc import Callable
from pathlib import Path as FilePath

import pytest

from tessera.core import registry
from tessera.framework import Auth, Backend, Field, FieldData, FieldType, Operation, Path, Request, Response
from tessera.routing.mounts import MountEntry
from tessera.storage.base import StorageView, TxnOp
from tessera.storage.inmem import InmemPhysical
from tessera.tokens import entry as entry_module
from tessera.tokens.entry import BATCH, TokenEntry
from tessera.tokens.store import DICT_FIELDS, LIST_FIELDS, TokenStoreError
from tessera.tokens.tidy import tidy
from tests.tokens.conftest import CoreHarness, RecordingPhysical


def _batch(**kw: object) -> TokenEntry:
    return TokenEntry(
        type=BATCH, policies=["p1"], ttl=3600, path="auth/token/create", display_name="token", **kw
    )


@pytest.mark.slow
def test_batch_tokens_write_nothing() -> None:
    """Creating batch tokens (orphan or not) writes nothing at all: not one put, not one byte.

    Any write would show at the first token; 20,000 of them (not the million the seed speaks of)
    also show that nothing accumulates per token, in a fraction of the time.
    """
    physical = RecordingPhysical()  # notes the writes that reach storage
    harness = CoreHarness(physical)
    try:
        store = harness.store
        parent = store.create(TokenEntry(policies=["p1"], ttl=3600, path="auth/token/create"))
        before = physical.size()
        physical.writes.clear()
        last = None
        for i in range(20_000):
            last = store.create(_batch(parent=parent.salted_id if i % 2 else ""))
        assert physical.writes == []
        assert physical.size() == before
        assert last is not None and store.lookup(last.id) is not None
        assert physical.size() == before
    finally:
        harness.close()


def test_batch_validation_reads_only_the_parent(harness: CoreHarness) -> None:
    store = harness.store
    parent = store.create(TokenEntry(policies=["p1"], ttl=3600, path="auth/token/create"))
    child = store.create(_batch(parent=parent.salted_id))
    reads: list[str] = []
    original = harness.physical.get

    def counting_get(key: str) -> bytes | None:
        reads.append(key)
        return original(key)

    harness.physical.get = counting_get  # type: ignore[method-assign]
    try:
        for _ in range(100):
            assert store.lookup(child.id) is not None
            assert store.lookup(parent.id) is not None
    finally:
        harness.physical.get = original  # type: ignore[method-assign]
    assert reads == []  # both answered from memory


def test_batch_tokens_survive_rotation_and_never_validate_when_tampered(harness: CoreHarness) -> None:
    store = harness.store
    token = store.create(_batch()).id
    assert token.startswith("hvb.")
    harness.core.barrier.rotate()
    assert store.lookup(token) is not None
    assert store.create(_batch()).id != token
    assert store.lookup("b." + token[4:]) is not None  # the legacy prefix is recognised
    for pos in range(4, len(token), 7):
        flipped = token[:pos] + ("A" if token[pos] != "A" else "B") + token[pos + 1 :]
        assert store.lookup(flipped) is None
    assert harness.core.resolve_token("hvb.notbase64!!") is None


def test_batch_entry_is_frozen_and_carries_no_accessor(harness: CoreHarness) -> None:
    entry = harness.store.lookup(harness.store.create(_batch(meta={"k": "v"}, role="root")).id)
    assert entry.accessor == "" and entry.renewable is False and entry.role == "root"
    assert entry.meta == {"k": "v"} and entry.policies == ["p1"]
    assert entry.expire_time == entry.creation_time + 3600


def test_the_cached_containers_are_the_entrys_list_and_dict_fields() -> None:
    """The cache's copy names them (a compiled build hides the annotations): read from the source."""
    source = (FilePath(entry_module.__file__).parent / "entry.py").read_text()  # also when compiled
    cls = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == "TokenEntry")
    kinds = {
        n.target.id: ast.unparse(n.annotation)
        for n in cls.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    }
    assert tuple(k for k, v in kinds.items() if v.startswith("list")) == LIST_FIELDS
    assert tuple(k for k, v in kinds.items() if v.startswith("dict")) == DICT_FIELDS


def test_cache_follows_every_write(harness: CoreHarness) -> None:
    store = harness.store
    t = store.create(TokenEntry(policies=["p1"], ttl=3600, num_uses=3, path="auth/token/create"))
    first = store.lookup(t.id)
    first.policies.append("mutated")  # callers get copies
    assert store.lookup(t.id).policies == ["p1"]
    assert store.use(first) is False
    assert store.lookup(t.id).num_uses == 2
    store.invalidate()
    assert store.lookup(t.id).num_uses == 2
    store.revoke_tree(store.lookup(t.id))
    assert store.lookup(t.id) is None
    assert store.lookup(t.id, tainted=True, allow_expired=True) is None


def test_last_use_marks_pending_then_revokes(harness: CoreHarness) -> None:
    token = harness.create(policies=["p1"], num_uses=1)
    resp = harness.request(Operation.READ, "auth/token/lookup-self", token)
    assert resp is not None and resp.data["num_uses"] == -1
    assert harness.store.lookup(token) is None
    assert harness.store.lookup(token, tainted=True) is None


def test_expiry_cleans_token_accessor_children_and_cubbyhole(harness: CoreHarness) -> None:
    store = harness.store
    parent = harness.create(policies=["root"], ttl="1h")
    child = harness.create(parent, policies=["p1"], ttl="5h")
    batch_child = harness.create(parent, policies=["p1"], type="batch")
    harness.request(Operation.UPDATE, "cubbyhole/secret", parent, {"a": "b"})
    entry = store.lookup(parent)
    cubby = _cubby_keys(harness, entry.cubbyhole_id)
    assert cubby
    count = store.expire_due(now=time.time() + 2 * 3600)
    assert count >= 1
    for t in (parent, child, batch_child):
        assert store.lookup(t) is None
    assert store.accessor_target(entry.accessor) is None
    assert store.children(entry.salted_id) == []
    assert _cubby_keys(harness, entry.cubbyhole_id) == []


def test_expired_token_stops_before_cleanup(harness: CoreHarness) -> None:
    store = harness.store
    t = store.create(TokenEntry(policies=["p1"], ttl=1, path="auth/token/create"))
    entry = store.lookup(t.id)
    entry.expire_time = time.time() - 1  # as if the second had passed
    store.save(entry)
    assert store.lookup(t.id) is None
    assert store.lookup(t.id, allow_expired=True) is not None
    assert store.expire_due() == 1
    assert store.lookup(t.id, allow_expired=True) is None


def _cubby_keys(harness: CoreHarness, cubbyhole_id: str) -> list[str]:
    mount = next(m for m in harness.core.mounts if m.type == "cubbyhole")
    return StorageView(harness.core.barrier, mount.storage_prefix).list_all(cubbyhole_id + "/")


def test_tidy_repairs_dangling_indexes(harness: CoreHarness) -> None:
    store = harness.store
    live = store.create(TokenEntry(policies=["p1"], ttl=3600, path="auth/token/create"))
    child = store.create(
        TokenEntry(policies=["p1"], ttl=3600, path="auth/token/create", parent=live.salted_id)
    )
    storage = store.storage
    # What a crash between revocation writes leaves: a parent gone but its index kept, an accessor
    # pointing at nothing, a cubbyhole nobody owns.
    storage.put(f"parent/hdead/{child.salted_id}", b"")
    storage.put("parent/hdead2/hnothing", b"")
    storage.put_json("accessor/" + store.salted("ghost"), {"accessor": "ghost", "salted_id": "hnothing"})
    mount = next(m for m in harness.core.mounts if m.type == "cubbyhole")
    cubby = StorageView(harness.core.barrier, mount.storage_prefix)
    cubby.put("orphanedcubby/x", b"{}")
    report = tidy(harness.core)
    assert report.parent_entries_removed == 2 and report.accessors_removed == 1
    assert report.cubbyholes_removed == 1
    assert storage.list("parent/") == [live.salted_id + "/"]
    assert store.accessor_target("ghost") is None
    assert cubby.list("") == []
    assert store.lookup(child.id) is not None and store.lookup(live.id) is not None


def test_tidy_endpoint_answers_202(harness: CoreHarness) -> None:
    resp = harness.request(Operation.UPDATE, "auth/token/tidy")
    assert resp is not None and resp.status == 202
    assert resp.warnings[0].startswith("Tidy operation successfully started")


# -- logins --------------------------------------------------------------------------------------


def _login_backend(core: object, entry: MountEntry) -> Backend:
    """A credential backend whose login answers with whatever Auth the request describes."""

    def login(req: Request, data: FieldData) -> Response:
        return Response(
            auth=Auth(
                policies=data.get("policies"),
                display_name=data.get("name"),
                metadata={"user": data.get("name")},
                ttl=data.get("ttl"),
                max_ttl=data.get("max_ttl"),
                period=data.get("period"),
                token_type=data.get("token_type"),
                num_uses=data.get("num_uses"),
            )
        )

    fields = {
        "name": Field(FieldType.STRING),
        "policies": Field(FieldType.COMMA_STRING_SLICE),
        "ttl": Field(FieldType.DURATION),
        "max_ttl": Field(FieldType.DURATION),
        "period": Field(FieldType.DURATION),
        "token_type": Field(FieldType.STRING),
        "num_uses": Field(FieldType.INT),
    }
    return Backend(
        paths=[Path(r"login/(?P<name>\w+)", fields=fields, operations={Operation.UPDATE: login})],
        unauthenticated_paths=["login/*"],
        kind="credential",
    )


@pytest.fixture
def login_mount(harness: CoreHarness, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(registry.AUTH_METHODS, "testlogin", "tests.tokens.test_store:_login_backend")
    harness.core.mount(MountEntry.new("auth", "up/", "testlogin"))
    return "auth/up/login/"


def _login(harness: CoreHarness, path: str, **data: object) -> Response:
    resp = harness.request(Operation.UPDATE, path, "", data)
    assert resp is not None and resp.auth is not None
    return resp


@pytest.mark.parametrize(
    ("mount_type", "requested", "expected"),
    [
        ("", "", "service"),
        ("", "batch", "batch"),
        ("batch", "service", "batch"),
        ("service", "batch", "service"),
        ("default-batch", "", "batch"),
        ("default-batch", "service", "service"),
        ("default-service", "default-batch", "batch"),
    ],
)
def test_login_token_type(
    harness: CoreHarness, login_mount: str, mount_type: str, requested: str, expected: str
) -> None:
    harness.core.find_mount("auth", "up/").config.token_type = mount_type
    resp = _login(harness, login_mount + "bob", policies="p1", token_type=requested)
    auth = resp.auth
    assert auth.token_type == expected and auth.orphan is True
    entry = harness.store.lookup(auth.client_token)
    assert entry.type == expected and entry.parent == ""
    assert entry.display_name == "up-bob" and entry.path == "auth/up/login/bob"
    assert auth.policies == ["default", "p1"] and auth.token_policies == ["default", "p1"]
    assert (auth.accessor == "") is (expected == "batch")


def test_login_ttls_follow_the_mount(harness: CoreHarness, login_mount: str) -> None:
    mount = harness.core.find_mount("auth", "up/")
    mount.config.default_lease_ttl, mount.config.max_lease_ttl = 3600, 7200
    assert _login(harness, login_mount + "a").auth.lease_duration == 3600
    resp = _login(harness, login_mount + "b", ttl=5 * 3600)
    assert resp.auth.lease_duration == 7200 and "capped" in resp.warnings[0]
    assert _login(harness, login_mount + "c", ttl=600, max_ttl=300).auth.lease_duration == 300
    periodic = _login(harness, login_mount + "d", period=1800).auth
    assert periodic.lease_duration == 1800
    assert harness.store.lookup(periodic.client_token).period == 1800


def test_login_refuses_root(harness: CoreHarness, login_mount: str) -> None:
    from tessera.framework import ErrorResponse

    with pytest.raises(ErrorResponse, match="auth methods cannot create root tokens"):
        harness.request(Operation.UPDATE, login_mount + "x", "", {"policies": "root"})


def test_disabling_an_auth_mount_revokes_its_tokens(harness: CoreHarness, login_mount: str) -> None:
    token = _login(harness, login_mount + "bob", policies="p1").auth.client_token
    assert harness.store.lookup(token) is not None
    harness.core.unmount(harness.core.find_mount("auth", "up/"))
    assert harness.store.lookup(token) is None


def test_wrapped_login_names_the_login_accessor(harness: CoreHarness, login_mount: str) -> None:
    req = Request(
        operation=Operation.UPDATE,
        path=login_mount + "bob",
        data={"policies": "p1"},
        wrap_ttl=60,
        request_id="r",
    )
    resp = harness.core.handle_request(req)
    assert resp is not None and resp.auth is None and resp.wrap_info is not None
    wrapper = harness.store.lookup(resp.wrap_info.token)
    assert wrapper.policies == ["response-wrapping"] and wrapper.display_name == "up-bob"
    login = harness.store.lookup_accessor(resp.wrap_info.wrapped_accessor)
    assert login is not None and login.display_name == "up-bob"


def test_token_lease_ids_resolve_to_their_token(harness: CoreHarness) -> None:
    store = harness.store
    token = store.lookup(harness.create(policies=["p1"]))
    assert token.lease_id == f"auth/token/create/{token.salted_id}"
    assert store.lookup_lease(token.lease_id).accessor == token.accessor
    assert store.lookup_lease(f"auth/token/create-orphan/{token.salted_id}") is None
    assert store.lookup_lease("secret/foo/" + token.salted_id) is None


def test_renewals_do_not_pile_up_expiry_items(harness: CoreHarness) -> None:
    store = harness.store
    token = harness.create(policies=["p1"], ttl="1h")
    before = len(store._expiry)
    for i in range(50):
        harness.request(Operation.UPDATE, "auth/token/renew-self", token, {"increment": 3600 + i})
    assert len(store._expiry) == before
    entry = store.lookup(token)
    # the old (earlier) item fires, finds the token renewed and reschedules it
    assert store.expire_due(now=time.time() + 3600 + 1) == 0
    assert store.lookup(token) is not None
    assert store.expire_due(now=entry.expire_time + 1) == 1
    assert store.lookup(token, allow_expired=True) is None
    # an earlier expiry supersedes the pending item
    short = harness.create(policies=["p1"], ttl="1h")
    harness.request(Operation.UPDATE, "auth/token/renew-self", short, {"increment": 60})
    assert store.expire_due(now=time.time() + 120) == 1


class _RevokesFirst(InmemPhysical):
    """Storage that runs ``revoke`` just before the first transaction writing under
    ``watched`` lands (a physical key's prefix)."""

    def __init__(self) -> None:
        super().__init__()
        self.watched = ""
        self.revoke: Callable[[], object] = lambda: None
        self.revoked = False

    def transaction(self, ops: list[TxnOp]) -> None:
        if self.watched and not self.revoked and any(op.key.startswith(self.watched) for op in ops):
            self.revoked = True
            self.revoke()  # completes before the child's write lands
        super().transaction(ops)


def test_child_written_after_its_parent_was_revoked_does_not_survive() -> None:
    """Creation holds no lock across its commit: a parent revoked meanwhile must take the child.

    The interleaving forced here is the one a lock used to exclude: the parent's revocation
    lists its children just before the child's index entry is written.
    """
    physical = _RevokesFirst()
    harness = CoreHarness(physical)
    store = harness.store
    parent = store.create(TokenEntry(policies=["p1"], ttl=3600, path="auth/token/create"))
    storage = store.storage
    ids_before = set(storage.list_all("id/"))
    physical.watched = f"sys/token/parent/{parent.salted_id}/"
    physical.revoke = lambda: store.revoke_tree(parent)
    try:
        with pytest.raises(TokenStoreError, match="parent token is being revoked"):
            store.create(
                TokenEntry(policies=["p1"], ttl=60, path="auth/token/create", parent=parent.salted_id)
            )
        assert physical.revoked
        assert store.lookup_salted(parent.salted_id) is None
        # Neither the child's entry nor its index entry under the parent remains.
        assert set(storage.list_all("id/")) == ids_before - {"id/" + parent.salted_id}
        assert not storage.list_all(f"parent/{parent.salted_id}/")
    finally:
        harness.close()


def test_batched_expiry_cleans_every_token_across_batches(harness: CoreHarness) -> None:
    """More tokens than one batch, some with children and cubbyholes: all go, with their indexes."""
    from tessera.tokens.store import EXPIRE_BATCH

    store = harness.store
    parents = [harness.create(policies=["root"], ttl="1h") for _ in range(EXPIRE_BATCH + 40)]
    children = [harness.create(parents[i], policies=["p1"], ttl="1h") for i in range(0, len(parents), 50)]
    for token in parents[:5]:
        harness.request(Operation.UPDATE, "cubbyhole/secret", token, {"a": "b"})
    entries = [store.lookup(t) for t in parents]
    survivor = harness.create(policies=["p1"], ttl="5h")
    # A tree counts once: its children go with it and are found gone when their turn comes.
    assert store.expire_due(now=time.time() + 2 * 3600) == len(parents)
    for token in parents + children:
        assert store.lookup(token, allow_expired=True) is None
    for entry in entries:
        assert store.accessor_target(entry.accessor) is None
        assert store.children(entry.salted_id) == []
        assert _cubby_keys(harness, entry.cubbyhole_id) == []
    assert store.lookup(survivor) is not None
    assert store.expiry_backlog(now=time.time() + 2 * 3600) == (0, 0.0)
    assert store.expiry_backlog(now=time.time() + 6 * 3600)[0] == 1


def test_expiry_pass_stops_at_its_budget_and_the_next_goes_on(harness: CoreHarness) -> None:
    store = harness.store
    for _ in range(600):
        harness.create(policies=["p1"], ttl="1h")
    later = time.time() + 2 * 3600
    first = store.expire_due(now=later, budget=0.0)  # one batch, then out of time
    assert 0 < first < 600
    assert store.expiry_backlog(now=later)[0] == 600 - first
    assert store.expire_due(now=later) == 600 - first


def test_tidy_revokes_expired_tokens_nobody_scheduled(
    harness: CoreHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As written by a node that crashed: in storage, expired, on no schedule; tidy reads pages."""
    import orjson

    from tessera.tokens import tidy as tidy_module

    store = harness.store
    keep = store.create(TokenEntry(policies=["p1"], ttl=3600, path="auth/token/create"))
    stale = [store.create(TokenEntry(policies=["p1"], ttl=3600, path="auth/token/create")) for _ in range(5)]
    for entry in stale:
        doc = store.storage.get_json("id/" + entry.salted_id)
        doc["expire_time"] = time.time() - 10
        store.storage.put("id/" + entry.salted_id, orjson.dumps(doc))
        store.invalidate(entry.salted_id)
    monkeypatch.setattr(tidy_module, "SCAN_PAGE", 2)  # several pages
    report = tidy(harness.core)
    assert report.expired_revoked == 5
    for entry in stale:
        assert store.lookup(entry.id, allow_expired=True) is None
        assert store.accessor_target(entry.accessor) is None
    assert store.lookup(keep.id) is not None


def test_a_looked_up_entry_is_a_fresh_copy_of_the_cached_one(harness: CoreHarness) -> None:
    """Service lookups thaw from a remembered state (store._thawed): each answer is its own."""
    from tessera.tokens import batch
    from tessera.tokens.store import _DICT_FIELDS, _FIELD_NAMES, _LIST_FIELDS

    assert {_FIELD_NAMES[i] for i in _LIST_FIELDS} == set(batch._LISTS)
    assert {_FIELD_NAMES[i] for i in _DICT_FIELDS} == set(batch._DICTS)
    store = harness.store
    made = store.create(
        TokenEntry(policies=["a", "b"], meta={"k": "v"}, bound_cidrs=["10.0.0.0/8"], path="auth/token/create")
    )
    first = store.lookup(made.id)
    assert first is not None
    expected = copy.deepcopy(first.__dict__)
    first.policies.append("c")
    assert first.meta is not None
    first.meta["x"] = "y"
    first.bound_cidrs.clear()
    first.internal_meta["z"] = "1"
    second = store.lookup(made.id)
    assert second is not None and second.__dict__ == expected
    assert second.policies is not first.policies and second.meta is not first.meta
    second.policies = ["changed"]
    store.save(second)  # a new cached tuple: the remembered state is rebuilt, not reused
    third = store.lookup(made.id)
    assert third is not None and third.policies == ["changed"]


def test_peek_is_lookup_shared_and_without_the_id(harness: CoreHarness) -> None:
    store = harness.store
    made = store.create(TokenEntry(policies=["a"], ttl=3600, path="auth/token/create"))
    peeked = store.peek(made.id)
    looked = store.lookup(made.id)
    assert peeked is not None and looked is not None
    assert peeked.id == "" and {**peeked.__dict__, "id": made.id} == looked.__dict__
    assert store.peek(made.id) is peeked  # shared while the cached entry stays the same
    store.invalidate()  # dropped from the cache: filled again from storage
    refilled = store.peek(made.id)
    assert refilled is not None and refilled is not peeked and refilled.__dict__ == peeked.__dict__
    limited = store.create(TokenEntry(policies=["a"], num_uses=1, path="auth/token/create"))
    assert store.peek(limited.id) is not None
    assert store.use(store.lookup(limited.id)) is True  # the last use: revocation pending
    assert store.peek(limited.id) is None and store.lookup(limited.id) is None
    expiring = store.create(TokenEntry(policies=["a"], ttl=1, path="auth/token/create"))
    expiring.expire_time = time.time() - 1
    store.save(expiring)
    assert store.peek(expiring.id) is None and store.lookup(expiring.id) is None
    batch_token = store.create(_batch())
    assert store.lookup(batch_token.id) is not None and store.peek(batch_token.id) is None
    for other in ("", "hvr.AAAAAAAAAAAAAAAAAAAAAAAA", "hvs.unknown"):
        assert store.peek(other) is None
    store.revoke_tree(store.lookup(made.id))
    assert store.peek(made.id) is None
