"""A worker's change feed: the mapped file says where the active process stands, the SQLite
change log says which keys its commits wrote (see ``interfaces.ChangeFeed``)."""

from __future__ import annotations

from ..storage.sqlite_reader import SQLiteReader
from .shared_state import SharedState


class SQLiteChangeFeed:
    """The active process's commits, as a worker reading the same SQLite file follows them."""

    def __init__(self, shared: SharedState, reader: SQLiteReader, slot: int) -> None:
        self.shared = shared
        self.reader = reader
        self.slot = slot  # where this worker reports what it has seen

    def position(self) -> tuple[int, int]:
        return self.shared.read()

    def changes_since(self, seq: int) -> list[tuple[int, str]]:
        return self.reader.changes_since(seq)

    def acknowledge(self, seq: int) -> None:
        self.shared.publish_seen(self.slot, seq)
