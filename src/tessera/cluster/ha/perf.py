"""A performance standby: an unsealed standby serving from state of its own what writes nothing.

As Vault's performance standbys: KV reads, token lookups, transit, batch tokens and logins that
write nothing are answered here; writes, ``sys/`` and everything while audit devices or quotas
are configured go to the active node. The state and its sync are a worker process's
(``cluster/standby.py``, ``cluster/follower.py``), fed by PostgreSQL's change feed
(``feed.py``); this module moves them with the node's role (``node.py``): built while the node
is a standby, dropped before it builds the active node's state, built again when it loses the
lock. ``disable_performance_standby = true`` turns it off (every request is forwarded).
"""

from __future__ import annotations

from ...core.core import Core
from ..standby import Standby
from .feed import PostgreSQLChangeFeed
from .forwarder import ActiveForwarder

SETTLE_SECONDS = 2.0  # a forwarded write's answer waits this long at most for the feed


class PerformanceStandby:
    """The standby's state, its feed, and the transitions between roles."""

    def __init__(self, core: Core, dsn: str, changes: str, forwarder: ActiveForwarder) -> None:
        self.core = core
        self.feed = PostgreSQLChangeFeed(dsn, changes)
        self.standby = Standby(core, self.feed, forwarder, keyrings=False)
        self.feed.on_start = self.standby.follower.caught_up

    @property
    def serving(self) -> bool:
        """Whether the feed runs (the node is an unsealed standby): reads may be served here."""
        return self.feed.position()[1] != 0

    def start(self) -> None:
        """The node is a standby now: follow the feed and build the state (on the feed's thread)."""
        self.feed.start()

    def stop(self) -> None:
        """The node becomes active or leaves the cluster: no request is served from this state
        any more (they wait for the exclusive hold), and what it built is dropped."""
        self.feed.stop()
        follower = self.standby.follower
        with follower.lock.exclusive:
            follower.epoch = 0
            if not self.core.sealed:
                self.core.release_state()

    def settle(self) -> None:
        """A forwarded request's answer is about to go out: its writes reach this node first."""
        self.feed.settle(SETTLE_SECONDS)

    def close(self) -> None:
        self.feed.close()
