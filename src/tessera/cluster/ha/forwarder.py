"""Handing a standby's request to the active node over HTTP, and its answer back unchanged.

The request goes to the ``api_addr`` the active node advertises in the HA table with the
client's address, scheme and certificates in the headers worker processes use
(``cluster/forwarding.py``), which the active node believes only beside the cluster's forwarding
secret (kept behind the barrier, ``node.py``); ``X-Forwarded-For`` gets the address too. The
answer (status, headers, body) goes to the client as the active node gave it. A request that never reached the active node (it was just
killed, another one is taking over) is tried again while the HA table names a new one, for up
to ``RETRY_SECONDS``; one that reached it is never sent twice.

This is plain request forwarding over the API listener: cluster traffic on ``cluster_addr``
with mutual TLS is a later step (see the README).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

import httpx
import orjson

from ...core.ha import LeaderInfo
from ...storage.base import StorageUnavailable
from ..forwarding import CLIENT_HEADER, FORWARD_HEADER, NO_ACTIVE, PEER_CERTS_HEADER, TLS_HEADER
from ..interfaces import HandedOver

log = logging.getLogger("tessera.ha")

RETRY_SECONDS = 5.0
# On a request one node forwards to another. A node that is not active either (their views of the
# HA table differ for a moment during a takeover) answers it with 421 and this header instead of
# forwarding it on: two standbys would pass it to and fro, its headers growing, until a 431. The
# sender, knowing it was not served, waits for the table to name another node.
HOP_HEADER = "x-tessera-ha-hop"
MISDIRECTED = 421
TIMEOUT = httpx.Timeout(connect=2.0, read=90.0, write=30.0, pool=10.0)
# Headers of one connection; on the way in also the claims about the client only this node makes.
_CONNECTION = ("connection", "keep-alive", "transfer-encoding", "content-length", "te", "upgrade")
_REQUEST_HOP = frozenset(
    (*_CONNECTION, "host", FORWARD_HEADER, CLIENT_HEADER, TLS_HEADER, PEER_CERTS_HEADER, HOP_HEADER)
)
_ANSWER_HOP = frozenset((*_CONNECTION, "date", "server"))


class ServeHere(Exception):
    """While the request waited for an active node, this node became it: serve it here."""


class ForwardFailed(Exception):
    """The active node could not be reached, or its answer not read: the message names it and why."""

    def __init__(self, leader: LeaderInfo, exc: httpx.HTTPError) -> None:
        cause = str(exc) or type(exc).__name__
        super().__init__(f"error forwarding the request to the active node at {leader.api_addr}: {cause}")


class ActiveForwarder:
    """Sends requests to the active node that ``leader()`` names (``self_id``: this node, which
    ``is_active()`` tells)."""

    def __init__(
        self,
        leader: Callable[[], LeaderInfo | None],
        self_id: str,
        is_active: Callable[[], bool],
        secret: Callable[[], str] = str,
        storage_failure: Callable[[], str] = str,
    ) -> None:
        self.leader = leader
        self.self_id = self_id
        self.is_active = is_active
        self.secret = secret  # the cluster's forwarding secret ("" until the active node made it)
        # Why this node cannot reach the database ("" while it can): then it knows no active node.
        self.storage_failure = storage_failure
        # TLS to the active node's API listener: the system's CAs, or VAULT_CACERT's.
        verify: str | bool = os.environ.get("VAULT_CACERT") or True
        self.client = httpx.Client(timeout=TIMEOUT, verify=verify, follow_redirects=False)

    def forward(self, request: HandedOver) -> int:
        """Answer ``request`` with the active node's answer; the status sent."""
        if HOP_HEADER in request.headers:  # another node took this one for the active node
            body = orjson.dumps({"errors": [f"node {self.self_id} is not the active node"]})
            headers = [("content-type", "application/json"), (HOP_HEADER, self.self_id)]
            request.proto.response_bytes(MISDIRECTED, headers, body)
            return MISDIRECTED
        try:
            answer = self._send(request)
        except (ForwardFailed, LookupError, StorageUnavailable) as exc:
            log.warning("HA: forwarding %s %s failed: %s", request.method, request.raw_path, exc)
            status = 503 if isinstance(exc, StorageUnavailable) else 500
            body = orjson.dumps({"errors": [NO_ACTIVE if isinstance(exc, LookupError) else str(exc)]})
            request.proto.response_bytes(status, [("content-type", "application/json")], body)
            return status
        headers = [(k, v) for k, v in answer.headers.multi_items() if k.lower() not in _ANSWER_HOP]
        body = b"" if request.method == "HEAD" else answer.content
        request.proto.response_bytes(answer.status_code, headers, body)
        return answer.status_code

    def _send(self, request: HandedOver) -> httpx.Response:
        """One request to the active node; another while a connection was refused and the HA
        table named a new active node since."""
        headers = self._headers(request)
        query = request.query_string.decode("latin-1")
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            leader = self.leader()
            if leader is None or not leader.api_addr or leader.node_id == self.self_id:
                if self.is_active():
                    raise ServeHere()
                self._none_known(deadline)
                time.sleep(0.1)
                continue
            url = leader.api_addr.rstrip("/") + request.raw_path + ("?" + query if query else "")
            try:
                answer = self.client.request(
                    request.method, url, headers=headers, content=request.body or b""
                )
            except httpx.ConnectError as exc:
                if time.monotonic() > deadline:
                    raise ForwardFailed(leader, exc) from None
                self._await_other(leader, deadline)
                continue
            except httpx.HTTPError as exc:  # reached it, or may have: never sent twice
                raise ForwardFailed(leader, exc) from None
            if answer.status_code != MISDIRECTED or HOP_HEADER not in answer.headers:
                return answer
            # It served nothing: ask again soon (it may be the node just taking over), as if the
            # table named no node meanwhile.
            self._none_known(deadline)
            time.sleep(0.1)

    def _none_known(self, deadline: float) -> None:
        """No active node known: if this node cannot read the HA table, say why at once (rather
        than wait); past ``deadline``, that none was found."""
        failure = self.storage_failure()
        if failure:
            raise StorageUnavailable(failure)
        if time.monotonic() > deadline:
            raise LookupError(NO_ACTIVE)

    def _headers(self, request: HandedOver) -> list[tuple[str, str]]:
        """The client's headers, and who the client is (believed with the secret only)."""
        headers = [(k, v) for k, v in request.headers.items() if k not in _REQUEST_HOP]
        forwarded = request.headers.get("x-forwarded-for")
        headers.append(
            ("x-forwarded-for", f"{forwarded}, {request.remote_addr}" if forwarded else request.remote_addr)
        )
        headers.append((HOP_HEADER, self.self_id))
        secret = self.secret()
        if secret:
            tls = request.tls
            headers += [
                (FORWARD_HEADER, secret),
                (CLIENT_HEADER, request.remote_addr),
                (TLS_HEADER, "1" if tls else "0"),
            ]
            if getattr(tls, "peer_certificates", None):  # server/peer.py's PeerTLS: for cert logins
                headers.append((PEER_CERTS_HEADER, tls.header_value()))  # type: ignore[attr-defined]
        return headers

    def _await_other(self, tried: LeaderInfo, deadline: float) -> None:
        """Wait (bounded) until the HA table names another active node than ``tried``."""
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.leader()
            if now is not None and now != tried:
                return

    def close(self) -> None:
        self.client.close()
