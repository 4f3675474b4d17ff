"""One node of an HA cluster: its core follows the election.

Unsealed, the node joins the election as a standby: its barrier is open (it reads the cluster's
identity) but it runs no expiry and writes nothing. A performance standby (``perf.py``) builds a
worker's read-only state and follows the change feed; a plain one builds nothing and forwards
every request but the node's own status (``role.py``). Winning the lock, it drops the standby's
state and builds the state an unseal builds (stores, mounts, audit devices, the ticker) under the
epoch it was given; losing it, it stops serving at once, refuses writes, drops that state again
and is a performance standby again.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from typing import Any

from ...barrier.aes_gcm import BarrierError
from ...core.core import Core
from ...core.ha import LeaderInfo
from ...gocompat.times import rfc3339_nano
from ...replication import pending as pending_enable
from ...storage.pg_fencing import Fencing
from ...storage.postgresql import PostgreSQLPhysical
from ...storage.sqlite_reader import StandbyWrite
from ...version import VAULT_VERSION
from .election import INTERVAL, Election, NodeInfo
from .index_state import IndexStates
from .node_tls import NodeCertificates
from .perf import PerformanceStandby

log = logging.getLogger("tessera.ha")

FRESH_ECHO_SECONDS = 30.0  # standbys not heard from for longer leave sys/ha-status


class HANode:
    """The :class:`~tessera.core.ha.HAView` of this node, and what moves its core between roles."""

    def __init__(
        self,
        core: Core,
        physical: PostgreSQLPhysical,
        api_addr: str,
        cluster_addr: str,
        interval: float = INTERVAL,
    ) -> None:
        self.core = core
        self.interval = interval  # the election's: between lock attempts and liveness checks
        self.physical = physical
        self.info = NodeInfo(str(uuid.uuid4()), socket.gethostname(), api_addr, cluster_addr, VAULT_VERSION)
        self.fencing = Fencing(physical.settings.ha_table, physical.changes)
        self._active = False
        self.active_since = 0.0
        self._election: Election | None = None
        self._lock = threading.Lock()  # joins and leaves
        # The cluster's TLS: the CA behind the barrier, this node's certificate (node_tls.py).
        self.tls = NodeCertificates(core, self.info.node_id, cluster_addr)
        # ``X-Vault-Index``: signed on the active node's answers to writes, checked everywhere.
        self.index = IndexStates(core, self.tls, physical)
        # A standby's own state for reads (``perf.py``); None: it forwards every request.
        self.perf: PerformanceStandby | None = None
        self._waiting_for: pending_enable.PendingEnable | None = None  # the marker last logged
        lifecycle = core.lifecycle
        self._open_state, self._close_state = lifecycle.open_state, lifecycle.close_state
        lifecycle.open_state, lifecycle.close_state = self._on_unseal, self._on_seal
        core.ha = self

    # -- HAView ----------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self._active

    @property
    def joined(self) -> bool:
        return self._election is not None

    @property
    def performance_standby(self) -> bool:
        perf = self.perf
        return perf is not None and perf.serving and not self._active

    def leader(self) -> LeaderInfo | None:
        election = self._election
        if election is None:
            return None
        return election.current

    def storage_failure(self) -> str:
        """Why the election cannot reach the database ("" while it can, or outside the election)."""
        election = self._election
        return election.failure if election is not None else ""

    def nodes(self) -> list[dict[str, Any]]:
        election = self._election
        leader = self.leader()
        if election is None or leader is None:
            return []
        out = []
        for node_id, hostname, api_addr, cluster_addr, version, echo in election.nodes(FRESH_ECHO_SECONDS):
            active = node_id == leader.node_id
            out.append(
                {
                    "hostname": hostname,
                    "api_address": api_addr,
                    "cluster_address": cluster_addr,
                    "active_node": active,
                    "last_echo": None if active else rfc3339_nano(float(echo)),
                    "version": version,
                }
            )
        out.sort(key=lambda node: not node["active_node"])  # the active node first, as Vault
        return out

    def step_down(self) -> None:
        election = self._election
        if election is not None:
            election.step_down()

    # -- the seal lifecycle ----------------------------------------------------------------
    def _on_unseal(self, first_time: bool) -> None:
        """In place of the core's ``open_state``: join as a standby (``sys/init`` builds the
        initial state as without HA, before any node is unsealed)."""
        if first_time:
            self._open_state(True)
            return
        ident = self.core.barrier.get_json("core/cluster") or {}
        self.core.cluster_id = ident.get("id", "")
        self.core.cluster_name = self.core.config.cluster_name or ident.get("name", "")
        self.fencing.epoch = None
        self.physical.fencing = self.fencing
        with self._lock:
            if self._election is None:
                # The standby's state first: an election won at once stops it on the election's
                # thread, which must find it started, not being started.
                if self.perf is not None:
                    self.perf.start()
                election = Election(
                    self.physical.dsn,
                    self.fencing.ha_table,
                    self.info,
                    lambda epoch: self._became_active(election, epoch),
                    self._lost,
                    self.interval,
                    self._may_lead,
                )
                self.fencing.on_fenced[:] = [self._fenced, election.check_now]
                self._election = election
                election.start()
                log.info("HA: joined the election as node %s (standby)", self.info.node_id)

    def _on_seal(self) -> None:
        """In place of the core's ``close_state``: drop the state (still holding the lock, so its
        last writes are fenced under this node's epoch), then leave the election."""
        with self._lock:
            election, self._election = self._election, None
        self._active = False
        try:
            if self.perf is not None:
                self.perf.stop()
            self._close_state()
        finally:
            self.fencing.epoch = None
            self.tls.forget()
            if election is not None:
                election.stop()  # not joined: its thread may wait for the state lock held here

    def close(self) -> None:
        """The server stops: leave the election (the lock goes with the connection)."""
        election, self._election = self._election, None
        if election is not None:
            election.stop()
            election.join(5.0)

    # -- the election's callbacks (on its thread) ------------------------------------------
    def _became_active(self, election: Election, epoch: int) -> bool:
        """Build the unsealed state under ``epoch``; False (stay standby) if that fails or the
        node left this election meanwhile (sealed, perhaps unsealed again)."""
        started = time.monotonic()
        try:
            if self.perf is not None:
                self.perf.stop()  # the standby's state goes before the active one is built
            with self.core.state_lock:
                if self.core.sealed or self._election is not election:
                    return False
                self.fencing.epoch = epoch
                # The keyring as stored: the active node may have rotated it since this unseal;
                # and nothing cached before: the feed may not have caught up with the last writes.
                if not self._keyring_opens():
                    return False
                if self.core.barrier.cache is not None:
                    self.core.barrier.cache.clear()
                self._open_state(False)
                self.tls.ensure_ca()
        except (Exception, StandbyWrite):
            log.exception("HA: becoming active failed: standing down")
            self._drop_state()
            return False
        self.active_since = time.time()
        self._active = True
        log.info("HA: active (epoch %d) in %.3f s", epoch, time.monotonic() - started)
        return True

    def _may_lead(self) -> bool:
        """False while another node holds a secondary enable not yet saved (``pending.py``): that
        node alone can make the cluster the secondary, so this one stays standby meanwhile."""
        marker = pending_enable.read(self.physical)
        if marker is None or not marker.blocks(self.core.replication_addresses()[0], time.time()):
            self._waiting_for = None
            return True
        if marker != self._waiting_for:  # once per marker, not every round
            log.info("HA: %s holds a pending %s secondary enable: staying standby", marker.node, marker.kind)
            self._waiting_for = marker
        with self.core.state_lock:  # the stored keyring is the primary's now: seal if it does not open
            if not self.core.sealed:
                self._keyring_opens()
        return False

    def _keyring_opens(self) -> bool:
        """Reload the stored keyring; when this node's root key no longer opens it (the cluster
        was made a replication secondary: its storage holds the primary's keyring), seal, to be
        unsealed with the primary's keys, rather than fail at every election."""
        try:
            self.core.barrier.reload_keyring()
            return True
        except BarrierError as exc:
            log.error("HA: the stored keyring does not open with this node's root key (%s): sealing", exc)
            threading.Thread(target=self.core.seal, name="ha-seal", daemon=True).start()
            return False

    def _fenced(self) -> None:
        """A write found another node's epoch: serve nothing more (requests are forwarded) before
        the election, woken next, confirms the loss and drops the state."""
        self._active = False

    def _lost(self) -> None:
        """No longer the leader: stop serving first, then drop what only the active node runs."""
        self._active = False
        log.warning("HA: lost leadership: standby now")
        self._drop_state()
        if self.perf is not None and self._election is not None and not self.core.sealed:
            self.perf.start()

    def _drop_state(self) -> None:
        """Refuse writes, then drop what the unseal built (unless sealed meanwhile: done then)."""
        self.fencing.epoch = None
        with self.core.state_lock:
            if self.core.sealed:
                return
            try:
                self._close_state()
            except (Exception, StandbyWrite):  # a write while tearing down: refused, nothing to undo
                log.exception("HA: dropping the active node's state failed")
