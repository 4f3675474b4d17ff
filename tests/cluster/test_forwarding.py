"""Handing a request to the active process (cluster/forwarding.py, cluster/relay.py): what goes on
the wire, what the active process's internal listener reads back, and the answer relayed."""

from __future__ import annotations

import socket
import threading
from typing import Any

from tessera.cluster.forwarding import HTTPForwarder, read_forwarded
from tessera.cluster.interfaces import HandedOver
from tessera.server.forward import forwarded_client
from tessera.server.peer import PeerTLS


class Client:
    """The listener's protocol object: the answer the client gets."""

    def __init__(self) -> None:
        self.answered = threading.Event()
        self.answer: tuple[int, list[tuple[str, str]], bytes] | None = None

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.answer = (status, headers, body)
        self.answered.set()


def _active(received: list[bytes]) -> tuple[socket.socket, str]:
    """A stand-in for the internal listener: reads one request, answers with chunks."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        conn, _ = server.accept()
        data = b""
        while b"\r\n\r\n" not in data or not data.endswith(b"{}"):
            data += conn.recv(65536)
        received.append(data)
        conn.sendall(
            b"HTTP/1.1 201 Created\r\nx-a: b\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
        )

    threading.Thread(target=serve, daemon=True).start()
    return server, f"127.0.0.1:{server.getsockname()[1]}"


def test_a_forwarded_request_carries_the_client_and_its_answer_comes_back() -> None:
    received: list[bytes] = []
    server, address = _active(received)
    forwarder = HTTPForwarder(address, "s3cret", ([], b"unreachable"))
    client = Client()
    tls = PeerTLS((b"\x30\x01",))
    headers = {"x-vault-token": "t", "connection": "keep-alive", "x-tessera-client": "forged"}
    forwarder.forward(HandedOver(client, "PUT", "/v1/kv/a", b"x=1", headers, b"{}", "10.1.2.3", tls))  # type: ignore[arg-type]
    assert client.answered.wait(10)
    server.close()
    assert client.answer == (201, [("x-a", "b")], b"ok")
    head, _, body = received[0].partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "PUT /v1/kv/a?x=1 HTTP/1.1" and body == b"{}"
    sent: dict[str, Any] = dict(line.split(": ", 1) for line in lines[1:])
    assert "connection" not in sent and sent["x-vault-token"] == "t"
    assert read_forwarded(dict(sent), "other") is None
    assert forwarded_client(dict(sent), "s3cret") == ("10.1.2.3", tls)
    assert read_forwarded(sent, "s3cret") == ("10.1.2.3", True, "MAE=")
    assert "x-tessera-forward" not in sent  # the secret never reaches the handlers


def test_an_unreachable_active_process_gets_the_configured_answer() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"  # nothing listens there once closed
    forwarder = HTTPForwarder(address, "s3cret", ([("content-type", "application/json")], b"gone"))
    client = Client()
    forwarder.forward(HandedOver(client, "GET", "/v1/kv/a", b"", {}, None, "10.1.2.3", False))
    assert client.answered.wait(10)
    assert client.answer == (500, [("content-type", "application/json")], b"gone")
