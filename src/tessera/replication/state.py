"""What a cluster knows of its replication, per kind (performance, DR), kept behind the barrier.

``core/replication/<kind>``: the mode, the replication set's cluster id, the secondaries it has
issued activation tokens to and the paths filters; ``core/replication/ca``: the replication CA.
All of it is this cluster's own (``ignored`` by the classifier): a secondary keeps its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..storage.base import Storage
from .ca import KeyPair

KINDS = ("performance", "dr")
STATE_PREFIX = "core/replication/"
CA_KEY = STATE_PREFIX + "ca"

DISABLED = "disabled"
PRIMARY = "primary"
SECONDARY = "secondary"


@dataclass
class Secondary:
    """A secondary an activation token was issued to (``known_secondaries``)."""

    id: str
    credential_sha256: str  # of the one-time credential in its activation token
    issued: float
    expires: float  # the activation token's end: the credential is refused after it
    cert_sha256: str = ""  # of the client certificate issued with the token: the only one accepted
    activated: bool = False
    api_address: str = ""
    cluster_address: str = ""
    last_heartbeat: float = 0.0


@dataclass
class PathsFilter:
    mode: str
    paths: list[str]


@dataclass
class KindState:
    mode: str = DISABLED
    cluster_id: str = ""
    primary_cluster_addr: str = ""
    secondaries: dict[str, Secondary] = field(default_factory=dict)
    paths_filters: dict[str, PathsFilter] = field(default_factory=dict)
    # A secondary's way to its primary (secondary.connection_of) and the log index it has reached.
    connection: dict[str, Any] = field(default_factory=dict)
    last_remote_wal: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> KindState:
        return cls(
            mode=str(doc.get("mode", DISABLED)),
            cluster_id=str(doc.get("cluster_id", "")),
            primary_cluster_addr=str(doc.get("primary_cluster_addr", "")),
            secondaries={k: Secondary(**v) for k, v in (doc.get("secondaries") or {}).items()},
            paths_filters={k: PathsFilter(**v) for k, v in (doc.get("paths_filters") or {}).items()},
            connection=dict(doc.get("connection") or {}),
            last_remote_wal=int(doc.get("last_remote_wal", 0)),
        )


def load_state(storage: Storage, kind: str) -> KindState:
    doc = storage.get_json(STATE_PREFIX + kind)
    return KindState() if doc is None else KindState.from_json(doc)


def save_state(storage: Storage, kind: str, state: KindState) -> None:
    storage.put_json(STATE_PREFIX + kind, state.to_json())


def load_ca(storage: Storage) -> KeyPair | None:
    doc = storage.get_json(CA_KEY)
    return None if doc is None else KeyPair(cert_pem=doc["cert_pem"], key_pem=doc["key_pem"])


def save_ca(storage: Storage, ca: KeyPair) -> None:
    storage.put_json(CA_KEY, {"cert_pem": ca.cert_pem, "key_pem": ca.key_pem})
