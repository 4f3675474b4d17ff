"""A standby's forwarder: over the cluster's mutual TLS to the active node's cluster address,
its answer unchanged, retries only for undelivered requests."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tessera.cluster.cluster_tls import ClusterCA, NodeTLS, issue_node, make_ca
from tessera.cluster.forwarding import NOT_ACTIVE_HEADER
from tessera.cluster.ha import forwarder as forwarding
from tessera.cluster.ha.forwarder import NO_ACTIVE, ActiveForwarder, ServeHere
from tessera.cluster.interfaces import HandedOver
from tessera.core.ha import LeaderInfo
from tessera.runtime import mtls
from tests.helpers.servers import free_port

CA = make_ca("test", time.time())
MINE = issue_node(CA, "127.0.0.1", "standby", time.time())


class _Active(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []
    not_active = 0  # how many requests to refuse as a node that is not active

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        _Active.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
                "peer": self.connection.getpeercert(),  # type: ignore[attr-defined]
            }
        )
        if _Active.not_active:
            _Active.not_active -= 1
            self.send_response(503)
            self.send_header(NOT_ACTIVE_HEADER, "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        payload = json.dumps({"errors": ["permission denied"]}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_LIST = _answer

    def log_message(self, *args: object) -> None:
        pass


def _server_context(ca: ClusterCA) -> ssl.SSLContext:
    """The active node's side: its certificate from ``ca``, a client certificate of ``CA`` required."""
    node = issue_node(ca, "127.0.0.1", "active", time.time())
    return mtls.server_context(mtls.cert_pem(CA.cert), mtls.Pair(node.cert, node.key))


@contextmanager
def _serve(ctx: ssl.SSLContext) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Active)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Active.seen, _Active.not_active = [], 0
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def active() -> Iterator[str]:
    """The active node's cluster address (a cluster listener's stand-in)."""
    with _serve(_server_context(CA)) as url:
        yield url


def _leader(cluster_addr: str, node_id: str = "other") -> LeaderInfo:
    return LeaderInfo(node_id, "http://127.0.0.1:1", cluster_addr, 0.0)


def _forwarder(leader: Any, active: bool = False, tls: NodeTLS | None = MINE) -> ActiveForwarder:
    return ActiveForwarder(leader, "me", lambda: active, tls=lambda: tls)


class _Proto:
    def __init__(self) -> None:
        self.answers: list[tuple[int, list[tuple[str, str]], bytes]] = []

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.answers.append((status, headers, body))


def _request(proto: _Proto, method: str = "PUT") -> HandedOver:
    headers = {
        "x-vault-token": "t",
        "content-type": "application/json",
        "host": "standby",
        "connection": "close",
    }
    return HandedOver(proto, method, "/v1/kv/a", b"x=1", headers, b'{"v":1}', "10.1.2.3", False)


def test_the_answer_is_relayed_unchanged(active: str) -> None:
    forwarder = _forwarder(lambda: _leader(active))
    proto = _Proto()
    assert forwarder.forward(_request(proto)) == 403
    status, headers, body = proto.answers[0]
    assert status == 403 and json.loads(body) == {"errors": ["permission denied"]}
    names = {k.lower(): v for k, v in headers}
    assert names["content-type"] == "application/json" and names["cache-control"] == "no-store"
    assert "content-length" not in names
    sent = _Active.seen[0]
    assert (sent["method"], sent["path"], sent["body"]) == ("PUT", "/v1/kv/a?x=1", b'{"v":1}')
    assert sent["headers"]["x-vault-token"] == "t" and sent["headers"]["x-forwarded-for"] == "10.1.2.3"
    # who the client is: believed on the cluster listener, whose handshake proved the sender
    assert (sent["headers"]["x-tessera-client"], sent["headers"]["x-tessera-tls"]) == ("10.1.2.3", "0")
    assert "x-tessera-forward" not in sent["headers"]  # no shared secret on the wire
    assert ("commonName", "node-standby") in sent["peer"]["subject"][0]  # this node's certificate
    forwarder.close()


def test_an_undelivered_request_goes_to_the_next_active_node(active: str) -> None:
    dead = _leader(f"https://127.0.0.1:{free_port()}", "dead")
    calls = {"n": 0}

    def leader() -> LeaderInfo:
        calls["n"] += 1
        return dead if calls["n"] < 3 else _leader(active, "next")

    forwarder = _forwarder(leader)
    proto = _Proto()
    assert forwarder.forward(_request(proto, "LIST")) == 403
    assert len(_Active.seen) == 1 and _Active.seen[0]["method"] == "LIST"
    forwarder.close()


def test_a_node_that_is_not_active_refuses_and_the_request_is_sent_again(active: str) -> None:
    _Active.not_active = 2  # e.g. the node the HA table names is still building its state
    forwarder = _forwarder(lambda: _leader(active))
    proto = _Proto()
    assert forwarder.forward(_request(proto)) == 403
    assert len(_Active.seen) == 3 and proto.answers[0][0] == 403
    forwarder.close()


def test_no_active_node_is_a_500_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forwarding, "RETRY_SECONDS", 0.3)
    forwarder = _forwarder(lambda: None)
    proto = _Proto()
    assert forwarder.forward(_request(proto)) == 500
    assert json.loads(proto.answers[0][2]) == {"errors": [NO_ACTIVE]}
    forwarder.close()


def test_nothing_is_sent_without_a_cluster_certificate(active: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sealed, or before an active node made the CA: no request leaves, in clear or otherwise."""
    monkeypatch.setattr(forwarding, "RETRY_SECONDS", 0.3)
    forwarder = _forwarder(lambda: _leader(active), tls=None)
    proto = _Proto()
    assert forwarder.forward(_request(proto)) == 500
    assert json.loads(proto.answers[0][2]) == {"errors": [NO_ACTIVE]} and _Active.seen == []
    forwarder.close()


def test_a_node_with_another_cas_certificate_is_not_sent_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cluster's CA is the forwarder's only trust root: an impostor gets no token."""
    monkeypatch.setattr(forwarding, "RETRY_SECONDS", 0.3)
    impostor = make_ca("impostor", time.time())
    with _serve(_server_context(impostor)) as url:
        forwarder = _forwarder(lambda: _leader(url))
        proto = _Proto()
        assert forwarder.forward(_request(proto)) == 500
        assert _Active.seen == []
        forwarder.close()


def test_a_node_that_became_active_serves_the_request_itself() -> None:
    forwarder = _forwarder(lambda: _leader("https://127.0.0.1:1", "me"), active=True)
    with pytest.raises(ServeHere):
        forwarder.forward(_request(_Proto()))
    forwarder.close()


def test_a_certificate_that_cannot_be_had_is_waited_for_not_a_traceback(
    active: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forwarding, "RETRY_SECONDS", 0.3)

    def unreadable() -> NodeTLS:
        raise OSError("the database is down")

    forwarder = ActiveForwarder(lambda: _leader(active), "me", lambda: False, tls=unreadable)
    proto = _Proto()
    assert forwarder.forward(_request(proto)) == 500
    assert json.loads(proto.answers[0][2]) == {"errors": [NO_ACTIVE]} and _Active.seen == []
    forwarder.close()


def test_an_unreachable_active_node_is_a_500_naming_it_and_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forwarding, "RETRY_SECONDS", 0.3)
    dead = _leader(f"https://127.0.0.1:{free_port()}", "dead")
    forwarder = _forwarder(lambda: dead)
    proto = _Proto()
    started = time.monotonic()
    assert forwarder.forward(_request(proto)) == 500
    assert time.monotonic() - started < 3  # bounded: RETRY_SECONDS, not the read timeout
    (message,) = json.loads(proto.answers[0][2])["errors"]
    assert message.startswith(f"error forwarding the request to the active node at {dead.cluster_addr}: ")
    assert "refused" in message.lower(), message
    forwarder.close()


def test_an_active_node_that_does_not_answer_in_time_is_a_500_sent_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It may have received the request: it is not sent again, and the client hears why."""
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    silent = _leader(f"https://127.0.0.1:{listener.getsockname()[1]}", "silent")
    monkeypatch.setattr(forwarding, "TIMEOUT", httpx.Timeout(0.5))
    forwarder = _forwarder(lambda: silent)
    proto = _Proto()
    try:
        assert forwarder.forward(_request(proto)) == 500
        (message,) = json.loads(proto.answers[0][2])["errors"]
        prefix = f"error forwarding the request to the active node at {silent.cluster_addr}: "
        assert message.startswith(prefix) and "timed out" in message, message
    finally:
        forwarder.close()
        listener.close()


def test_a_node_that_cannot_reach_the_database_says_so_at_once() -> None:
    """No active node can be known while the database is out of reach: a 503 naming it, no wait."""
    cause = "storage backend unavailable: connection failed: Connection refused"
    forwarder = ActiveForwarder(lambda: None, "me", lambda: False, storage_failure=lambda: cause)
    proto = _Proto()
    started = time.monotonic()
    assert forwarder.forward(_request(proto)) == 503
    assert time.monotonic() - started < 0.5
    assert json.loads(proto.answers[0][2]) == {"errors": [cause]}
    forwarder.close()
