"""A performance standby's change feed on real PostgreSQL: keys arrive numbered, a client's write
is in the feed before ``settle`` returns, and a lost connection leaves a gap (the follower
rebuilds) rather than silently missed keys."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from psycopg.conninfo import conninfo_to_dict

from tessera.cluster.ha.feed import GAP_KEY, PostgreSQLChangeFeed
from tessera.storage.postgresql import PostgreSQLPhysical
from tests.helpers.pg_physical import active_physical
from tests.helpers.postgres import Postgres
from tests.helpers.waiting import until

pytestmark = pytest.mark.postgres


@pytest.fixture
def active(postgres: Postgres) -> Iterator[PostgreSQLPhysical]:
    with postgres.fresh_database("feed") as (_, dsn):
        physical = active_physical(dsn)
        try:
            yield physical
        finally:
            physical.close()


@pytest.fixture
def feed(active: PostgreSQLPhysical) -> Iterator[PostgreSQLChangeFeed]:
    made = PostgreSQLChangeFeed(active.dsn, active.changes)
    started: list[int] = []
    made.on_start = lambda: started.append(made.position()[1])
    made.start()
    until(lambda: started, "the feed's first read")
    assert started == [made.position()[1]] and started[0] > 0
    try:
        yield made
    finally:
        made.close()


def test_a_write_is_in_the_feed_when_settle_returns(
    active: PostgreSQLPhysical, feed: PostgreSQLChangeFeed
) -> None:
    seen = feed.position()[0]
    for n in range(20):
        active.put(f"k{n}", b"v")
        assert feed.settle(2.0)
        rows = feed.changes_since(seen)
        assert [key for _, key in rows] == [f"k{n}"] and rows[0][0] == seen + 1
        seen = rows[-1][0]
        feed.acknowledge(seen)
        assert feed.changes_since(0) == []


def test_a_notification_wakes_the_feed_before_its_poll(
    active: PostgreSQLPhysical, feed: PostgreSQLChangeFeed
) -> None:
    seen = feed.position()[0]
    time.sleep(0.1)
    started = time.monotonic()
    active.put("woken", b"v")
    until(lambda: feed.position()[0] > seen, "the key")
    assert time.monotonic() - started < 0.5  # not the 1 s poll


def test_a_lost_connection_leaves_a_gap(
    active: PostgreSQLPhysical, feed: PostgreSQLChangeFeed, postgres: Postgres
) -> None:
    seen, epoch = feed.position()
    dbname = str(conninfo_to_dict(active.dsn)["dbname"])
    assert postgres.terminate(dbname, "tessera-ha-feed") == 1
    active.put("lost", b"v")  # perhaps never read: the gap stands for it (the follower reloads)
    until(lambda: feed.changes_since(seen), "the gap", 10)
    assert feed.changes_since(seen)[0] == (seen + 2, GAP_KEY)  # a number skipped
    assert feed.position()[1] == epoch  # the same term: no fresh build, a reload
    active.put("after", b"v")  # followed again
    until(lambda: any(key == "after" for _, key in feed.changes_since(seen)), "the key after the gap")


def test_a_stopped_feed_serves_nothing(feed: PostgreSQLChangeFeed) -> None:
    feed.stop()
    assert feed.position()[1] == 0
    assert feed.settle(0.5) is False


def test_a_write_s_index_is_reached_once_the_feed_read_it(
    active: PostgreSQLPhysical, feed: PostgreSQLChangeFeed
) -> None:
    active.last_commit(forget=True)
    assert active.last_commit() is None
    seen = feed.position()[0]
    for n in range(20):
        active.put(f"x{n}", b"v")
        xid = active.last_commit(forget=True)
        assert xid is not None and active.last_commit() is None
        assert feed.reached(xid, 2.0)  # and its key is numbered: the next request applies it
        assert [key for _, key in feed.changes_since(seen)][-1] == f"x{n}"


def test_an_index_beyond_the_feed_is_not_reached(
    active: PostgreSQLPhysical, feed: PostgreSQLChangeFeed
) -> None:
    active.put("now", b"v")
    xid = active.last_commit(forget=True)
    assert xid is not None
    started = time.monotonic()
    assert feed.reached(xid + 1_000_000, 0.3) is False  # not committed yet: waited, then no
    assert time.monotonic() - started >= 0.3
    feed.stop()
    assert feed.reached(xid, 0.3) is False  # a stopped feed vouches for nothing


def test_start_and_stop_from_two_threads_never_join_an_unstarted_thread(
    active: PostgreSQLPhysical,
) -> None:
    """A node's unseal starts the feed while its election, won at once, stops it on its own
    thread: ``stop`` must never find the thread made but not started (CI once saw
    ``cannot join thread before it is started`` there, and the node stayed a standby)."""
    made = PostgreSQLChangeFeed(active.dsn, active.changes)
    failures: list[BaseException] = []

    def stop_once_made() -> None:
        deadline = time.monotonic() + 10
        while made._thread is None and time.monotonic() < deadline:  # the moment ``start`` made it
            pass
        try:
            made.stop()
        except BaseException as exc:  # what the race raised is the finding
            failures.append(exc)

    try:
        for _ in range(30):
            stopper = threading.Thread(target=stop_once_made)
            stopper.start()
            made.start()
            stopper.join(15)
            made.stop()
        assert failures == []
    finally:
        made.close()
    assert made.position()[1] == 0
