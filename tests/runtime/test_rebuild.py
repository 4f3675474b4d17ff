"""A rebuild after an unseal: in the caller's thread or its own, and stopped by a seal."""

from __future__ import annotations

import threading

from tessera.runtime.rebuild import Rebuild


def test_in_the_callers_thread_it_is_done_when_start_returns() -> None:
    ran: list[str] = []
    rebuild = Rebuild(lambda: ran.append(threading.current_thread().name), "test-rebuild")
    rebuild.start(background=False)
    assert ran == [threading.current_thread().name]


def test_in_its_own_thread_it_runs_until_stopped_and_starts_afresh() -> None:
    rounds: list[int] = []
    entered = threading.Event()

    def work() -> None:
        entered.set()
        count = 0
        while not rebuild.stopped.wait(0.01):  # a paged scan polls ``stopped`` between pages
            count += 1
        rounds.append(count)

    rebuild = Rebuild(work, "test-rebuild")
    rebuild.start()
    assert entered.wait(5)
    assert [t.name for t in threading.enumerate()].count("test-rebuild") == 1
    rebuild.stop()  # joins the thread: its round is recorded when stop returns
    assert len(rounds) == 1 and "test-rebuild" not in [t.name for t in threading.enumerate()]
    entered.clear()
    rebuild.start()  # the next unseal: ``stopped`` is clear again
    assert entered.wait(5) and not rebuild.stopped.is_set()
    rebuild.stop()
    assert len(rounds) == 2


def test_stop_from_the_rebuild_itself_does_not_wait_for_itself() -> None:
    done = threading.Event()

    def work() -> None:
        rebuild.stop()  # a seal that the rebuild's own read triggered
        done.set()

    rebuild = Rebuild(work, "test-rebuild")
    rebuild.start()
    assert done.wait(5) and rebuild.stopped.is_set()
