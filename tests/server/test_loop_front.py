"""The event-loop front (server/loop_front.py) on the wire, beside the reference where Go decides.

Raw sockets, so that what a library would smooth over (pipelining, chunking, 100-continue,
malformed requests) reaches both servers byte for byte.
"""

from __future__ import annotations

import re
import socket
import time

import pytest

from tests.helpers.servers import ReferenceServer, ServerProcess, TesseraServer

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

_STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) ")


def _exchange(server: ServerProcess, wire: bytes, *, timeout: float = 5.0) -> bytes:
    """Send ``wire`` and read until the server closes (the last request asks it to)."""
    host, port = server.addr.split("://", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(wire)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:  # closed with unread bytes: what arrived before counts
                break
            if not chunk:
                break
            out += chunk
    return out


def _statuses(answer: bytes) -> list[int]:
    return [int(m.group(1)) for m in _STATUS.finditer(answer)]


def _both(reference: ReferenceServer, tessera: TesseraServer) -> list[tuple[ServerProcess, str]]:
    assert reference.root_token and tessera.root_token
    return [(reference, reference.root_token), (tessera, tessera.root_token)]


def test_pipelined_requests_with_vaults_methods_are_answered_in_order(
    fresh_reference: ReferenceServer, fresh_tessera: TesseraServer
) -> None:
    """Fresh servers: the root tokens of the shared ones are not this test's to count on."""
    statuses = []
    for server, token in _both(fresh_reference, fresh_tessera):
        wire = (
            b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n"
            + f"LIST /v1/sys/policies/acl HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {token}\r\n\r\n".encode()
            + b"GET /v1/sys/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        answer = _exchange(server, wire)
        statuses.append(_statuses(answer))
        assert b'"keys":["default","root"]' in answer
    assert statuses == [[200, 200, 403]] * 2


def test_a_chunked_body_is_read_whole(reference: ReferenceServer, tessera: TesseraServer) -> None:
    for server, token in _both(reference, tessera):
        body = b'{"value": "chunked"}'
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:7], body[7:]))
        wire = (
            f"PUT /v1/cubbyhole/chunked HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {token}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
            + chunks
            + b"0\r\n\r\n"
            + f"GET /v1/cubbyhole/chunked HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {token}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        answer = _exchange(server, wire)
        assert _statuses(answer) == [204, 200], (server, answer[:600])
        assert b'"value":"chunked"' in answer


def test_expect_100_continue_is_answered_before_the_body(
    reference: ReferenceServer, tessera: TesseraServer
) -> None:
    for server, token in _both(reference, tessera):
        host, port = server.addr.split("://", 1)[1].rsplit(":", 1)
        body = b'{"value": "after 100"}'
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(
                f"PUT /v1/cubbyhole/continued HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {token}\r\n"
                f"Expect: 100-continue\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            )
            interim = sock.recv(4096)
            assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), (server, interim)
            sock.sendall(body)
            final = b""
            while chunk := sock.recv(4096):
                final += chunk
        assert _statuses(interim + final)[-1] == 204, (server, final)


@pytest.mark.parametrize(
    ("wire", "status"),
    [
        (b"GET /v1/sys/health\r\n\r\n", 400),
        (b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400),
        (b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 21) + b"\r\n\r\n", 431),
        (b"PUT /v1/sys/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    ],
    ids=["no-version", "space-in-name", "huge-headers", "unknown-coding"],
)
def test_malformed_requests_get_gos_status_and_a_close(
    reference: ReferenceServer, tessera: TesseraServer, wire: bytes, status: int
) -> None:
    # Go stops reading huge headers and closes: its answer may be lost to the reset that follows.
    answer = _exchange(reference, wire)
    assert _statuses(answer) in ([status], [] if status == 431 else [status]), answer[:300]
    answer = _exchange(tessera, wire)
    assert _statuses(answer) == [status], answer[:300]


def test_a_request_without_host_gets_gos_words(reference: ReferenceServer, tessera: TesseraServer) -> None:
    answers = [_exchange(server, b"GET /v1/sys/health HTTP/1.1\r\n\r\n") for server in (reference, tessera)]
    bodies = [answer.partition(b"\r\n\r\n")[2] for answer in answers]
    assert bodies == [b"400 Bad Request: missing required Host header"] * 2
    assert all(a.startswith(b"HTTP/1.1 400 Bad Request: missing required Host header\r\n") for a in answers)


def test_head_and_no_content_answers_carry_no_body(tessera: TesseraServer) -> None:
    token = tessera.root_token
    assert token
    wire = (
        b"HEAD /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n"
        + f"PUT /v1/cubbyhole/empty HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {token}\r\n"
        'Content-Length: 11\r\n\r\n{"a": "b"}\n'.encode()
        + b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answer = _exchange(tessera, wire)
    assert _statuses(answer) == [200, 204, 200]
    head_answer, no_content, last = answer.split(b"HTTP/1.1 ")[1:]
    assert head_answer.endswith(b"\r\n\r\n") and no_content.endswith(b"\r\n\r\n")
    assert b"content-length" not in no_content.lower()
    assert last.endswith(b"}")


def test_an_http_1_0_request_is_answered_and_closed(tessera: TesseraServer) -> None:
    answer = _exchange(tessera, b"GET /v1/sys/health HTTP/1.0\r\n\r\n")
    assert _statuses(answer) == [200] and b"connection: close" in answer.lower()


def test_headers_sent_a_byte_at_a_time_are_read_once(tessera: TesseraServer) -> None:
    """A client dribbling its headers byte by byte gets its answer; the reader keeps what it has
    searched (no quadratic rescans of a growing buffer)."""
    host, port = tessera.addr.split("://", 1)[1].rsplit(":", 1)
    wire = (
        b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 3000 + b"\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(wire), 7):
            sock.sendall(wire[i : i + 7])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert _statuses(answer) == [200]


def test_a_request_in_flight_is_answered_when_the_server_stops(fresh_tessera: TesseraServer) -> None:
    """SIGTERM while a long request runs on the side pool: the listener stops accepting, the
    request still gets its answer, then the server exits."""
    import signal
    import threading

    import requests

    server = fresh_tessera
    server.ok("POST", "sys/mounts/transit", {"type": "transit"})
    # The first RSA-4096 key runs long on the loop's thread: the route is learned, the next goes to the pool.
    server.ok("POST", "transit/keys/first", {"type": "rsa-4096"})
    answers: list[int] = []

    def create() -> None:
        answer = requests.post(
            f"{server.addr}/v1/transit/keys/second",
            json={"type": "rsa-4096"},
            headers={"X-Vault-Token": server.root_token or ""},
            timeout=30,
        )
        answers.append(answer.status_code)

    client = threading.Thread(target=create)
    client.start()
    time.sleep(0.05)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    client.join(30)
    assert answers in ([200], [204])
    assert server.process.wait(20) == 0


def test_an_http_1_0_client_asking_to_be_kept_alive_is_told_so(tessera: TesseraServer) -> None:
    wire = b"GET /v1/sys/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /v1/sys/health HTTP/1.0\r\n\r\n"
    answer = _exchange(tessera, wire)
    first, second = answer.split(b"HTTP/1.1 ")[1:]
    assert b"connection: keep-alive" in first.lower() and b"connection: close" in second.lower()


def test_the_common_answer_is_the_general_heads_bytes() -> None:
    """``_plain_answer`` (made from cached pieces) writes what ``_head`` formats, for every status
    it is used for and lengths both cached and not."""
    from tessera.server import loop_front
    from tessera.server.render import BASE_HEADERS_STR

    date = b"Mon, 07 Dec 2026 22:00:00 GMT"
    date_line = b"date: " + date + b"\r\n\r\n"
    for status in sorted(loop_front._PLAIN):
        for body in (b"", b"{}", b"x" * 70000):
            expected = loop_front._head(status, BASE_HEADERS_STR, len(body), False, date) + body
            assert loop_front._plain_answer(status, body, date_line) == expected
            assert loop_front._plain_answer(status, body, date_line) == expected  # cached pieces
    assert 204 not in loop_front._PLAIN and 304 not in loop_front._PLAIN


def test_a_request_in_one_read_and_in_pieces_get_the_same_answer(tessera: TesseraServer) -> None:
    """The whole-request lane (``LoopConnection._whole``) against the general reader: a request
    sent in one write, the same sent a few bytes at a time, and the same behind a pipelined one."""
    assert tessera.root_token
    body = b'{"policies":["default"],"ttl":"1h","type":"batch","meta":{"a":"b"}}'
    wire = (
        f"POST /v1/auth/token/lookup-self HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {tessera.root_token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    close = b"GET /v1/sys/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    host, port = tessera.addr.split("://", 1)[1].rsplit(":", 1)

    def sent(*writes: bytes) -> bytes:
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            for data in writes:
                sock.sendall(data)
                time.sleep(0.05)  # each write its own read on the server's side
            out = b""
            while chunk := sock.recv(65536):
                out += chunk
        return out

    whole = sent(wire, close)
    pieces = sent(*[wire[i : i + 7] for i in range(0, len(wire), 7)], close)
    pipelined = sent(wire + close)

    def without_dates(answer: bytes) -> bytes:
        answer = re.sub(rb"date: [^\r]*\r\n", b"", answer)
        return re.sub(rb'"request_id":"[^"]*"', b"", answer)

    assert _statuses(whole) == [200, 403]
    assert without_dates(whole) == without_dates(pieces) == without_dates(pipelined)
