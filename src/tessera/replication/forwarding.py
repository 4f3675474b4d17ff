"""A performance secondary's writes of replicated data, served by its primary.

The secondary tried the request and its storage refused the first replicated write
(``guard.ForwardToPrimary``, before anything was stored). The whole request then goes to the
primary's replication listener over the mutual TLS of the secondary's activation, with the token
entry the secondary resolved: a secondary's own tokens are local to it, so the primary acts for
that entry (its policies are the replicated ones) rather than look the token up. The primary's
answer comes back with the log index its write reached; the secondary's stream has applied that
record before the client gets the answer (waiting ``WRITE_VISIBLE_SECONDS`` at most), so the
client's next request here reads its write, Vault's forwarded-write consistency.

The primary unreachable, or refusing this secondary: a 500 naming the primary and the cause;
nothing was applied here. A login's new identity entity is the one write a secondary does not
forward whole: the primary makes the entity (``entity_on``), and the login, its token local to the
secondary, goes on here once the entity has streamed in.
"""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..framework.errors import CodedError
from ..tokens.entry import TokenEntry
from .channel import ChannelError, request_json

FORWARD_PATH = "/v1/replication/forward"
ENTITY_PATH = "/v1/replication/entity"
FORWARD_TIMEOUT = 90.0  # seconds: a forwarded request may run long on the primary (key generation)
WRITE_VISIBLE_SECONDS = 5.0  # how long an answer waits for the stream to apply the write
# Headers of one connection, which the primary's listener sets again.
_HOP = frozenset(("connection", "keep-alive", "transfer-encoding", "content-length", "host", "te", "upgrade"))


@dataclass
class ForwardedRequest:
    """A client's request as the secondary received it, and the token entry it resolved."""

    method: str
    raw_path: str
    query: str
    headers: dict[str, str]
    body: bytes
    remote_addr: str
    entry: TokenEntry | None = None

    def to_json(self) -> dict[str, Any]:
        entry = None if self.entry is None else {**self.entry.to_storage(), "id": self.entry.id}
        return {
            "kind": "performance",
            "method": self.method,
            "raw_path": self.raw_path,
            "query": self.query,
            "headers": {k: v for k, v in self.headers.items() if k not in _HOP},
            "body": base64.b64encode(self.body).decode(),
            "remote_addr": self.remote_addr,
            "entry": entry,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ForwardedRequest:
        """What the primary's listener received (it may be anything: ValueError when malformed)."""
        try:
            raw = doc.get("entry")
            entry = None if raw is None else _entry(raw)
            return cls(
                method=str(doc["method"]).upper(),
                raw_path=str(doc["raw_path"]),
                query=str(doc.get("query") or ""),
                headers={str(k).lower(): str(v) for k, v in dict(doc.get("headers") or {}).items()},
                body=base64.b64decode(str(doc.get("body") or "")),
                remote_addr=str(doc.get("remote_addr") or "127.0.0.1"),
                entry=entry,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed forwarded request: {exc}") from None


def _entry(raw: dict[str, Any]) -> TokenEntry:
    entry = TokenEntry.from_storage(raw)
    entry.id = str(raw.get("id") or "")
    return entry


@dataclass
class ForwardedAnswer:
    """The primary's answer: status, headers and body as its API would have sent them."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    wal: int = 0  # the primary's log index once the request was served

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "headers": [list(pair) for pair in self.headers],
            "body": base64.b64encode(self.body).decode(),
            "wal": self.wal,
        }

    @classmethod
    def from_json(cls, doc: Any) -> ForwardedAnswer:
        headers = [(str(k), str(v)) for k, v in doc["headers"]]
        return cls(int(doc["status"]), headers, base64.b64decode(doc["body"]), int(doc["wal"]))


def entity_on(primary: str, context: ssl.SSLContext, alias: dict[str, Any]) -> tuple[str, int]:
    """The primary's entity for a login's alias (``mount_accessor``, ``alias_name``, ``metadata``),
    made there if new, and its log index then (Vault's CreateOrFetchEntity forwarded)."""
    try:
        doc = request_json(
            primary, "POST", ENTITY_PATH, context=context, body={"kind": "performance", **alias}
        )
        return str(doc["entity_id"]), int(doc["wal"])
    except ChannelError as exc:
        cause = _without_address(primary, str(exc))
        raise CodedError(500, f"error creating the entity on the primary at {primary}: {cause}") from None
    except (KeyError, TypeError, ValueError):
        raise CodedError(
            500, f"error creating the entity on the primary at {primary}: unreadable answer"
        ) from None


def _without_address(primary: str, cause: str) -> str:
    """A channel error names the address it failed on; the message names it already."""
    return cause.removeprefix(f"{primary}: ")


def failed(primary: str, cause: str) -> ForwardedAnswer:
    """The 500 a client gets when the primary could not serve its request."""
    message = f"error forwarding the request to the primary at {primary}: {_without_address(primary, cause)}"
    return ForwardedAnswer(500, [], orjson.dumps({"errors": [message]}))


def send(primary: str, context: ssl.SSLContext, request: ForwardedRequest) -> ForwardedAnswer:
    """The primary's answer to ``request``, or a 500 saying why there is none."""
    try:
        doc = request_json(
            primary, "POST", FORWARD_PATH, context=context, body=request.to_json(), timeout=FORWARD_TIMEOUT
        )
        return ForwardedAnswer.from_json(doc)
    except ChannelError as exc:
        return failed(primary, str(exc) or "unreachable")
    except (KeyError, TypeError, ValueError):
        return failed(primary, "its answer could not be read")
