"""Nonces are drawn with the GIL held: on the runner thread a release is a switch to a waiting
thread, paid for on every write (runtime/nonces.py)."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

import pytest

from tessera.barrier.aes_gcm import open_with, seal_with
from tessera.runtime.nonces import nonce_bytes
from tessera.tokens.ids import new_accessor, new_service_id


def _wakeups(fn: Callable[[], object], calls: int = 20000) -> int:
    """How often a thread waiting for the GIL was woken while ``fn`` ran ``calls`` times in a row
    (its voluntary context switches: each release of the GIL wakes a waiter, which finds it taken
    again and goes back to sleep)."""
    stop = threading.Event()
    native: list[int] = []

    def waiting() -> None:
        native.append(threading.get_native_id())
        while not stop.is_set():
            time.sleep(0)  # gives the GIL back at once and asks for it again

    interval = sys.getswitchinterval()
    sys.setswitchinterval(5.0)  # no forced switch while the loop below runs
    thread = threading.Thread(target=waiting, daemon=True)
    try:
        thread.start()
        time.sleep(0.01)  # the thread is now waiting for the GIL
        before = _switches(native[0])
        for _ in range(calls):
            fn()
        woken = _switches(native[0]) - before
    finally:
        sys.setswitchinterval(interval)
        stop.set()
        thread.join()
    return woken


def _quietest(fn: Callable[[], object]) -> int:
    """The fewest wake-ups of three runs: a busy machine only ever adds some."""
    return min(_wakeups(fn) for _ in range(3))


def _control() -> int:
    """The most wake-ups of three runs of ``os.urandom``, which lets go of the GIL on every call (a
    busy machine can only hide some)."""
    return max(_wakeups(lambda: os.urandom(12)) for _ in range(3))


def _switches(tid: int) -> int:
    with open(f"/proc/self/task/{tid}/status") as status:
        for line in status:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches line")


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="Linux /proc")


@needs_proc
def test_nonces_keep_the_gil() -> None:
    released = _control()
    assert released > 20
    assert _quietest(lambda: nonce_bytes(12)) * 5 < released


@needs_proc
def test_sealing_keeps_the_gil() -> None:
    key = os.urandom(32)
    released = _control()
    assert _quietest(lambda: seal_with(key, "core/x", b"value")) * 5 < released


def test_nonces_are_fresh_and_sized() -> None:
    drawn = {nonce_bytes(12) for _ in range(1000)}
    assert len(drawn) == 1000
    assert all(len(n) == 12 for n in drawn)
    key = os.urandom(32)
    assert open_with(key, "core/x", seal_with(key, "core/x", b"value")) == b"value"


@needs_proc
def test_token_ids_keep_the_gil() -> None:
    """Service token IDs and accessors are drawn on every create and login, on the runner thread."""
    released = _control()
    assert _quietest(new_service_id) * 5 < released
    assert _quietest(new_accessor) * 5 < released


def test_token_ids_are_base62_and_fresh() -> None:
    ids = {new_service_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("hvs.") and len(i) == 28 and i[4:].isalnum() and i.isascii() for i in ids)
