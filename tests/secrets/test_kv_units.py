"""The pure parts of the KV engines: Go-compatible text, merge patch, version windows, the upgrade.

Storage-touching parts run on the real in-memory physical store behind an unsealed barrier and a
StorageView (a view wraps a ``Storage``, as a mount's does).
"""

from __future__ import annotations

import os

import orjson
import pytest

from tessera.barrier.aes_gcm import Barrier
from tessera.gocompat.quote import go_quote
from tessera.secrets.kv.common import format_time, merge_patch, scan, weak_int, weak_string
from tessera.secrets.kv.store import Config, KeyMeta, V2Store, deletion_time
from tessera.storage.base import StorageView, TxnOp
from tessera.storage.inmem import InmemPhysical

NS = 1_000_000_000


class CountingPhysical(InmemPhysical):
    """The in-memory store, counting transactions (the upgrade must be exactly one)."""

    def __init__(self) -> None:
        super().__init__()
        self.transactions: list[list[TxnOp]] = []

    def transaction(self, ops: list[TxnOp]) -> None:
        self.transactions.append(list(ops))
        super().transaction(ops)


def _view(physical: InmemPhysical, prefix: str) -> StorageView:
    """A mount's view: ``prefix`` of an unsealed barrier over ``physical``."""
    barrier = Barrier(physical)
    key = os.urandom(32)
    barrier.initialize(key)
    barrier.unseal(key)
    return StorageView(barrier, prefix)


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, ""),
        (1795423587 * NS, "2026-11-23T08:46:27Z"),
        (1795423587 * NS + 921651369, "2026-11-23T08:46:27.921651369Z"),
        (1795423587 * NS + 939802360, "2026-11-23T08:46:27.93980236Z"),
        (1795423587 * NS + 500_000_000, "2026-11-23T08:46:27.5Z"),
    ],
)
def test_format_time_is_go_rfc3339_nano(ns: int, text: str) -> None:
    assert format_time(ns) == text


def test_go_quote() -> None:
    assert go_quote("c") == '"c"'
    assert go_quote('a"b\\') == '"a\\"b\\\\"'
    assert go_quote("a\tb\n") == '"a\\tb\\n"'
    assert go_quote("\x01") == '"\\x01"'
    assert go_quote("é ü") == '"é ü"'
    assert go_quote("\u00a0") == '"\\u00a0"'


def test_merge_patch_rfc7396() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    patch = {"a": "z", "c": {"f": None}, "l": [3], "n": {"x": None, "y": 1}}
    assert merge_patch(target, patch) == {"a": "z", "c": {"d": "e"}, "l": [3], "n": {"y": 1}}
    assert merge_patch({"a": 1}, {"a": None}) == {}
    assert merge_patch({"a": [1]}, {"a": {"b": 1}}) == {"a": {"b": 1}}
    assert merge_patch(None, {"a": 1}) == {"a": 1}
    assert target["c"] == {"d": "e", "f": "g"}, "the target is not modified in place"


def test_weak_conversions() -> None:
    assert weak_int("0x10") == 16
    assert weak_int("010") == 8
    assert weak_int("-3") == -3
    assert weak_int(None) == 0
    assert weak_int(2.9) == 2
    assert weak_int(True) == 1
    with pytest.raises(ValueError):
        weak_int("abc")
    assert weak_string(1) == "1"
    assert weak_string(True) == "1"
    assert weak_string(None) == ""
    assert weak_string(1.5) == "1.5"
    with pytest.raises(ValueError, match=r"got unconvertible type '\[\]interface \{\}'"):
        weak_string([1])


def test_version_window_default_and_limits() -> None:
    meta = KeyMeta(key="k")
    for i in range(10):
        _, pruned = meta.add_version(i + 1, 0, 0)
        assert pruned == []
    # The window is full at 10: oldest_version moves from 0 to 1 without a real version to drop.
    assert meta.oldest_version == 1
    _, pruned = meta.add_version(11, 0, 0)
    assert pruned == [1] and meta.oldest_version == 2 and min(meta.versions) == 2

    small = KeyMeta(key="s", max_versions=2)
    for i in range(4):
        small.add_version(i + 1, 0, 0)
    assert sorted(small.versions) == [3, 4] and small.oldest_version == 3
    # The larger of the key's and the mount's limit wins.
    small.add_version(5, 0, 3)
    assert sorted(small.versions) == [3, 4, 5]


def test_deletion_time_takes_the_smaller_setting() -> None:
    meta = KeyMeta(key="k")
    assert deletion_time(100 * NS, Config(), meta) == 0
    assert deletion_time(100 * NS, Config(delete_version_after=60), meta) == 160 * NS
    meta.delete_version_after = 30
    assert deletion_time(100 * NS, Config(delete_version_after=60), meta) == 130 * NS
    assert deletion_time(100 * NS, Config(delete_version_after=10), meta) == 110 * NS
    assert deletion_time(100 * NS, Config(delete_version_after=-1), meta) == 0


def test_metadata_document_round_trip() -> None:
    meta = KeyMeta(key="a/b", max_versions=3, custom_metadata={"t": "x"}, delete_version_after=90)
    meta.add_version(5 * NS, 0, 0)
    back = KeyMeta.from_json(orjson.loads(orjson.dumps(meta.to_json())))
    assert back == meta
    api = back.to_api()
    assert api["delete_version_after"] == "1m30s"
    assert api["versions"] == {
        "1": {"created_time": format_time(5 * NS), "deletion_time": "", "destroyed": False}
    }


def test_upgrade_moves_v1_keys_in_one_transaction() -> None:
    physical = CountingPhysical()
    view = _view(physical, "logical/uuid-1/")
    physical.transactions.clear()  # the barrier's own set-up
    view.put("a", orjson.dumps({"x": 1}))
    view.put("d/b", orjson.dumps({"y": "2", "ttl": "1h"}))
    store = V2Store("uuid-1/")
    assert store.ensure_layout(view) == 2
    assert len(physical.transactions) == 1
    assert view.get("a") is None and view.get("d/b") is None
    meta = store.meta(view, "d/b")
    assert meta is not None and meta.current_version == 1 and meta.oldest_version == 1
    assert store.version_data(view, "d/b", 1) == {"y": "2", "ttl": "1h"}
    assert store.list_keys(view, "") == ["a", "d/"]
    # Done once: building the backend again (unseal, remount) moves nothing.
    assert store.ensure_layout(view) == 0
    assert len(physical.transactions) == 1


def test_fresh_mount_only_writes_the_marker() -> None:
    view = _view(InmemPhysical(), "logical/uuid-2/")
    assert V2Store("uuid-2/").ensure_layout(view) == 0
    assert view.list_all("") == ["uuid-2/upgrading"]


def test_scan_walks_depth_first_like_openbao() -> None:
    view = _view(InmemPhysical(), "v/")
    for key in ("a", "big", "c/d", "c/e/f", "x/y", "zero"):
        view.put(key, b"{}")
    assert scan(view, "") == ["a", "big", "zero", "x/y", "c/d", "c/e/f"]
    assert scan(view, "c/") == ["d", "e/f"]
