"""The worker's state lock (cluster/rwlock.py): shared by requests, exclusive for a rebuild."""

from __future__ import annotations

import threading
import time

import pytest

from tessera.cluster.rwlock import ReadWriteLock


def _in_thread(target: object) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


def test_shared_holders_run_together() -> None:
    lock = ReadWriteLock()
    inside = threading.Barrier(3, timeout=5)

    def reader() -> None:
        with lock.shared:
            inside.wait()  # all three hold it at once, or this times out

    threads = [_in_thread(reader) for _ in range(2)]
    with lock.shared:
        inside.wait()
    for thread in threads:
        thread.join(5)


def test_exclusive_waits_for_readers_and_keeps_new_ones_out() -> None:
    lock = ReadWriteLock()
    events: list[str] = []
    lock.acquire_shared()

    def writer() -> None:
        with lock.exclusive:
            events.append("writer")

    def late_reader() -> None:
        with lock.shared:
            events.append("late reader")

    w = _in_thread(writer)
    time.sleep(0.05)
    r = _in_thread(late_reader)  # arrives while the writer waits: must not overtake it
    time.sleep(0.05)
    assert events == []
    lock.release_shared()
    w.join(5)
    r.join(5)
    assert events == ["writer", "late reader"]


def test_a_stream_of_readers_does_not_starve_a_writer() -> None:
    lock = ReadWriteLock()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            with lock.shared:
                time.sleep(0.001)

    readers = [_in_thread(reader) for _ in range(4)]
    time.sleep(0.05)
    started = time.monotonic()
    with lock.exclusive:
        waited = time.monotonic() - started
    stop.set()
    for thread in readers:
        thread.join(5)
    assert waited < 1.0


def test_holds_are_reentrant_in_their_thread() -> None:
    lock = ReadWriteLock()
    with lock.shared, lock.shared:
        pass
    with lock.exclusive, lock.exclusive, lock.shared:
        pass
    done = threading.Event()
    t = _in_thread(lambda: (lock.acquire_exclusive(), lock.release_exclusive(), done.set()))
    t.join(5)
    assert done.is_set()  # everything above was released


def test_a_shared_hold_cannot_become_exclusive() -> None:
    lock = ReadWriteLock()
    with lock.shared, pytest.raises(RuntimeError):
        lock.acquire_exclusive()
    with pytest.raises(RuntimeError):
        lock.release_shared()
    with pytest.raises(RuntimeError):
        lock.release_exclusive()
