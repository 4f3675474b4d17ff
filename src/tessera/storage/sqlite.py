"""SQLite physical storage (WAL) with group commit by one committer thread.

A writer hands its transaction to the committer and goes on; the committer applies every
pending transaction in one SQLite transaction and commits it with ``synchronous=FULL`` (one
fsync of the WAL for all of them). Until then the writes live in an overlay that every read
consults first, so a thread always reads what it wrote, and what anyone wrote before it.
On a 2-core machine this moves SQLite's own work (B-tree updates, WAL writes, the fsync:
~150 µs of CPU per service token) off the thread that runs requests.

Who waits for the commit:
- by default the writer: :meth:`transaction` returns once its commit is durable;
- a request served on the threaded listener instead defers its acknowledgement
  (:func:`~tessera.storage.base.deferred_acknowledgement`): its write returns at once, the
  thread goes on to the next request, and the answer is sent by :meth:`after_durable` once every
  transaction handed over before the answer was ready is committed. Answers are held whenever
  any commit is pending, so no client ever sees state a crash could take back.

A commit that fails (a full disk, an I/O error) stops the storage: every waiting answer gets the
error and no later write is accepted, since requests already saw the lost writes through the
overlay and caches. Reads go on; a restart resumes from what is on disk.
"""

from __future__ import annotations

import builtins
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable

from ..runtime.gate import stepping_aside
from ..runtime.scheduling import wake_promptly
from . import changefeed
from .base import Physical, TxnOp, acknowledgement_deferred, children

log = logging.getLogger("tessera.storage")

_HIGH = "\U0010ffff"
# Transactions between checkpoints of the WAL into the database (run off the commit path).
CHECKPOINT_EVERY = 1000
# Past this size the committer runs a TRUNCATE checkpoint between two commits (new writes wait
# for it): under continuous load the PASSIVE ones never let the WAL start over, and it grew to
# gigabytes. The passive checkpoints have copied most of it already, so the pause is short.
WAL_LIMIT = 64 * 1024 * 1024

Ready = Callable[[BaseException | None], None]

# Rows per statement when a commit applies its batch (well under SQLite's variable limit).
_ROWS_PER_STATEMENT = 64


def _apply_batch(conn: sqlite3.Connection, batch: list[tuple[int, list[TxnOp]]]) -> None:
    """Every transaction of a commit as a few multi-row statements, not one per key.

    Each statement releases the GIL while SQLite runs and must take it back after: with the
    runner busy serving requests, every take-back waited for a request to end. Applied one row at
    a time a commit of 16 service tokens (48 rows) spent ~9 ms in those waits instead of ~0.6 ms
    of work, and every held answer waited with it; as one statement per 64 rows, ~1.9 ms
    (measured with a thread serving 300 µs requests beside it). Inside one SQLite transaction only
    each key's last write matters, so the batch is reduced to it first: the deletes and the
    upserts then touch different keys, and their order no longer matters.
    """
    final: dict[str, bytes | None] = {}
    for _, ops in batch:
        for op in ops:
            final[op.key] = op.value
    deletes = [key for key, value in final.items() if value is None]
    upserts = [item for item in final.items() if item[1] is not None]
    step = _ROWS_PER_STATEMENT
    for i in range(0, len(deletes), step):
        keys = deletes[i : i + step]
        conn.execute(_delete_sql(len(keys)), keys)
    for i in range(0, len(upserts), step):
        rows = upserts[i : i + step]
        conn.execute(_upsert_sql(len(rows)), [part for row in rows for part in row])


@functools.lru_cache(maxsize=_ROWS_PER_STATEMENT)
def _delete_sql(count: int) -> str:
    return "DELETE FROM entries WHERE key IN (" + ",".join("?" * count) + ")"


@functools.lru_cache(maxsize=_ROWS_PER_STATEMENT)
def _upsert_sql(count: int) -> str:
    return (
        "INSERT INTO entries(key, value) VALUES "
        + ",".join(["(?, ?)"] * count)
        + " ON CONFLICT(key) DO UPDATE SET value = excluded.value"
    )


_KEYS_PER_SELECT = 500  # well under SQLite's bound-parameter limit


def get_rows(conn: sqlite3.Connection, keys: list[str]) -> dict[str, bytes]:
    """The committed values of those ``keys`` that exist, ``_KEYS_PER_SELECT`` per query: the
    batch read of both the writing backend and a standby's reader."""
    found: dict[str, bytes] = {}
    for start in range(0, len(keys), _KEYS_PER_SELECT):
        chunk = keys[start : start + _KEYS_PER_SELECT]
        marks = ",".join("?" * len(chunk))
        for key, value in conn.execute(f"SELECT key, value FROM entries WHERE key IN ({marks})", chunk):
            found[key] = bytes(value)
    return found


def scan_rows(conn: sqlite3.Connection, prefix: str, after: str, limit: int) -> list[tuple[str, bytes]]:
    """One page of committed ``(key, value)`` rows under ``prefix`` after ``after``, in key order:
    the query of both the writing backend and a standby's reader."""
    rows: list[tuple[str, bytes]] = conn.execute(
        "SELECT key, value FROM entries WHERE key > ? AND key >= ? AND key < ? ORDER BY key LIMIT ?",
        (after, prefix, prefix + _HIGH, limit),
    ).fetchall()
    return rows


class SQLitePhysical(Physical):
    name = "sqlite"

    def __init__(
        self,
        path: str,
        before_commit: Callable[[], None] | None = None,
        wal_limit: int = WAL_LIMIT,
    ) -> None:
        self.path = path
        self.wal_path = path + "-wal"
        self.wal_limit = wal_limit
        self._before_commit = before_commit  # tests hold or slow the commit with it
        self._local = threading.local()
        self._all_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        writer = self._connect()
        writer.execute("PRAGMA journal_mode=WAL")
        # A rowid table: rows are appended in rowid order and only the small key index takes
        # random inserts, so a commit dirties fewer pages than with the values themselves kept in
        # key order (WITHOUT ROWID, which databases created before still use; both read the
        # same). Measured with 48-row commits: ~20% less work and WAL to fsync per commit, and
        # durable service-token creation ~25% faster under load.
        writer.execute("CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        writer.execute(changefeed.CREATE_CHANGES)  # filled only while worker processes run
        # Checkpoints run on their own thread (below): SQLite's automatic one would run inside a
        # commit, copying the WAL into the database and fsyncing it while every answer waits.
        writer.execute("PRAGMA wal_autocheckpoint=0")
        # A WAL that SQLite restarts is cut back to this size rather than kept at its peak.
        writer.execute(f"PRAGMA journal_size_limit={int(wal_limit)}")
        self._writer = writer
        self._checkpoint_due = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="sqlite-checkpoint", daemon=True
        )
        self._cond = threading.Condition()
        self._queue: list[tuple[int, list[TxnOp]]] = []
        # Handed over, not yet committed: key -> (sequence, value or None for a delete).
        self._overlay: dict[str, tuple[int, bytes | None]] = {}
        self._written = 0  # transactions handed over (sequence numbers)
        self._synced = 0  # transactions committed
        self._failure: BaseException | None = None
        self._held: list[tuple[int, Ready]] = []
        self._closed = False
        # Transactions committed and commits (fsyncs) made: their ratio is how well writers batch.
        self.transactions = 0
        self.commits = 0
        self.checkpoints = 0
        self._checkpointed_at = 0
        # WAL restarts (TRUNCATE checkpoints) and how long writes waited for them, in seconds.
        self.wal_restarts = 0
        self.wal_pause_total = 0.0
        self.wal_pause_max = 0.0
        # Set while worker processes read this database (changefeed.py): commits log their keys.
        self._feed: changefeed.Publisher | None = None
        self._thread = threading.Thread(target=self._commit_loop, name="sqlite-committer", daemon=True)
        self._thread.start()
        self._checkpointer.start()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=30,
            check_same_thread=False,
            isolation_level=None,
            cached_statements=256,  # room for every batch statement size (_apply_batch)
        )
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        with self._conns_lock:
            self._all_conns.append(conn)
        return conn

    def enable_change_feed(self, shared: changefeed.Publisher) -> int:
        """From now on every commit logs its keys and publishes its sequence to ``shared``.

        Returns the newest sequence already in the log (workers start from there). Called
        before any worker starts; whatever was committed before is in their first read anyway.
        """
        self.wait_durable()
        newest = changefeed.newest(self._reader())
        shared.publish_sequence(newest)
        self._feed = shared
        return newest

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    # -- reads (the overlay first: it is newer than anything on disk) ----------------------
    def get(self, key: str) -> bytes | None:
        pending = self._overlay.get(key)
        if pending is not None:
            return pending[1]
        row = self._reader().execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def get_many(self, keys: builtins.list[str]) -> dict[str, bytes]:
        """One query per chunk of keys; a write not yet committed answers for its key, as in ``get``."""
        overlay = self._overlay
        pending = {key: entry[1] for key in keys if (entry := overlay.get(key)) is not None}
        found = get_rows(self._reader(), [key for key in keys if key not in pending])
        found.update((key, value) for key, value in pending.items() if value is not None)
        return found

    def _range(self, prefix: str) -> list[str]:
        # The overlay is read before the table: a write committed in between is in one or both.
        pending = [(k, v[1] is not None) for k, v in list(self._overlay.items()) if k.startswith(prefix)]
        rows = self._reader().execute(
            "SELECT key FROM entries WHERE key >= ? AND key < ? ORDER BY key", (prefix, prefix + _HIGH)
        )
        keys = [r[0] for r in rows]
        if not pending:
            return keys
        merged = set(keys)
        for key, present in pending:
            if present:
                merged.add(key)
            else:
                merged.discard(key)
        return sorted(merged)

    def list(self, prefix: str) -> list[str]:
        return children(prefix, self._range(prefix))

    def scan(
        self, prefix: str, after: str, limit: int
    ) -> tuple[builtins.list[tuple[str, bytes]], str | None]:
        """One query per page; writes not yet committed are merged in as reads see them."""
        pending = [(k, v[1]) for k, v in list(self._overlay.items()) if k.startswith(prefix) and k > after]
        rows = scan_rows(self._reader(), prefix, after, limit)
        following = rows[-1][0] if len(rows) == limit else None
        page = {k: bytes(v) for k, v in rows}
        for key, value in pending:
            if following is None or key <= following:
                if value is None:
                    page.pop(key, None)
                else:
                    page[key] = value
        return sorted(page.items()), following

    def list_all(self, prefix: str) -> builtins.list[str]:
        return self._range(prefix)

    # -- writes ----------------------------------------------------------------------
    def put(self, key: str, value: bytes) -> None:
        self.transaction([TxnOp(key, value)])

    def delete(self, key: str) -> None:
        self.transaction([TxnOp(key, None)])

    def transaction(self, ops: builtins.list[TxnOp]) -> None:
        if not ops:
            return
        for op in ops:
            if op.value is not None and not isinstance(op.value, (bytes, bytearray, memoryview)):
                raise TypeError(f"storage values are bytes, not {type(op.value).__name__}")
        with self._cond:
            if self._closed:
                raise RuntimeError("storage is closed")
            if self._failure is not None:
                raise OSError(f"storage commit failed: {self._failure}")
            self._written += 1
            sequence = self._written
            self._overlay.update({op.key: (sequence, op.value) for op in ops})
            self._queue.append((sequence, list(ops)))
            self._cond.notify_all()
        if acknowledgement_deferred():
            return  # the answer waits instead (after_durable)
        self._wait_committed(sequence)

    def _wait_committed(self, sequence: int) -> None:
        with self._cond:
            if self._synced >= sequence:
                return
        with stepping_aside(), self._cond:  # other requests run and join this commit meanwhile
            while self._synced < sequence and self._failure is None:
                self._cond.wait()
            failure = self._failure if self._synced < sequence else None
        if failure is not None:
            raise OSError(f"storage commit failed: {failure}") from failure

    def after_durable(self, ready: Ready) -> bool:
        """Call ``ready`` once every transaction handed over so far is committed; False if they
        all are already. After a failed commit ``ready`` gets the failure at once."""
        with self._cond:
            failure = self._failure
            if failure is None:
                if self._synced >= self._written:
                    return False
                self._held.append((self._written, ready))
                return True
        ready(failure)
        return True

    def wait_durable(self) -> None:
        with self._cond:
            sequence = self._written
        self._wait_committed(sequence)

    # -- the committer -------------------------------------------------------------------
    def _commit_loop(self) -> None:
        wake_promptly()  # it releases held answers (runtime/scheduling.py)
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return  # closed, and nothing left to commit
                batch, self._queue = self._queue, []
            failure = self._commit(batch)
            last = batch[-1][0]
            with self._cond:
                if failure is None:
                    self._synced = last
                    for sequence, ops in batch:
                        for op in ops:
                            pending = self._overlay.get(op.key)
                            if pending is not None and pending[0] <= sequence:
                                del self._overlay[op.key]  # on disk now, and not written since
                    ready = [cb for seq, cb in self._held if seq <= last]
                    self._held = [h for h in self._held if h[0] > last]
                else:
                    self._failure = failure
                    self._overlay.clear()
                    self._queue.clear()
                    ready, self._held = [cb for _, cb in self._held], []
                self._cond.notify_all()
            for callback in ready:
                try:
                    callback(failure)
                except Exception:
                    log.exception("sending a held answer failed")
            if failure is not None:
                return
            if self._wal_size() > self.wal_limit:
                self._restart_wal()

    def _wal_size(self) -> int:
        try:
            return os.stat(self.wal_path).st_size
        except OSError:
            return 0

    def _restart_wal(self) -> None:
        """Copy the whole WAL into the database and truncate it, holding new commits meanwhile.

        Runs on the committer between two commits, so no writer is active; readers only delay it
        (SQLite's busy handler waits for them). A checkpoint that still cannot finish is retried
        after the next commit.
        """
        started = time.perf_counter()
        try:
            busy, _, _ = self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:
            log.warning("WAL restart failed (retried after the next commit): %s", exc)
            return
        pause = time.perf_counter() - started
        self.wal_pause_total += pause
        self.wal_pause_max = max(self.wal_pause_max, pause)
        if busy:
            log.warning("WAL restart blocked by a reader after %.3fs; retried after the next commit", pause)
            return
        self.wal_restarts += 1
        log.debug("WAL truncated in %.1f ms", pause * 1000)

    def wal_stats(self) -> dict[str, float]:
        """What the WAL costs: its size now, restarts made, and the writes' waits for them."""
        return {
            "wal_bytes": self._wal_size(),
            "wal_restarts": self.wal_restarts,
            "wal_pause_max_ms": round(self.wal_pause_max * 1000, 3),
            "wal_pause_total_ms": round(self.wal_pause_total * 1000, 3),
        }

    def _commit(self, batch: builtins.list[tuple[int, builtins.list[TxnOp]]]) -> BaseException | None:
        conn = self._writer
        try:
            if self._before_commit is not None:
                self._before_commit()
            conn.execute("BEGIN IMMEDIATE")
            _apply_batch(conn, batch)
            feed, logged = self._feed, 0
            if feed is not None:
                logged = changefeed.record(conn, {op.key: None for _, ops in batch for op in ops})
                if self.commits % changefeed.PRUNE_EVERY == 0:
                    changefeed.prune(conn, logged, feed.readers_seen())
            conn.execute("COMMIT")  # synchronous=FULL: the WAL is fsynced here, once for all
            if feed is not None and logged:
                feed.publish_sequence(logged)  # before _commit_loop sends the answers it held
        except BaseException as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            log.critical("SQLite commit failed; storage no longer accepts writes: %s", exc)
            return exc
        self.commits += 1
        self.transactions += len(batch)
        if self.transactions - self._checkpointed_at >= CHECKPOINT_EVERY:
            self._checkpointed_at = self.transactions
            self._checkpoint_due.set()
        return None

    def _checkpoint_loop(self) -> None:
        """PASSIVE checkpoints: they copy what no reader still needs and never block the writer."""
        conn: sqlite3.Connection | None = None
        while True:
            self._checkpoint_due.wait()
            self._checkpoint_due.clear()
            if self._closed:
                return
            try:
                conn = conn or self._connect()
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self.checkpoints += 1
            except sqlite3.Error as exc:
                log.warning("WAL checkpoint failed (the next one retries): %s", exc)

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=30)
        self._checkpoint_due.set()
        self._checkpointer.join(timeout=30)
        with self._conns_lock:
            for conn in self._all_conns:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all_conns.clear()
