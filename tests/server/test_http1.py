"""The HTTP/1.1 request reader (server/http1.py): what it takes, and what it refuses as Go does."""

from __future__ import annotations

import pytest

from tessera.server.http1 import CHUNKED, BadRequest, ChunkedBody, parse_head


def test_vaults_own_methods_are_read() -> None:
    for method in ("LIST", "SCAN", "HELP", "GET", "PUT"):
        head = parse_head(f"{method} /v1/secret/?x=1 HTTP/1.1\r\nHost: a".encode())
        assert (head.method, head.target, head.length, head.keep_alive) == (
            method,
            "/v1/secret/?x=1",
            0,
            True,
        )


def test_headers_by_lower_case_name_with_repeats_joined() -> None:
    head = parse_head(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Vault-Token:  t \r\nX-Vault-Index: a\r\nx-vault-index: b\r\nContent-Length: 3"
    )
    assert head.headers == {"host": "h", "x-vault-token": "t", "x-vault-index": "a, b", "content-length": "3"}
    assert head.length == 3


@pytest.mark.parametrize(
    ("block", "status"),
    [
        (b"GET /\r\nHost: a", 400),  # no version
        (b"GET  / HTTP/1.1", 400),  # two spaces
        (b"G(T / HTTP/1.1", 400),  # not a token
        (b"GET / HTTP/2.0", 505),
        (b"GET / HTTP/1.1\r\nHost : a", 400),  # white space before the colon (smuggling)
        (b"GET / HTTP/1.1\r\nHost: h\r\n folded", 400),  # obsolete line folding
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\nY: b", 400),  # a bare line feed
        (b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4", 400),
        (b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: +3", 400),
        (b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3", 400),
        (b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked", 501),
        (b"GET / HTTP/1.1\r\nX: y", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b", 400),
    ],
)
def test_ambiguous_requests_are_refused(block: bytes, status: int) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_head(block)
    assert refused.value.status == status


def test_same_content_length_twice_is_one() -> None:
    assert parse_head(b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5").length == 5


def test_chunking_wins_over_a_content_length() -> None:
    head = parse_head(b"PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\nContent-Length: 5")
    assert head.length == CHUNKED


def test_keep_alive_by_version_and_connection_header() -> None:
    assert parse_head(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close").keep_alive is False
    assert parse_head(b"GET / HTTP/1.0").keep_alive is False
    assert parse_head(b"GET / HTTP/1.0\r\nConnection: Keep-Alive").keep_alive is True


def test_expect_continue_only_on_http_1_1() -> None:
    assert parse_head(
        b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1"
    ).expect_continue
    assert not parse_head(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1").expect_continue


def test_chunked_body_in_pieces_of_every_size() -> None:
    wire = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT"
    for step in range(1, len(wire) + 1):
        body, buf, pos, done = ChunkedBody(100), b"", 0, False
        for start in range(0, len(wire), step):
            buf = buf[pos:] + wire[start : start + step]
            pos, done = body.feed(buf, 0)
            if done:
                break
        assert done and body.body() == b"hello world"
        assert buf[pos:] == b"NEXT"[: len(buf) - pos]  # what follows is the next request's


def test_chunked_body_past_the_limit_is_dropped() -> None:
    body = ChunkedBody(4)
    assert body.feed(b"5\r\nhello\r\n0\r\n\r\n", 0) == (15, True)
    assert body.too_large and body.body() is None


@pytest.mark.parametrize("wire", [b"zz\r\n", b"5\r\nhelloXX", b"-1\r\n", b"11111111111111111\r\n"])
def test_malformed_chunks_are_refused(wire: bytes) -> None:
    with pytest.raises(BadRequest):
        ChunkedBody(100).feed(wire, 0)


@pytest.mark.parametrize(
    "lines",
    [
        b"Host: h\r\nX-Vault-Token:  t \t\r\nX-Vault-Index: a\r\nx-vault-index: b",
        b"Host: h\r\nEmpty:\r\nBlank: \t \r\nInner: a \t b\r\nLatin: \x80\xff",
        b"Host: h\r\nX-Vault-Token: " + b"t" * 400,
        b"Host: a\r\nHost: b",
        b"Host : a",
        b"Host\r\nX: y",
        b"Host: h\r\n folded",
        b"Host: h\r\nX: a\x00b",
        b"Host: h\r\nX: a\x7fb",
        b"Host: h\r\nX: a\nY: b",
        b"Host: h\r\nX: a\rb",
        b"Host: h\r\nNo colon",
        b"Host: h\r\n: no name",
        b"Host: h\r\nN\xe4me: v",
        b"Host: h\r\nTab\tName: v",
        b"Host: h\r\n\r\nX: y",
        b"Connection: close",
        b"Host: h\r\nConnection: Keep-Alive\r\nExpect: 100-continue\r\nContent-Length: 5",
        b"Host: h\r\nTransfer-Encoding: chunked",
        b"Host: a\r\nBad line\r\nHost: b",  # the first refusal in line order is the one told
    ],
)
@pytest.mark.parametrize(
    "line",
    [
        b"GET /v1/sys/health HTTP/1.1",
        b"LIST /v1/secret/?x=%41 HTTP/1.0",
        b"GET /a\tb HTTP/1.1",
        b"GET /a\x80 HTTP/1.1",
        b"GET  / HTTP/1.1",
        b"GET / HTTP/1.1 ",
        b"G(T / HTTP/1.1",
        b" / HTTP/1.1",
        b"GET / HTTP/1.2",
        b"GET / HTTP/2.0",
        b"GET /",
    ],
)
def test_the_common_head_is_read_as_the_checked_reader_reads_it(line: bytes, lines: bytes) -> None:
    """``parse_head``'s lane for the common head (text split, no regular expressions) gives the
    checked reader's head, or its refusal, for heads of every shape."""
    from tessera.server.http1 import checked_head, common_head

    def read(reader: object) -> object:
        try:
            return reader()  # type: ignore[operator]
        except BadRequest as exc:
            return (exc.status, str(exc), exc.told)

    block = line + b"\r\n" + lines if lines else line
    checked = read(lambda: checked_head(block))
    assert read(lambda: parse_head(block)) == checked
    common = read(lambda: common_head(block))
    assert common is None or common == checked


def test_a_clients_usual_head_takes_the_common_lane() -> None:
    from tessera.server.http1 import common_head

    block = b"POST /v1/auth/token/create HTTP/1.1\r\nHost: 127.0.0.1:8200\r\nContent-Type: application/json"
    head = common_head(block + b"\r\nX-Vault-Token: hvb." + b"A" * 300 + b"\r\nContent-Length: 61")
    assert head is not None and head.length == 61 and head.headers["x-vault-token"] == "hvb." + "A" * 300
