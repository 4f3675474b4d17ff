"""What a primary serves its secondaries on the replication listener.

- ``POST /v1/replication/activate`` ``{kind, credential, api_address}``: the one-time credential of
  the activation token, spent here; the secondary is then known by its certificate alone;
- ``GET /v1/replication/snapshot?kind&after&limit``: a page of the keyspace the kind receives
  (replicated keys; local ones too for DR) as stored, ciphertext in base64, and with the first page
  the log index the snapshot starts from;
- ``GET /v1/replication/log?kind&after&limit``: the records after an index (waiting up to a second
  for one), each op with the key's current ciphertext (or null: deleted). A performance secondary's
  records carry replicated ops only. With them, ``last_wal`` and the ``merkle_root`` the secondary
  should hold once it applied everything up to ``last_wal`` (null when it could not be read
  consistently): the secondary compares and starts over from a snapshot on a difference.
  409 when the log no longer reaches back that far: the secondary starts over from a snapshot;
- ``POST /v1/replication/forward``: a performance secondary's request that writes replicated data
  (``forwarding.py``), served here by the API's own pipeline for the token entry it names;
- ``POST /v1/replication/entity``: a login's identity entity for a performance secondary, made here.

A performance secondary named by a paths filter gets its view (``filters.py``): the filtered
mounts' data left out, its mount tables without them, and the root of that view.

A secondary whose certificate names no activated, unrevoked secondary of that kind gets a 403.
"""

from __future__ import annotations

import base64
import hmac
import time
from collections.abc import Callable
from typing import Any

from ..framework.errors import VaultError
from ..storage.tap import TappedPhysical
from .filters import FilterViews, View
from .forwarding import ENTITY_PATH, FORWARD_PATH, ForwardedAnswer, ForwardedRequest
from .keys import LOCAL, REPLICATED
from .log import LogTruncated, ReplicationLog
from .state import PRIMARY, KindState, Secondary

CN_PREFIX = "rep-secondary-"
PAGE = 512
LONG_POLL = 1.0  # seconds a log request waits for a record when the secondary is up to date


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()


def _limit(query: dict[str, str]) -> int:
    text = query.get("limit", "")
    return min(int(text), PAGE) if text.isdigit() and int(text) > 0 else PAGE


class Source:
    """Answers one replication request; ``activate`` spends a credential (the manager's)."""

    def __init__(
        self,
        tap: TappedPhysical,
        log: ReplicationLog,
        states: Callable[[], dict[str, KindState]],
        activate: Callable[[str, str, str, str], bool],
        views: FilterViews,
        forwarded: Callable[[ForwardedRequest], ForwardedAnswer],
    ) -> None:
        self.tap = tap
        self.log = log
        self.states = states
        self.activate = activate
        self.views = views
        self.forwarded = forwarded  # serves a secondary's request with this server's pipeline
        # Makes a login's entity for a secondary: (mount accessor, alias name, metadata) -> its id.
        self.make_entity: Callable[[str, str, dict[str, str]], str] | None = None

    def serve(
        self, method: str, path: str, query: dict[str, str], body: Any, peer: tuple[str, str]
    ) -> tuple[int, Any]:
        args = body if isinstance(body, dict) else {}
        kind = str(args.get("kind", "")) if method == "POST" else query.get("kind", "")
        secondary = self._secondary(kind, peer)
        if secondary is None:
            return 403, {"errors": ["permission denied"]}
        if method == "POST" and path == "/v1/replication/activate":
            return self._activate(secondary.id, args)
        if not secondary.activated:
            return 403, {"errors": ["permission denied"]}
        secondary.last_heartbeat = time.time()
        if method == "POST" and path == FORWARD_PATH and kind == "performance":
            return self._forward(args)
        if method == "POST" and path == ENTITY_PATH and kind == "performance":
            return self._entity(args)
        if method == "GET" and path == "/v1/replication/snapshot":
            return 200, self._snapshot(kind, secondary.id, query.get("after", ""), _limit(query))
        if method == "GET" and path == "/v1/replication/log":
            after = query.get("after", "0")
            self.log.wait_beyond(int(after) if after.isdigit() else 0, LONG_POLL)  # a write wakes it
            if self._secondary(kind, peer) is None:  # revoked while it waited
                return 403, {"errors": ["permission denied"]}
            try:
                return 200, self._records(
                    kind, secondary.id, int(after) if after.isdigit() else 0, _limit(query)
                )
            except LogTruncated as exc:
                return 409, {"errors": [str(exc)]}
        return 404, {"errors": ["unsupported path"]}

    def _secondary(self, kind: str, peer: tuple[str, str]) -> Secondary | None:
        """The secondary this certificate was issued to, if it is still known. The certificate
        issued with its token, not merely one the CA signed for its id: a revoked secondary's
        certificate stays refused when the id is issued again."""
        common_name, cert_sha256 = peer
        state = self.states().get(kind)
        secondary_id = common_name[len(CN_PREFIX) :] if common_name.startswith(CN_PREFIX) else ""
        secondary = None if state is None or state.mode != PRIMARY else state.secondaries.get(secondary_id)
        if secondary is None or not hmac.compare_digest(secondary.cert_sha256, cert_sha256):
            return None
        return secondary

    def _activate(self, secondary_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        kind, credential = str(body.get("kind", "")), str(body.get("credential", ""))
        if not self.activate(kind, secondary_id, credential, str(body.get("api_address", ""))):
            return 403, {"errors": ["the activation token is not valid, expired or already used"]}
        return 200, {"cluster_id": self.states()[kind].cluster_id, "last_wal": self.log.last_wal}

    def _forward(self, body: dict[str, Any]) -> tuple[int, Any]:
        try:
            request = ForwardedRequest.from_json(body)
        except ValueError as exc:
            return 400, {"errors": [str(exc)]}
        answer = self.forwarded(request)
        answer.wal = self.log.last_wal  # read after the request: its write is in the log by now
        return 200, answer.to_json()

    def _entity(self, body: dict[str, Any]) -> tuple[int, Any]:
        metadata = body.get("metadata")
        accessor, alias_name = body.get("mount_accessor"), body.get("alias_name")
        if self.make_entity is None or not isinstance(accessor, str) or not isinstance(alias_name, str):
            return 400, {"errors": ["malformed entity request"]}
        try:
            entity_id = self.make_entity(accessor, alias_name, metadata if isinstance(metadata, dict) else {})
        except VaultError as exc:
            return exc.status, {"errors": [exc.message]}
        return 200, {"entity_id": entity_id, "wal": self.log.last_wal}

    def _ships(self, kind: str, key: str) -> bool:
        cls = self.log.classifier.classify(key)
        return cls == REPLICATED or (kind == "dr" and cls == LOCAL)

    def _view(self, kind: str, secondary_id: str) -> View | None:
        return self.views.view(secondary_id) if kind == "performance" else None

    def _op(self, view: View | None, key: str) -> list[str | None] | None:
        """``[key, current ciphertext]`` as this secondary receives it, or None: filtered out."""
        if view is None:
            return [key, _b64(self.tap.get(key))]
        if not view.ships(key):
            return None
        table = view.tables.get(key)
        return [key, _b64(self.tap.get(key) if table is None else table.value)]

    def _snapshot(self, kind: str, secondary_id: str, after: str, limit: int) -> dict[str, Any]:
        wal = self.log.last_wal  # read first: writes during the snapshot come again in the log
        page, following = self.tap.scan("", after, limit)
        view = self._view(kind, secondary_id)
        entries = []
        for key, stored in page:
            if self._ships(kind, key) and (view is None or view.ships(key)):
                entries.append([key, _b64(stored if view is None else view.value(key, stored))])
        return {"wal": wal, "entries": entries, "next": following}

    def _records(self, kind: str, secondary_id: str, after: int, limit: int) -> dict[str, Any]:
        found = self.log.since(after, limit)
        view = self._view(kind, secondary_id)  # after the records: no newer table than theirs is missed
        records = []
        for record in found:
            keys = [op[0] for op in record["ops"] if op[1] == REPLICATED or kind == "dr"]
            ops = [op for op in (self._op(view, key) for key in keys) if op is not None]
            records.append({"wal": record["wal"], "ops": ops})
        last_wal, root = (
            self.log.current_root()
            if view is None
            else self.log.filtered_root(view.prefixes, view.swap(), view.sources())
        )
        return {"records": records, "last_wal": last_wal, "merkle_root": root}
