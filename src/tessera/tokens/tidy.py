"""auth/token/tidy: repair what a crash between storage writes can leave behind.

Revocation writes several keys; if the process dies half-way, indexes can point at tokens that
no longer exist (or tokens outlive an expiry nobody scheduled). Tidy walks the parent index, the
accessor index, the token entries and the cubbyholes and removes every dangling piece.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import orjson

from ..storage.base import Storage, StorageView, TxnOp, scan_all
from ..storage.keyset import KeySet
from .entry import TokenEntry
from .host import TokenHost
from .store import TokenStore

log = logging.getLogger("tessera.tokens.tidy")

TIDY_STARTED = (
    "Tidy operation successfully started. Any information from the operation will be printed to "
    "Tessera's server logs."
)
TIDY_RUNNING = "Tidy operation already in progress."

_tidy_lock = threading.Lock()
SCAN_PAGE = 2000


@dataclass
class TidyReport:
    parent_entries_removed: int = 0
    children_orphaned: int = 0
    accessors_removed: int = 0
    expired_revoked: int = 0
    cubbyholes_removed: int = 0


def start_tidy(core: TokenHost) -> bool:
    """Run tidy in the background; False when one is already running."""
    if not _tidy_lock.acquire(blocking=False):
        return False

    def run() -> None:
        try:
            report = tidy(core)
            log.info("token tidy finished: %s", report)
        except Exception:
            log.exception("token tidy failed")
        finally:
            _tidy_lock.release()

    threading.Thread(target=run, name="tessera-token-tidy", daemon=True).start()
    return True


class _Deleter:
    """Deletes collected and committed a page at a time (one commit per entry took minutes)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.ops: list[TxnOp] = []

    def delete(self, key: str) -> None:
        self.ops.append(TxnOp(key, None))
        if len(self.ops) >= SCAN_PAGE:
            self.flush()

    def flush(self) -> None:
        if self.ops:
            self.storage.transaction(self.ops)
            self.ops = []


def tidy(core: TokenHost) -> TidyReport:
    """Token entries are read once, a page per query; the indexes are checked against what that
    read saw, and only an entry that looks dangling costs a lookup of its own."""
    store = core.tokens
    storage = store.storage
    report = TidyReport()
    # Snapshot the cubbyholes first: a token created while tidy runs then cannot lose its own.
    cubby_views = [
        StorageView(core.barrier, mount.storage_prefix) for mount in core.mounts if mount.type == "cubbyhole"
    ]
    cubby_keys = [(view, view.list("")) for view in cubby_views]
    in_use = {key.rstrip("/") for _, keys in cubby_keys for key in keys}

    # 1. Expired entries the ticker has not reached (e.g. written by a crashed node).
    live, valid_cubbyholes = _scan_entries(store, storage, report, in_use)

    def gone(salted_id: str) -> bool:
        if salted_id in live:
            return False
        return store.lookup_salted(salted_id, allow_expired=True, tainted=True) is None

    # 2. Parent index: entries under a parent that is gone, or pointing at a child that is gone.
    deleter = _Deleter(storage)
    parents_gone: dict[str, bool] = {}
    for key, _ in scan_all(storage, "parent/", SCAN_PAGE):
        parent_id, _, child = key[len("parent/") :].partition("/")
        if parent_id not in parents_gone:
            parents_gone = {parent_id: gone(parent_id)}  # the index is sorted by parent
        child_gone = gone(child)
        if not child_gone and not parents_gone[parent_id]:
            continue
        if not child_gone:
            child_entry = store.lookup_salted(child, allow_expired=True, tainted=True)
            if child_entry is not None and child_entry.parent == parent_id:
                child_entry.parent = ""
                store.save(child_entry)
                report.children_orphaned += 1
        deleter.delete(key)
        report.parent_entries_removed += 1
    deleter.flush()

    # 3. Accessor index: accessors whose token is gone lose their leases and the index entry.
    for key, raw in scan_all(storage, "accessor/", SCAN_PAGE):
        doc = orjson.loads(raw) or {}
        salted_id = doc.get("salted_id", "")
        if salted_id and not gone(salted_id):
            continue
        ghost = TokenEntry(salted_id=salted_id, accessor=doc.get("accessor", ""))
        for hook in store.revoke_hooks:
            try:
                hook(ghost)
            except Exception:
                log.exception("tidy: revoking leases of a vanished token failed")
        deleter.delete(key)
        report.accessors_removed += 1
    deleter.flush()

    # 4. Cubbyholes of tokens that no longer exist.
    for view, keys in cubby_keys:
        for key in keys:
            cubby = key.rstrip("/")
            if cubby not in valid_cubbyholes:
                view.delete_prefix(cubby + "/")
                if not key.endswith("/"):
                    view.delete(key)
                report.cubbyholes_removed += 1
    return report


def _scan_entries(
    store: TokenStore, storage: Storage, report: TidyReport, in_use: set[str]
) -> tuple[KeySet, set[str]]:
    """Read every token entry without filling the token cache: revoke the expired ones, note the
    live ones and which of the cubbyholes in use belong to a live token."""
    now = time.time()
    live = KeySet()
    valid_cubbyholes: set[str] = set()
    for key, raw in scan_all(storage, "id/", SCAN_PAGE):
        doc = orjson.loads(raw)
        expire = float(doc.get("expire_time") or 0)
        if expire > 0 and now >= expire:
            store.revoke_tree_salted(key[len("id/") :])
            report.expired_revoked += 1
            continue
        live.add(key[len("id/") :])
        cubby = doc.get("cubbyhole_id")
        if cubby and cubby in in_use:
            valid_cubbyholes.add(cubby)
    live.freeze()
    return live, valid_cubbyholes
