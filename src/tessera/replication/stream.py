"""A secondary's stream: the primary's log, applied in order, from where it last stopped.

A thread asks the primary's replication listener for the records after ``last_remote_wal`` and
writes each record's keys as the primary stores them (ciphertext: the keyring is shared; below
the storage tap, where ``guard.py`` refuses other writes of replicated keys), then
tells the core which keys changed so its caches drop them. The index it has reached is kept
behind the barrier, so a restart resumes there. A primary that no longer keeps those records
answers 409: the secondary copies the primary's keyspace again (its own local keys stay) and
streams on from the index that copy is current to. A stream started at index -1 (a secondary
given a new primary by update-primary) makes that copy first.

Each page also says which hash (``merkle_root``) the primary expects at its ``last_wal``. Once the
stream has applied everything up to there, it compares its own: a difference (drift, or a paths
filter changed on the primary) is repaired by the same copy, at most once per ``REPAIR_EVERY``.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..storage.base import TxnOp
from ..storage.tap import TappedPhysical
from .channel import ChannelError, request_json
from .secondary import mtls_context

log = logging.getLogger("tessera.replication")

POLL = 0.005  # seconds before asking again for records the primary counts but could not read yet
LINGER = 0.01  # seconds before asking again after records that caught up: the next page gathers more
RETRY = 0.25  # seconds between attempts while the primary cannot be reached (or after an error)
SAVE_EVERY = 2.0  # seconds between saves of the index reached
REPAIR_EVERY = 5.0  # seconds at least between two copies made because the hashes differed


class Stream:
    """Follows one primary; ``applied(keys)`` after each record, ``reached(index)`` now and then."""

    def __init__(
        self,
        tap: TappedPhysical,
        kind: str,
        connection: dict[str, Any],
        start: int,
        applied: Callable[[list[TxnOp]], None],
        reached: Callable[[int], None],
        resync: Callable[[Any], int],
        root: Callable[[], str],
    ) -> None:
        self.tap = tap
        self.kind = kind
        self.connection = connection
        self.context = mtls_context(connection)  # also what forwarded requests go out with
        self.last_remote_wal = start
        self.applied = applied
        self.reached = reached
        self.resync = resync  # copies the primary's keyspace again; the index it is current to
        self.root = root  # the hash of what this secondary holds
        self.corrupted = False  # the last comparison found a difference
        self.last_check = 0.0  # when the hashes were last compared (0: never)
        self._last_repair = -REPAIR_EVERY
        self.state = "stream-wals"
        self.connection_state = "connecting"
        self._down = False  # the last attempt failed: it was logged
        self.primary_wal = 0  # the primary's index its last page named
        self.failures = 0  # requests to the primary that failed: a waiting forwarded write stops waiting
        self.last_heartbeat = 0.0
        self._stop = threading.Event()
        self._advanced = threading.Condition()  # notified whenever last_remote_wal moves
        self._thread = threading.Thread(target=self._run, name=f"replication-{kind}-stream", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait_for(self, wal: int, timeout: float) -> bool:
        """Whether the stream applied every record up to ``wal`` within ``timeout`` seconds; False
        as soon as it loses its primary meanwhile (the record comes once the primary is back)."""
        with self._advanced:
            failures = self.failures
            self._advanced.wait_for(lambda: self.last_remote_wal >= wal or self.failures != failures, timeout)
            return self.last_remote_wal >= wal

    def _moved(self) -> None:
        with self._advanced:
            self._advanced.notify_all()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.reached(self.last_remote_wal)

    def _run(self) -> None:
        context = self.context
        saved, saved_at = self.last_remote_wal, time.monotonic()
        while not self._stop.is_set():
            before = self.last_remote_wal
            try:
                more = (
                    self._start_over(context, "follows a new primary")
                    if self.last_remote_wal < 0
                    else self._step(context)
                )
            except ChannelError as exc:
                more = self._failed(context, exc)
            except Exception:
                log.exception("replication stream failed to apply a record")
                self.connection_state = "connecting"
                more = False
            if self.last_remote_wal != saved and time.monotonic() - saved_at > SAVE_EVERY:
                saved, saved_at = self.last_remote_wal, time.monotonic()
                self.reached(saved)
            if not more:
                self._stop.wait(RETRY if self.connection_state != "ready" else POLL)
            elif before < self.last_remote_wal >= self.primary_wal:
                self._stop.wait(LINGER)  # one log page per write under load cost the primary ~50% more CPU

    def _failed(self, context: Any, exc: ChannelError) -> bool:
        """The primary refused or could not be reached (once per outage in the log: a primary
        failing over to another node is a few seconds of refused connections)."""
        self.connection_state = "connecting"
        if exc.status == 409:
            return self._start_over(context, f"fell behind the primary's log ({exc})")
        if not self._down:
            log.warning("replication stream: %s (retrying)", exc)
        self._down = True
        with self._advanced:
            self.failures += 1
            self._advanced.notify_all()
        return False

    def _start_over(self, context: Any, why: str) -> bool:
        """Behind the primary's log, drifted, or a new primary (index -1): copy its keyspace, then
        stream from there."""
        if self.last_remote_wal >= 0:
            log.warning("replication stream %s: copying its data again", why)
        elif not self._down:  # once, not at every retry while the new primary cannot be reached
            log.warning("replication stream %s: copying its data", why)
        self.state = "bootstrapping"
        try:
            self.last_remote_wal = self.resync(context)
        except ChannelError as exc:
            if not self._down:
                log.warning("replication stream: copying the primary's data failed: %s (retrying)", exc)
            self._down = True
            return False
        self.connection_state, self.last_heartbeat, self._down = "ready", time.time(), False
        self.state = "stream-wals"
        self.reached(self.last_remote_wal)
        self._moved()
        return True

    def _step(self, context: Any) -> bool:
        """Apply one page of records; True to ask again at once (records came, or the long poll
        waited for one in vain), False when the primary counts records it could not read yet."""
        query = {"kind": self.kind, "after": self.last_remote_wal}
        page = request_json(
            self.connection["primary_cluster_addr"],
            "GET",
            "/v1/replication/log",
            context=context,
            query=query,
        )
        self.connection_state, self.last_heartbeat, self._down = "ready", time.time(), False
        for record in page["records"]:
            ops = [
                TxnOp(key, None if value is None else base64.b64decode(value)) for key, value in record["ops"]
            ]
            if ops:
                self.tap.inner.transaction(ops)  # below the tap: past a secondary's guard
                self.applied(ops)
            self.last_remote_wal = int(record["wal"])
        if page["records"]:
            self._moved()
        last_wal, root = int(page["last_wal"]), page.get("merkle_root")
        self.primary_wal = last_wal
        if isinstance(root, str) and self.last_remote_wal == last_wal:
            return self._compare(context, root)
        return bool(page["records"]) or self.last_remote_wal >= last_wal

    def _compare(self, context: Any, expected: str) -> bool:
        """Up to the primary's index: the hashes must match; a copy repairs them if not. True to
        ask again at once (the primary's long poll waits for the next record)."""
        self.last_check = time.time()
        mine = self.root()
        self.corrupted = mine != expected
        if not self.corrupted or time.monotonic() - self._last_repair < REPAIR_EVERY:
            return True
        self._last_repair = time.monotonic()
        return self._start_over(context, f"holds hash {mine}, the primary expects {expected}")
