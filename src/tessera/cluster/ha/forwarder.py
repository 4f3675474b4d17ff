"""Handing a standby's request to the active node over the cluster's mutual TLS, and its answer back unchanged.

The request goes to the ``cluster_addr`` the active node advertises in the HA table, over TLS
1.3 with this node's cluster certificate and the cluster's CA as the only trust root
(``node_tls.py``): the active node's cluster listener believes the client's address, scheme
and certificates in the headers worker processes use (``cluster/forwarding.py``) because the
handshake proved the sender a node of this cluster; ``X-Forwarded-For`` gets the address too.
The answer (status, headers, body) goes to the client as the active node gave it.

A request that never reached the active node (it was just killed, another one is taking over,
or the node named is not active yet or any more and refused it unserved, ``peer_role.py``) is
tried again while the HA table names a new one, for up to ``RETRY_SECONDS``; one that reached
it is never sent twice.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable

import httpx
import orjson

from ...core.ha import LeaderInfo
from ...storage.base import StorageUnavailable
from ..cluster_tls import NodeTLS, client_context
from ..forwarding import (
    CLIENT_HEADER,
    FORWARD_HEADER,
    NO_ACTIVE,
    NOT_ACTIVE_HEADER,
    PEER_CERTS_HEADER,
    TLS_HEADER,
)
from ..interfaces import HandedOver

log = logging.getLogger("tessera.ha")

RETRY_SECONDS = 5.0
RETRY_PAUSE = 0.1  # between attempts at a node that could not take the request
TIMEOUT = httpx.Timeout(connect=2.0, read=90.0, write=30.0, pool=10.0)
# Headers of one connection; on the way in also the claims about the client only this node makes.
_CONNECTION = ("connection", "keep-alive", "transfer-encoding", "content-length", "te", "upgrade")
_REQUEST_HOP = frozenset((*_CONNECTION, "host", FORWARD_HEADER, CLIENT_HEADER, TLS_HEADER, PEER_CERTS_HEADER))
_ANSWER_HOP = frozenset((*_CONNECTION, "date", "server"))


class ServeHere(Exception):
    """While the request waited for an active node, this node became it: serve it here."""


class _Undelivered(Exception):
    """The node reached did not take the request (not active): nothing ran, send it again."""


class ForwardFailed(Exception):
    """The active node could not be reached, or its answer not read: the message names it and why."""

    def __init__(self, leader: LeaderInfo, exc: httpx.HTTPError) -> None:
        cause = str(exc) or type(exc).__name__
        super().__init__(f"error forwarding the request to the active node at {leader.cluster_addr}: {cause}")


class ActiveForwarder:
    """Sends requests to the active node that ``leader()`` names (``self_id``: this node, which
    ``is_active()`` tells)."""

    def __init__(
        self,
        leader: Callable[[], LeaderInfo | None],
        self_id: str,
        is_active: Callable[[], bool],
        *,
        tls: Callable[[], NodeTLS | None] = lambda: None,
        storage_failure: Callable[[], str] = str,
    ) -> None:
        self.leader = leader
        self.self_id = self_id
        self.is_active = is_active
        # Why this node cannot reach the database ("" while it can): then it knows no active node.
        self.storage_failure = storage_failure
        self.tls = tls  # this node's cluster certificate (None while sealed or before the CA)
        self._client: tuple[NodeTLS, httpx.Client] | None = None

    def _client_for(self, tls: NodeTLS) -> httpx.Client:
        """A client with ``tls`` as its certificate: a new one when the certificate was re-issued
        (the old one is left to requests still using it, and to the garbage collector)."""
        held = self._client
        if held is not None and held[0] is tls:
            return held[1]
        context: ssl.SSLContext = client_context(tls)
        client = httpx.Client(timeout=TIMEOUT, verify=context, follow_redirects=False)
        self._client = (tls, client)
        return client

    def forward(self, request: HandedOver) -> int:
        """Answer ``request`` with the active node's answer; the status sent."""
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
        """One request to the active node; another while it did not take it and the HA table
        named a new active node since (or the same one, now ready)."""
        headers = self._headers(request)
        query = request.query_string.decode("latin-1")
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            leader, tls = self.leader(), self._certificate()
            if leader is None or not leader.cluster_addr or leader.node_id == self.self_id or tls is None:
                if self.is_active():
                    raise ServeHere()
                self._none_known(deadline)
                time.sleep(RETRY_PAUSE)
                continue
            url = leader.cluster_addr.rstrip("/") + request.raw_path + ("?" + query if query else "")
            try:
                return self._deliver(tls, request.method, url, headers, request.body or b"")
            except _Undelivered:
                self._none_known(deadline)
            except httpx.ConnectError as exc:
                if time.monotonic() > deadline:
                    raise ForwardFailed(leader, exc) from None
            except httpx.HTTPError as exc:  # reached it, or may have: never sent twice
                raise ForwardFailed(leader, exc) from None
            time.sleep(RETRY_PAUSE)  # then the node the HA table names by now

    def _none_known(self, deadline: float) -> None:
        """No active node known: if this node cannot read the HA table, say why at once (rather
        than wait); past ``deadline``, that none was found."""
        failure = self.storage_failure()
        if failure:
            raise StorageUnavailable(failure)
        if time.monotonic() > deadline:
            raise LookupError(NO_ACTIVE)

    def _certificate(self) -> NodeTLS | None:
        """This node's certificate; None (wait, as for an active node) if the CA cannot be read now."""
        try:
            return self.tls()
        except Exception as exc:  # the storage is down, or the stored CA does not load
            log.warning("HA: no cluster certificate to forward with: %s", exc)
            return None

    def _deliver(
        self, tls: NodeTLS, method: str, url: str, headers: list[tuple[str, str]], body: bytes
    ) -> httpx.Response:
        answer = self._client_for(tls).request(method, url, headers=headers, content=body)
        if answer.status_code == 503 and answer.headers.get(NOT_ACTIVE_HEADER):
            raise _Undelivered()
        return answer

    def _headers(self, request: HandedOver) -> list[tuple[str, str]]:
        """The client's headers, and who the client is (believed on the cluster listener only)."""
        headers = [(k, v) for k, v in request.headers.items() if k not in _REQUEST_HOP]
        forwarded = request.headers.get("x-forwarded-for")
        headers.append(
            ("x-forwarded-for", f"{forwarded}, {request.remote_addr}" if forwarded else request.remote_addr)
        )
        tls = request.tls
        headers += [(CLIENT_HEADER, request.remote_addr), (TLS_HEADER, "1" if tls else "0")]
        if getattr(tls, "peer_certificates", None):  # server/peer.py's PeerTLS: for cert logins
            headers.append((PEER_CERTS_HEADER, tls.header_value()))  # type: ignore[attr-defined]
        return headers

    def close(self) -> None:
        held, self._client = self._client, None
        if held is not None:
            held[1].close()
