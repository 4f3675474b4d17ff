"""The barrier's pooled AES-GCM nonces (runtime/nonces.py): unique across refills, threads and forks."""

from __future__ import annotations

import os
import threading

import pytest

from tessera.runtime import nonces
from tessera.runtime.nonces import GCM_NONCE_BLOCK, GCM_NONCE_SIZE, gcm_nonce


def test_nonces_are_sized_and_unique_across_refills() -> None:
    drawn = [gcm_nonce() for _ in range(GCM_NONCE_BLOCK * 5 + 3)]
    assert all(type(n) is bytes and len(n) == GCM_NONCE_SIZE for n in drawn)
    assert len(set(drawn)) == len(drawn)


def test_threads_never_share_a_nonce() -> None:
    per_thread = GCM_NONCE_BLOCK * 3
    results: list[list[bytes]] = [[] for _ in range(4)]
    start = threading.Barrier(len(results))

    def draw(out: list[bytes]) -> None:
        start.wait()
        out.extend(gcm_nonce() for _ in range(per_thread))

    threads = [threading.Thread(target=draw, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [n for out in results for n in out]
    assert len(everything) == per_thread * len(results)
    assert len(set(everything)) == len(everything)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_reuse_its_parents_nonces() -> None:
    gcm_nonce()  # the pool now holds nonces the parent has not used yet
    assert len(nonces._gcm_pool) > 0
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its first nonce and leave at once
        try:
            os.write(write_end, gcm_nonce())
        finally:
            os._exit(0)
    os.close(write_end)
    child_first = os.read(read_end, GCM_NONCE_SIZE)
    os.close(read_end)
    os.waitpid(pid, 0)
    parents_next = [gcm_nonce() for _ in range(GCM_NONCE_BLOCK)]
    assert len(child_first) == GCM_NONCE_SIZE
    assert child_first not in parents_next
