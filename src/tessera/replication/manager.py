"""One cluster's replication, both kinds: the state ``sys/replication/*`` shows and changes.

The log (``log.py``) and the replication listener (``listener.py`` serving ``source.py``) run
while the cluster is a primary of either kind; a secondary's streams run in ``follower.py``. The
state and the CA live behind the barrier (``state.py``) and are loaded at unseal.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import orjson

from ..barrier.aes_gcm import Barrier
from ..framework.errors import ErrorResponse
from ..storage.tap import TappedPhysical
from . import ca as replication_ca
from . import pending as pending_enable
from .channel import server_context
from .filters import FilterViews, normalise
from .follower import Follower
from .forwarding import ForwardedAnswer, ForwardedRequest
from .keys import KeyClassifier
from .listener import ReplicationListener
from .log import RETAIN, MountLister, ReplicationLog
from .secondary import activate, connection_of, copy_primary
from .source import Source
from .state import (
    DISABLED,
    KINDS,
    PRIMARY,
    SECONDARY,
    KindState,
    PathsFilter,
    Secondary,
    load_ca,
    load_state,
    save_ca,
    save_state,
)
from .status import primary_status, secondary_status

log = logging.getLogger("tessera.replication")

LABELS = {"performance": "performance", "dr": "DR"}
DEFAULT_TOKEN_TTL = 30 * 60
WARNINGS = {
    "enable": "This cluster is being enabled as a primary for replication. Vault will be unavailable "
    "for a brief period and will resume service shortly.",
    "disable": "This cluster is having replication disabled. Vault will be unavailable for a brief "
    "period and will resume service shortly.",
    "demote": "This cluster is being demoted to a replication secondary. Vault will be unavailable "
    "for a brief period and will resume service shortly.",
    "secondary": "Vault has successfully found secondary information; it may take a while to perform "
    "setup tasks. Vault will be unavailable until these tasks and initial sync complete.",
    "unseal": "This server now holds the primary's data and seals itself: unseal it with the primary's "
    "unseal keys.",
    "promote": "This cluster is being promoted to a replication primary. Vault will be unavailable for a "
    "brief period and will resume service shortly.",
}
# What a DR secondary answers besides its raw status paths (Vault's DR secondary mode).
DR_SECONDARY_PATHS = ("sys/replication/status", "sys/replication/dr/status", "sys/replication/dr/secondary/")
DR_SECONDARY_REFUSAL = "path disabled in replication DR secondary mode"
NO_FORWARDING = "this primary cannot serve forwarded requests yet: it is starting or stopping"


def default_cluster_addr(api_addr: str) -> str:
    """Vault's default cluster address: the API host, one port up, over TLS."""
    parts = urlsplit(api_addr)
    if not parts.hostname or parts.port is None:
        return ""
    return f"https://{parts.hostname}:{parts.port + 1}"


class Replication:
    """Both kinds' state and the log; every change holds the lock and persists before it returns."""

    def __init__(
        self,
        tap: TappedPhysical,
        storage: Barrier,
        mounts: MountLister,
        addresses: Callable[[], tuple[str, str]],
    ) -> None:
        self.tap = tap
        self.storage = storage  # the barrier: only usable while unsealed
        self.mounts = mounts
        self.addresses = addresses  # (api address, cluster address) of this server
        self.lock = threading.RLock()
        self.states: dict[str, KindState] = {kind: KindState() for kind in KINDS}
        self.retain = RETAIN
        self.log: ReplicationLog | None = None
        self.listener: ReplicationListener | None = None
        self.listen_error = ""  # why the listener could not start
        # A secondary: its streams, and the state an enable left for the next unseal.
        self.follower = Follower(tap, storage, mounts)
        self.pending: dict[str, KindState] = {}
        self.dr_secondary = False  # read on every request: a DR secondary answers almost nothing
        self.views = FilterViews(tap, storage, lambda: self.states["performance"].paths_filters)
        # The server's way to serve a request a performance secondary forwarded (``server/app.py``).
        self.serve_forwarded: Callable[[ForwardedRequest], ForwardedAnswer] | None = None
        # The core's way to make a login's entity for a secondary: (accessor, alias, metadata) -> id.
        self.make_entity: Callable[[str, str, dict[str, str]], str] | None = None

    # -- unseal and seal --------------------------------------------------------------------
    def load(self, *, observe: bool = True) -> None:
        """Read both kinds' state; a primary's log starts observing writes unless ``observe`` is
        False (a worker process or a standby: it writes nothing, the active process keeps the log
        and saves a pending enable)."""
        with self.lock:
            storage = self.storage
            if observe:
                self._settle_pending_enable()
            self.states = {kind: load_state(storage, kind) for kind in KINDS}
            self.dr_secondary = self.states["dr"].mode == SECONDARY
            if observe:
                self._run_log()
                self.follower.start(self.states)

    def _settle_pending_enable(self) -> None:
        """Save the state an enable kept until the primary's keys came, then drop the marker that
        kept other nodes from leading (``pending.py``); a marker left by an enable whose state is
        gone (its node died) is logged and dropped."""
        for kind, pending in self.pending.items():
            save_state(self.storage, kind, pending)
        marker = pending_enable.read(self.tap)
        if marker is not None:
            if marker.kind not in self.pending:
                log.error(
                    "replication: the %s secondary enable on %s was lost (that node kept its state and "
                    "was not unsealed in time): this cluster is not a secondary; enable it again",
                    marker.kind,
                    marker.node,
                )
            pending_enable.clear(self.tap)
        self.pending = {}

    def unload(self) -> None:
        with self.lock:
            self._stop_log()
            self.follower.stop()
            self.states = {kind: KindState() for kind in KINDS}
            self.dr_secondary = False

    def _run_log(self) -> None:
        primary = any(state.mode == PRIMARY for state in self.states.values())
        if primary and self.log is None:
            self.log = ReplicationLog(self.tap, KeyClassifier(), self.mounts, self.retain)
            self.log.start()
            self._listen(self.log)
        elif primary and self.listener is None and self.log is not None:
            self._listen(self.log)  # one that could not listen before (no CA yet, address in use)
        elif not primary:
            self._stop_log()

    def _stop_log(self) -> None:
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        if self.log is not None:
            self.log.stop()
            self.log = None

    def _listen(self, replication_log: ReplicationLog) -> None:
        """The replication listener on the primary's cluster address (a failure is logged: the
        primary still runs, its secondaries cannot connect)."""
        given = next((s.primary_cluster_addr for s in self.states.values() if s.primary_cluster_addr), "")
        address = urlsplit(given or self.addresses()[1])
        authority = load_ca(self.storage)
        if authority is None or address.hostname is None or address.port is None:
            self.listen_error = f"no CA or no cluster address ({given or self.addresses()[1]})"
            log.error("replication listener: %s", self.listen_error)
            return
        leaf = replication_ca.issue(authority, "rep-primary", server=True)
        source = Source(
            self.tap,
            replication_log,
            lambda: self.states,
            self.activate_secondary,
            self.views,
            self._serve_forwarded,
        )
        source.make_entity = self._make_entity
        try:
            context = server_context(authority.cert_pem, leaf)
            self.listener = ReplicationListener(address.hostname, address.port, context, source.serve)
            self.listen_error = ""
        except OSError as exc:
            self.listen_error = f"cannot listen for secondaries on {address.hostname}:{address.port}: {exc}"
            log.error("replication listener: %s", self.listen_error)

    def _serve_forwarded(self, request: ForwardedRequest) -> ForwardedAnswer:
        serve = self.serve_forwarded
        if serve is None:
            return ForwardedAnswer(503, [], orjson.dumps({"errors": [NO_FORWARDING]}))
        return serve(request)

    def _make_entity(self, accessor: str, alias_name: str, metadata: dict[str, str]) -> str:
        make = self.make_entity
        if make is None:
            raise ErrorResponse(NO_FORWARDING)
        return make(accessor, alias_name, metadata)

    def entity_on_primary(self, accessor: str, alias_name: str, metadata: dict[str, str]) -> str:
        """A login's new entity on this performance secondary: the primary's (``forwarding.py``)."""
        alias = {"mount_accessor": accessor, "alias_name": alias_name, "metadata": metadata}
        return self.follower.entity_on_primary(alias)

    def forward(self, request: ForwardedRequest) -> ForwardedAnswer:
        """A request this performance secondary cannot serve: the primary's answer to it."""
        return self.follower.forward(request)

    # -- reading ----------------------------------------------------------------------------
    def mode(self, kind: str) -> str:
        return self.states[kind].mode

    def last_wal(self) -> int:
        log = self.log
        return 0 if log is None else log.last_wal

    def status(self, kind: str) -> dict[str, Any]:
        with self.lock:
            state = self.states[kind]
            if state.mode == DISABLED:
                return {"mode": DISABLED}
            root, last_wal, last_performance_wal = self._hash_and_wals()
            if state.mode == PRIMARY:
                return primary_status(kind, state, root, last_wal, last_performance_wal)
            followed = state.connection and kind in self.follower.streams
            return secondary_status(
                state, self.follower.streams.get(kind), self.follower.hash.root() if followed else root
            )

    def _hash_and_wals(self) -> tuple[str, int, int]:
        log = self.log
        if log is None:
            return "", 0, 0
        return log.hash.root(), log.last_wal, log.last_performance_wal

    # -- the primary's changes --------------------------------------------------------------
    def _save(self, kind: str, state: KindState) -> None:
        save_state(self.storage, kind, state)
        self.states[kind] = state
        self._run_log()

    def _primary(self, kind: str) -> KindState:
        state = self.states[kind]
        if state.mode != PRIMARY:
            raise ErrorResponse(f"this cluster is not a {LABELS[kind]} primary")
        return state

    def enable_primary(self, kind: str, primary_cluster_addr: str) -> list[str]:
        with self.lock:
            state = self.states[kind]
            if state.mode == PRIMARY:
                raise ErrorResponse(f"this cluster is already a {LABELS[kind]} primary")
            if state.mode == SECONDARY:
                raise ErrorResponse(
                    f"this cluster is a {LABELS[kind]} secondary: promote it instead of enabling it as a primary"
                )
            if any(s.mode == SECONDARY for s in self.states.values()):
                raise ErrorResponse("a secondary cannot also be a primary yet: disable its replication first")
            if not _has_host_and_port(primary_cluster_addr or self.addresses()[1]):
                raise ErrorResponse(
                    "no cluster address for secondaries to connect to: set cluster_addr in the server "
                    "configuration or give primary_cluster_addr"
                )
            self._ensure_ca()
            new = KindState(
                mode=PRIMARY, cluster_id=str(uuid.uuid4()), primary_cluster_addr=primary_cluster_addr
            )
            self._save(kind, new)
            if self.listener is None:  # e.g. an HA node's cluster port, taken by its forwarding
                self._save(kind, state)
                raise ErrorResponse(
                    f"{self.listen_error}: give primary_cluster_addr, an address this cluster's active "
                    "node can listen on for secondaries"
                )
            return [WARNINGS["enable"]]

    def _ensure_ca(self) -> None:
        """The replication CA a primary issues its secondaries' certificates with (this cluster's
        own: a promoted secondary makes one)."""
        if load_ca(self.storage) is None:
            save_ca(self.storage, replication_ca.new_ca(str(uuid.uuid4())))

    def disable_primary(self, kind: str) -> list[str]:
        with self.lock:
            self._primary(kind)
            self._save(kind, KindState())
            return [WARNINGS["disable"]]

    def demote(self, kind: str) -> list[str]:
        with self.lock:
            state = self._primary(kind)
            demoted = KindState(mode=SECONDARY, cluster_id=state.cluster_id, secondaries=state.secondaries)
            self._save(kind, demoted)
            return [WARNINGS["demote"]]

    def secondary_token(self, kind: str, secondary_id: str, ttl: int) -> dict[str, Any]:
        """Register ``secondary_id`` and return what its activation token carries."""
        with self.lock:
            state = self._primary(kind)
            if not secondary_id:
                raise ErrorResponse("missing id")
            if secondary_id in state.secondaries:
                raise ErrorResponse(f'a secondary with id "{secondary_id}" already exists; revoke it first')
            storage = self.storage
            authority = load_ca(storage)
            if authority is None:
                raise ErrorResponse("the replication CA is missing: disable and enable replication again")
            credential = secrets.token_urlsafe(32)
            leaf = replication_ca.issue(authority, f"rep-secondary-{secondary_id}")
            now = time.time()
            secondary = Secondary(
                id=secondary_id,
                credential_sha256=hashlib.sha256(credential.encode()).hexdigest(),
                issued=now,
                expires=now + ttl,
                cert_sha256=replication_ca.fingerprint(leaf.cert_pem),
            )
            updated = replace(state, secondaries={**state.secondaries, secondary_id: secondary})
            self._save(kind, updated)
            api_addr, cluster_addr = self.addresses()
            return {
                "type": kind,
                "cluster_id": state.cluster_id,
                "secondary_id": secondary_id,
                "primary_api_addr": api_addr,
                "primary_cluster_addr": state.primary_cluster_addr or cluster_addr,
                "ca_cert": authority.cert_pem,
                "client_cert": leaf.cert_pem,
                "client_key": leaf.key_pem,
                "credential": credential,
            }

    def check_credential(self, kind: str, secondary_id: str, credential: str) -> bool:
        """A secondary's first connection: its one-time credential, within the token's TTL, once."""
        with self.lock:
            state = self.states[kind]
            secondary = state.secondaries.get(secondary_id)
            if state.mode != PRIMARY or secondary is None or secondary.activated:
                return False
            given = hashlib.sha256(credential.encode()).hexdigest()
            if not hmac.compare_digest(given, secondary.credential_sha256) or time.time() > secondary.expires:
                return False
            secondary.activated = True
            self._save(kind, state)
            return True

    def activate_secondary(self, kind: str, secondary_id: str, credential: str, api_address: str) -> bool:
        """The replication listener's activation: the credential, once; then the secondary is known."""
        if kind not in self.states or not self.check_credential(kind, secondary_id, credential):
            return False
        self.states[kind].secondaries[secondary_id].api_address = api_address
        return True

    def revoke_secondary(self, kind: str, secondary_id: str) -> None:
        with self.lock:
            state = self._primary(kind)
            if not secondary_id:
                raise ErrorResponse("missing id")
            if secondary_id not in state.secondaries:
                raise ErrorResponse(f'no secondary with id "{secondary_id}" is known')
            remaining = {k: v for k, v in state.secondaries.items() if k != secondary_id}
            filters = {k: v for k, v in state.paths_filters.items() if k != secondary_id}
            self._save(kind, replace(state, secondaries=remaining, paths_filters=filters))
            self.views.forget(secondary_id)

    # -- paths filters (performance only) -----------------------------------------------------
    def set_paths_filter(self, filter_id: str, mode: str, paths: list[str]) -> None:
        with self.lock:
            state = self._primary("performance")
            filters = {**state.paths_filters, filter_id: normalise(mode, paths)}
            self._save("performance", replace(state, paths_filters=filters))

    def paths_filter(self, filter_id: str) -> PathsFilter | None:
        with self.lock:
            return self._primary("performance").paths_filters.get(filter_id)

    def delete_paths_filter(self, filter_id: str) -> None:
        with self.lock:
            state = self._primary("performance")
            filters = {k: v for k, v in state.paths_filters.items() if k != filter_id}
            self._save("performance", replace(state, paths_filters=filters))
            self.views.forget(filter_id)

    # -- a secondary -------------------------------------------------------------------------
    def enable_secondary(self, kind: str, token: str, primary_api_addr: str, ca_file: str) -> list[str]:
        """Activate with the primary and copy its data; the caller seals this server next."""
        with self.lock:
            if self.states[kind].mode != DISABLED or any(s.mode == PRIMARY for s in self.states.values()):
                raise ErrorResponse(
                    "replication must be disabled on this cluster before it becomes a secondary"
                )
            if not token:
                raise ErrorResponse("missing token")
            if not primary_api_addr:
                raise ErrorResponse("primary_api_addr is required: the activation token does not embed it")
            activation = activate(kind, token, primary_api_addr, ca_file, self.addresses()[0])
            wal = copy_primary(activation, self.tap)
            state = KindState(
                mode=SECONDARY,
                cluster_id=activation.cluster_id,
                primary_cluster_addr=activation.bundle["primary_cluster_addr"],
                connection=connection_of(activation.bundle, primary_api_addr),
                last_remote_wal=wal,
            )
            pending_enable.mark(self.tap, kind, self.addresses()[0])
            self.pending[kind] = self.states[kind] = state
            return [WARNINGS["secondary"], WARNINGS["unseal"]]

    def disable_secondary(self, kind: str) -> list[str]:
        """A secondary stops following its primary and keeps what it has, as a cluster of its own."""
        with self.lock:
            if self.states[kind].mode != SECONDARY:
                raise ErrorResponse(f"this cluster is not a {LABELS[kind]} secondary")
            self.follower.stop(kind)
            self._save(kind, KindState())
            self.dr_secondary = self.states["dr"].mode == SECONDARY
            return [WARNINGS["disable"]]

    def update_primary(self, kind: str, token: str, primary_api_addr: str, ca_file: str) -> list[str]:
        """Follow the primary that issued ``token`` (a promoted DR secondary, say): activate with it,
        copy its keyspace over the keys it ships (no wipe: a performance secondary's own tokens and
        local mounts stay), then stream from there. A blank token forgets the primary."""
        with self.lock:
            state = self.states[kind]
            if state.mode != SECONDARY:
                raise ErrorResponse(f"this cluster is not a {LABELS[kind]} secondary")
            if not token:
                self.follower.stop(kind)
                self._save(kind, KindState(mode=SECONDARY, cluster_id=state.cluster_id))
                self.follower.hold()
                return []
            if not primary_api_addr:
                raise ErrorResponse("primary_api_addr is required: the activation token does not embed it")
            activation = activate(kind, token, primary_api_addr, ca_file, self.addresses()[0])
            self.follower.stop(kind)
            new = KindState(
                mode=SECONDARY,
                cluster_id=activation.cluster_id,
                primary_cluster_addr=activation.bundle["primary_cluster_addr"],
                connection=connection_of(activation.bundle, primary_api_addr),
                last_remote_wal=-1,  # the stream copies the new primary's keyspace first
            )
            self._save(kind, new)
            self.follower.hold()
            self.follower.follow(kind)
            return [WARNINGS["secondary"]]

    def promote(self, kind: str) -> list[str]:
        """A secondary becomes the primary of its replication set (its cluster id stays)."""
        with self.lock:
            state = self.states[kind]
            if state.mode != SECONDARY:
                raise ErrorResponse(f"this cluster is not a {LABELS[kind]} secondary")
            self.follower.stop(kind)
            self._ensure_ca()
            self._save(kind, KindState(mode=PRIMARY, cluster_id=state.cluster_id))
            self.dr_secondary = self.states["dr"].mode == SECONDARY
            return [WARNINGS["promote"]]


def _has_host_and_port(address: str) -> bool:
    try:
        parts = urlsplit(address)
        return bool(parts.hostname) and parts.port is not None
    except ValueError:  # a port out of range
        return False
