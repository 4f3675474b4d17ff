"""A standby's forwarder: the active node's answer unchanged, retries only for undelivered requests."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tessera.cluster.ha import forwarder as forwarding
from tessera.cluster.ha.forwarder import NO_ACTIVE, ActiveForwarder, ServeHere
from tessera.cluster.interfaces import HandedOver
from tessera.core.ha import LeaderInfo
from tests.helpers.servers import free_port


class _Active(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        _Active.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
        )
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


@pytest.fixture
def active() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Active)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Active.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


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
    leader = LeaderInfo("other", active, "", 0.0)
    forwarder = ActiveForwarder(lambda: leader, "me", lambda: False, lambda: "s3cret")
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
    # who the client is, believed by the active node beside the cluster's secret only
    assert sent["headers"]["x-tessera-forward"] == "s3cret"
    assert (sent["headers"]["x-tessera-client"], sent["headers"]["x-tessera-tls"]) == ("10.1.2.3", "0")
    forwarder.close()


def test_an_undelivered_request_goes_to_the_next_active_node(active: str) -> None:
    dead = LeaderInfo("dead", f"http://127.0.0.1:{free_port()}", "", 0.0)
    alive = LeaderInfo("next", active, "", 1.0)
    calls = {"n": 0}

    def leader() -> LeaderInfo:
        calls["n"] += 1
        return dead if calls["n"] < 3 else alive

    forwarder = ActiveForwarder(leader, "me", lambda: False)
    proto = _Proto()
    assert forwarder.forward(_request(proto, "LIST")) == 403
    assert len(_Active.seen) == 1 and _Active.seen[0]["method"] == "LIST"
    assert "x-tessera-forward" not in _Active.seen[0]["headers"]  # no secret yet: no claim either
    forwarder.close()


def test_no_active_node_is_a_500_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forwarding, "RETRY_SECONDS", 0.3)
    forwarder = ActiveForwarder(lambda: None, "me", lambda: False)
    proto = _Proto()
    assert forwarder.forward(_request(proto)) == 500
    assert json.loads(proto.answers[0][2]) == {"errors": [NO_ACTIVE]}
    forwarder.close()


def test_a_node_that_became_active_serves_the_request_itself() -> None:
    me = LeaderInfo("me", "http://127.0.0.1:1", "", 0.0)
    forwarder = ActiveForwarder(lambda: me, "me", lambda: True)
    with pytest.raises(ServeHere):
        forwarder.forward(_request(_Proto()))
    forwarder.close()


def test_an_unreachable_active_node_is_a_500_naming_it_and_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forwarding, "RETRY_SECONDS", 0.3)
    dead = LeaderInfo("dead", f"http://127.0.0.1:{free_port()}", "", 0.0)
    forwarder = ActiveForwarder(lambda: dead, "me", lambda: False)
    proto = _Proto()
    started = time.monotonic()
    assert forwarder.forward(_request(proto)) == 500
    assert time.monotonic() - started < 3  # bounded: RETRY_SECONDS, not the read timeout
    (message,) = json.loads(proto.answers[0][2])["errors"]
    assert message.startswith(f"error forwarding the request to the active node at {dead.api_addr}: ")
    assert "refused" in message.lower(), message
    forwarder.close()


def test_an_active_node_that_does_not_answer_in_time_is_a_500_sent_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It may have received the request: it is not sent again, and the client hears why."""
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    silent = LeaderInfo("silent", f"http://127.0.0.1:{listener.getsockname()[1]}", "", 0.0)
    monkeypatch.setattr(forwarding, "TIMEOUT", httpx.Timeout(0.5))
    forwarder = ActiveForwarder(lambda: silent, "me", lambda: False)
    proto = _Proto()
    try:
        assert forwarder.forward(_request(proto)) == 500
        (message,) = json.loads(proto.answers[0][2])["errors"]
        assert message == f"error forwarding the request to the active node at {silent.api_addr}: timed out"
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


def test_a_forwarded_request_is_not_forwarded_again() -> None:
    """Two nodes that each take the other for the active one: the second refuses (421), it does
    not send the request back (where its headers would grow to a 431)."""
    forwarder = ActiveForwarder(lambda: None, "second", lambda: False)
    proto = _Proto()
    request = _request(proto)
    request.headers[forwarding.HOP_HEADER] = "first"
    assert forwarder.forward(request) == 421
    _, headers, body = proto.answers[0]
    assert (forwarding.HOP_HEADER, "second") in headers
    assert json.loads(body) == {"errors": ["node second is not the active node"]}
    forwarder.close()


class _NotActive(BaseHTTPRequestHandler):
    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(421)
        self.send_header(forwarding.HOP_HEADER, "stale")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_misdirected_request_goes_to_the_node_named_next(active: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotActive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stale = LeaderInfo("stale", f"http://127.0.0.1:{server.server_address[1]}", "", 0.0)
    views = iter([stale, stale])
    forwarder = ActiveForwarder(lambda: next(views, LeaderInfo("next", active, "", 1.0)), "me", lambda: False)
    proto = _Proto()
    try:
        assert forwarder.forward(_request(proto)) == 403  # the active node's own answer
        assert _Active.seen[0]["headers"][forwarding.HOP_HEADER] == "me"
    finally:
        forwarder.close()
        server.shutdown()
        server.server_close()
