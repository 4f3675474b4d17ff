"""The TLS front writes its answers' heads itself (server/front_connection.py): the same bytes h11
wrote, the same headers refused, and ``Connection: close`` exactly when h11 added it."""

from __future__ import annotations

import http

import h11
import pytest

from tessera.server import front_connection
from tessera.server.front_connection import _response_head

JSON = [("content-type", "application/json"), ("cache-control", "no-store")]


def h11_answer(
    request: bytes, status: int, headers: list[tuple[str, str]], body: bytes
) -> tuple[bytes, bool]:
    """What the front sent before: h11's bytes for the answer, and whether h11 would close."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(request)
    while type(conn.next_event()) is not h11.EndOfMessage:
        pass
    closing = conn.their_state is h11.MUST_CLOSE
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    headers.append(("content-length", str(len(body))))
    try:
        reason = http.HTTPStatus(status).phrase.encode()
    except ValueError:
        reason = b""
    out = conn.send(h11.Response(status_code=status, headers=headers, reason=reason))
    assert out is not None
    if body:
        out += conn.send(h11.Data(data=body)) or b""
    out += conn.send(h11.EndOfMessage()) or b""
    return out, closing


KEEP_ALIVE = b"POST /v1/auth/cert/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
CLOSE = b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
HTTP10 = b"GET /v1/sys/health HTTP/1.0\r\n\r\n"


@pytest.mark.parametrize(
    "request_bytes,status,headers,body",
    [
        (KEEP_ALIVE, 200, JSON, b'{"auth": {}}'),
        (KEEP_ALIVE, 200, [*JSON, ("Content-Length", "999")], b"{}"),  # the real length wins
        (KEEP_ALIVE, 204, [("cache-control", "no-store")], b""),
        (KEEP_ALIVE, 599, JSON, b"{}"),  # no reason phrase known
        (KEEP_ALIVE, 400, [*JSON, ("x-empty", "")], b'{"errors": []}'),
        (CLOSE, 200, JSON, b"{}"),
        (CLOSE, 307, [("location", "/v1/x"), ("connection", "keep-alive")], b""),
        (HTTP10, 200, JSON, b"{}"),
    ],
)
def test_the_bytes_are_h11s(
    request_bytes: bytes, status: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    expected, closing = h11_answer(request_bytes, status, headers, body)
    assert _response_head(status, headers, len(body), closing) + body == expected
    # Again, and with another length: the status line and headers kept from the first time.
    assert _response_head(status, headers, len(body), closing) + body == expected
    assert _response_head(status, headers, 7, closing).count(b"content-length: 7\r\n") == 1


def test_only_answers_with_the_base_headers_are_kept() -> None:
    front_connection._HEADS.clear()
    _response_head(200, JSON, 2, False)
    _response_head(200, [*JSON, ("location", "/v1/x")], 0, False)
    _response_head(200, JSON, 2, True)
    assert sorted(key[1] for key in front_connection._HEADS) == [False, True]
    assert all(dict(key[2]).keys() <= {"content-type", "cache-control"} for key in front_connection._HEADS)


@pytest.mark.parametrize(
    "name,value",
    [
        ("x-injected", "a\r\nset-cookie: b"),
        ("x-nul", "a\x00b"),
        ("bad name", "v"),
        ("x-trailing-space", "v "),
        ("x-non-ascii", "é"),
    ],
)
def test_headers_h11_refused_are_refused(name: str, value: str) -> None:
    # h11 raised UnicodeEncodeError for non-ASCII; either way the front closed the connection.
    with pytest.raises((h11.LocalProtocolError, UnicodeEncodeError)):
        h11_answer(KEEP_ALIVE, 200, [(name, value)], b"")
    with pytest.raises(h11.LocalProtocolError):  # what FrontConnection.deliver catches
        _response_head(200, [(name, value)], 0, False)
