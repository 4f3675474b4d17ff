"""The small file mapped into the active process and every worker: where the change feed stands.

It holds the newest change-log sequence, published after the commit and before any answer that
commit held is sent; the *unseal epoch* (0 while sealed, a new number at every unseal); and one
slot per worker where it writes the newest sequence it has applied, so the active process trims
the log once every worker has seen it (``storage/changefeed.py``). A worker compares both words
with what it last saw before each request: reading them is one ``struct.unpack_from``.
"""

from __future__ import annotations

import mmap
import os
import struct

_LAYOUT = struct.Struct("<QQ")  # sequence, unseal epoch
READER_SLOTS = 64  # workers that report what they have seen (slot = worker number)
_SLOTS = struct.Struct(f"<{READER_SLOTS}Q")
_SIZE = _LAYOUT.size + _SLOTS.size


class SharedState:
    """The mapped file: two 64-bit words, each written by one thread of the active process.

    Aligned 8-byte stores and loads are single instructions on the machines Tessera runs on,
    so a reader never sees half a number.
    """

    def __init__(self, path: str, *, create: bool) -> None:
        self.path = path
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, _SIZE)
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)
        if create:
            _LAYOUT.pack_into(self._map, 0, 0, 0)

    def read(self) -> tuple[int, int]:
        """(newest committed change sequence, unseal epoch or 0 while sealed)."""
        return _LAYOUT.unpack_from(self._map, 0)  # two unsigned 64-bit ints

    def publish_sequence(self, seq: int) -> None:
        struct.pack_into("<Q", self._map, 0, seq)

    def publish_epoch(self, epoch: int) -> None:
        struct.pack_into("<Q", self._map, 8, epoch)

    def publish_seen(self, slot: int, seq: int) -> None:
        """A worker's word: every change up to ``seq`` is applied to its state."""
        if 0 <= slot < READER_SLOTS:
            struct.pack_into("<Q", self._map, _LAYOUT.size + 8 * slot, seq)

    def readers_seen(self) -> list[int]:
        """What each worker that reported has seen (0: not reported)."""
        return [seq for seq in _SLOTS.unpack_from(self._map, _LAYOUT.size) if seq]

    def close(self) -> None:
        try:
            self._map.close()
        except (BufferError, ValueError):
            pass
