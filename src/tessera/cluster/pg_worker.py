"""A worker process on PostgreSQL (``workers = N``, with or without HA): its feed and its role.

The worker reads the database itself (``PostgreSQLPhysical(reader=True)``) and follows the same
change feed a performance standby follows (``ha/feed.py``: its own connection, LISTEN/NOTIFY).
Two things come from its main process instead, through the mapped file (``shared_state.py``):

- the **unseal epoch**, with the keyring over the pipe (``pool.py``), as on SQLite;
- a **word the main process bumps** after each commit of its own (``PostgreSQLPhysical
  .publish_change``) and, on an HA standby, after each forwarded write's answer came back, in
  both cases before that answer is sent. A worker that sees the word change reads the feed
  once more before it serves anything (a read begun after the change sees every commit made
  before it): so once a client has the answer to a write, its next request, to any process of
  the node, sees it. Between writes the word stays still and a request costs no round trip.

While the feed's connection is down (or a read of it takes longer than ``SETTLE_SECONDS``) the
epoch reads 0: the worker drops its state and forwards everything, and builds its state again
from storage once the feed is back (the feed numbers a gap, as a performance standby's does).

A request carrying ``X-Vault-Index`` or ``X-Vault-Inconsistent`` goes to the main process, which
checks the index's signature and waits for, or forwards to, the active node (``ha/role.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..core.core import Core
from ..routing.router import Route
from ..storage.postgresql import PostgreSQLPhysical
from .ha.feed import PostgreSQLChangeFeed
from .ha.index_state import INDEX_HEADER
from .ha.role import INCONSISTENT_HEADER
from .interfaces import Forwarder
from .shared_state import SharedState
from .standby import UNMATCHED, Standby, Unmatched

SETTLE_SECONDS = 2.0  # a read of the feed a request waits for at most (then: forwarded)


class WorkerPostgreSQLFeed:
    """The worker's :class:`~.interfaces.ChangeFeed`: the database's feed, the main process's
    epoch, and a read of the feed whenever the main process says something committed."""

    def __init__(self, shared: SharedState, feed: PostgreSQLChangeFeed) -> None:
        self.shared = shared
        self.feed = feed
        self._told = 0  # the main process's word the feed was last read after

    def position(self) -> tuple[int, int]:
        told, epoch = self.shared.read()
        if told != self._told:
            if not self.feed.settle(SETTLE_SECONDS):
                return self.feed.position()[0], 0  # not read in time, or broken: forward
            self._told = told
        seq, following = self.feed.position()
        return seq, epoch if following else 0

    def changes_since(self, seq: int) -> list[tuple[int, str]]:
        return self.feed.changes_since(seq)

    def acknowledge(self, seq: int) -> None:
        self.feed.acknowledge(seq)


class WorkerStandby(Standby):
    """A PostgreSQL worker's role: a :class:`Standby` that leaves the cluster's read-your-writes
    headers to its main process."""

    def answer(
        self, serve: Callable[..., int], args: Sequence[Any], route: Route | Unmatched | None = UNMATCHED
    ) -> int:
        headers = args[4]
        if INDEX_HEADER in headers or INCONSISTENT_HEADER in headers:
            return self.forward(args)
        return super().answer(serve, args, route)


def worker_standby(
    core: Core, physical: PostgreSQLPhysical, shared: SharedState, forwarder: Forwarder
) -> Standby:
    """The worker's role over ``core`` (which reads ``physical``), its feed started."""
    feed = PostgreSQLChangeFeed(physical.dsn, physical.changes)
    standby = WorkerStandby(core, WorkerPostgreSQLFeed(shared, feed), forwarder)
    feed.start()
    return standby
