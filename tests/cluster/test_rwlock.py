"""The worker's state lock (cluster/rwlock.py): shared by requests, exclusive for a rebuild."""

from __future__ import annotations

import sys
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


def test_no_reader_is_inside_while_a_writer_is() -> None:
    """Readers take no mutex when no writer is about (see the module): hammered by readers and
    writers at once, with thread switches forced often, a writer never finds a reader inside
    nor a reader a writer."""
    lock = ReadWriteLock()
    count = threading.Lock()
    inside = {"readers": 0, "writer": 0}
    seen: list[str] = []
    stop = threading.Event()
    done = {"reads": 0, "writes": 0}

    def reader() -> None:
        while not stop.is_set():
            with lock.shared:
                with count:
                    inside["readers"] += 1
                if inside["writer"]:
                    seen.append("a reader met a writer")
                time.sleep(0)
                with count:
                    inside["readers"] -= 1
                done["reads"] += 1

    def writer() -> None:
        while not stop.is_set():
            with lock.exclusive:
                inside["writer"] += 1
                time.sleep(0)
                if inside["readers"] or inside["writer"] != 1:
                    seen.append("a writer met a reader or another writer")
                inside["writer"] -= 1
                done["writes"] += 1
            time.sleep(0.0005)

    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [_in_thread(reader) for _ in range(4)] + [_in_thread(writer) for _ in range(2)]
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join(5)
    finally:
        sys.setswitchinterval(switching)
    assert done["reads"] > 100 and done["writes"] > 10
    assert seen == []
