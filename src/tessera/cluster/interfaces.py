"""The small interface of running several processes or nodes, which HA and replication extend.

- :class:`NodeRole`: what the HTTP layer asks of a process about each request: may it be
  served here, and if not, hand it over. The active process has no role object (it serves
  everything); a standby (today a worker process) has one.
- :class:`ChangeFeed`: how a standby learns what the active one committed (today a SQLite
  change log and a mapped file; PostgreSQL's LISTEN/NOTIFY is another).
- :class:`Forwarder`: how a standby hands a request to the active one and relays its answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol


class HandedOver(NamedTuple):
    """A request as the HTTP layer holds it when it hands one over (``App._route``'s arguments)."""

    proto: Any  # the listener's protocol object: ``response_bytes(status, headers, body)``
    method: str
    raw_path: str
    query_string: bytes
    headers: dict[str, str]
    body: bytes | None
    remote_addr: str
    tls: bool  # or server/peer.py's PeerTLS, true, with the client's certificates


class NodeRole(Protocol):
    """A standby's side of every request the HTTP layer receives."""

    def ready(self, method: str, path: str) -> bool:
        """Catch up with the active node; whether this request may be served here."""

    def answer(self, serve: Callable[..., int], args: Sequence[Any]) -> int:
        """Run ``serve(*args)`` here, on state no rebuild changes meanwhile."""

    def wrote(self, method: str, path: str) -> None:
        """The request served here tried to write: it goes to the active node instead."""

    def served(self, method: str, path: str) -> None:
        """The request was served here without writing."""

    def forward(self, request: Sequence[Any]) -> int:
        """Hand the request (a :class:`HandedOver`'s fields) to the active node; its answer
        reaches the client later."""


class ChangeFeed(Protocol):
    """A standby's view of the active node's commits and seal state."""

    def position(self) -> tuple[int, int]:
        """(newest committed change sequence, unseal epoch or 0 while sealed)."""

    def changes_since(self, seq: int) -> list[tuple[int, str]]:
        """The keys committed after ``seq``, oldest first, with their sequence numbers."""

    def acknowledge(self, seq: int) -> None:
        """Every change up to ``seq`` is applied here (the active node may forget them)."""


class Forwarder(Protocol):
    """A standby's way to the active node."""

    def forward(self, request: HandedOver) -> object:
        """Send the request on; the answer goes to ``request.proto`` when it arrives (an HA
        forwarder waits for it and returns its status)."""
