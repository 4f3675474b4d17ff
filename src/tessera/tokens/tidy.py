"""auth/token/tidy: repair what a crash between storage writes can leave behind.

Revocation writes several keys; if the process dies half-way, indexes can point at tokens that
no longer exist (or tokens outlive an expiry nobody scheduled). Tidy walks the parent index, the
accessor index, the token entries and the cubbyholes and removes every dangling piece.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from ..storage.base import Storage, StorageView
from .entry import TokenEntry

if TYPE_CHECKING:
    from ..core.core import Core

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


def start_tidy(core: Core) -> bool:
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


def _scan(storage: Storage, prefix: str) -> Iterator[tuple[str, bytes]]:
    after = ""
    while True:
        page, following = storage.scan(prefix, after, SCAN_PAGE)
        yield from page
        if following is None:
            return
        after = following


def tidy(core: Core) -> TidyReport:
    store = core.tokens
    storage = store.storage
    report = TidyReport()
    now = time.time()
    # Snapshot the cubbyholes first: a token created while tidy runs then cannot lose its own.
    cubby_views = [
        StorageView(core.barrier, mount.storage_prefix) for mount in core.mounts if mount.type == "cubbyhole"
    ]
    cubby_keys = [(view, view.list("")) for view in cubby_views]

    # 1. Parent index: entries under a parent that is gone, or pointing at a child that is gone.
    for parent in storage.list("parent/"):
        parent_id = parent.rstrip("/")
        parent_alive = store.lookup_salted(parent_id, allow_expired=True, tainted=True) is not None
        for child in storage.list(f"parent/{parent}"):
            child_entry = store.lookup_salted(child, allow_expired=True, tainted=True)
            if child_entry is not None and parent_alive:
                continue
            if child_entry is not None and child_entry.parent == parent_id:
                child_entry.parent = ""
                store.save(child_entry)
                report.children_orphaned += 1
            storage.delete(f"parent/{parent}{child}")
            report.parent_entries_removed += 1

    # 2. Expired entries the ticker has not reached (e.g. written by a crashed node). Read in
    # pages (one query per SCAN_PAGE tokens, not one each), without filling the token cache.
    valid_cubbyholes: set[str] = set()
    for key, raw in _scan(storage, "id/"):
        doc = orjson.loads(raw)
        expire = float(doc.get("expire_time") or 0)
        if expire > 0 and now >= expire:
            store.revoke_tree_salted(key[len("id/") :])
            report.expired_revoked += 1
        elif doc.get("cubbyhole_id"):
            valid_cubbyholes.add(doc["cubbyhole_id"])

    # 3. Accessor index: accessors whose token is gone lose their leases and the index entry.
    for full_key, raw in _scan(storage, "accessor/"):
        key = full_key[len("accessor/") :]
        doc = orjson.loads(raw)
        salted_id = (doc or {}).get("salted_id", "")
        entry = store.lookup_salted(salted_id, allow_expired=True, tainted=True) if salted_id else None
        if entry is None:
            ghost = TokenEntry(salted_id=salted_id, accessor=(doc or {}).get("accessor", ""))
            for hook in store.revoke_hooks:
                try:
                    hook(ghost)
                except Exception:
                    log.exception("tidy: revoking leases of a vanished token failed")
            storage.delete("accessor/" + key)
            report.accessors_removed += 1

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
