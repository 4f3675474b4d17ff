"""The TLS front's reading of whole plain requests (``server/front_reading.py``) against h11's own: where it
reads a request at all, h11 reads the same method, target, headers and body and ends ready for the
next request; everything h11 refuses or treats specially is left to h11."""

from __future__ import annotations

import h11
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.server import front_reading
from tessera.server.front_reading import Head, read_head, simple_request

CURL_LOGIN = (
    b"POST /v1/auth/cert/login HTTP/1.1\r\nHost: 127.0.0.1:8200\r\nUser-Agent: curl/8.14.1\r\n"
    b'Accept: */*\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"name":"b"}'
)


def h11_reads(data: bytes) -> tuple[Head, bytes] | None:
    """The request h11 reads from ``data`` when it is exactly one whole request, and whether h11
    then closes the connection."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    head, body = None, b""
    try:
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Request):
                head = Head.of(event)
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                return None
    except h11.RemoteProtocolError:
        return None
    if head is None or conn.their_state not in (h11.DONE, h11.MUST_CLOSE):
        return None
    if conn.trailing_data != (b"", False):
        return None
    return head._replace(close=conn.their_state is h11.MUST_CLOSE), body


def test_a_whole_login_is_read_as_h11_reads_it() -> None:
    read = simple_request(CURL_LOGIN)
    assert read is not None and read == h11_reads(CURL_LOGIN)
    head, body = read
    assert head.method == b"POST" and head.target == b"/v1/auth/cert/login" and body == b'{"name":"b"}'
    assert (b"content-type", b"application/json") in head.headers


def test_a_bodiless_get_and_trimmed_values() -> None:
    data = b"GET /v1/sys/health?standbyok=true HTTP/1.1\r\nhost:x\r\nX-Vault-Token: \t s.abc \t\r\n\r\n"
    assert (
        simple_request(data)
        == h11_reads(data)
        == (
            Head(
                b"GET",
                b"/v1/sys/health?standbyok=true",
                [(b"host", b"x"), (b"x-vault-token", b"s.abc")],
                False,
                {"host": "x", "x-vault-token": "s.abc"},
            ),
            b"",
        )
    )


def test_a_head_whose_body_is_still_coming() -> None:
    """Head and body in two writes (Python's http.client): the head, where the body begins, how long."""
    head_only = CURL_LOGIN[: CURL_LOGIN.index(b"\r\n\r\n") + 4]
    found = read_head(head_only + b'{"na')
    assert found is not None and simple_request(head_only + b'{"na') is None
    head, start, length = found
    whole = simple_request(CURL_LOGIN)
    assert whole is not None and head == whole[0]
    assert start == len(head_only) and length == 12


def test_connection_close_is_read_as_h11_reads_it() -> None:
    for value, close in (
        (b"close", True),
        (b"keep-alive, Close ", True),
        (b"keep-alive", False),
        (b"", False),
    ):
        data = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: " + value + b"\r\n\r\n"
        read = simple_request(data)
        assert read is not None and read == h11_reads(data) and read[0].close is close, value


def test_what_h11_treats_specially_is_left_to_h11() -> None:
    base = b"POST / HTTP/1.1\r\nHost: x\r\n"
    left = [
        base + b"Content-Length: 5\r\n\r\nab",  # the body still to come
        base + b"Content-Length: 2\r\n\r\nabGET / HTTP/1.1\r\nHost: x\r\n\r\n",  # pipelined
        base + b"Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
        base + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\nab",
        base + b"Upgrade: h2c\r\n\r\n",
        base + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\nab",
        base + b"Content-Length: 2, 2\r\n\r\nab",
        base + b"Content-Length: +2\r\n\r\nab",
        base + b"Folded: a\r\n b\r\n\r\n",
        base + b"Bad Name: a\r\n\r\n",
        base + b"Nul: a\x00b\r\n\r\n",
        base + b"Host: y\r\n\r\n",
        b"POST / HTTP/1.1\r\n\r\n",  # no Host
        b"GET / HTTP/1.0\r\n\r\n",
        b"CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\nHost: x\n\n",  # bare line feeds
        b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 17000 + b"\r\n\r\n",
    ]
    for data in left:
        assert simple_request(data) is None, data


_NAMES = st.sampled_from(
    [
        *(b"Host", b"host", b"Content-Length", b"Connection", b"Transfer-Encoding", b"Expect"),
        *(b"Upgrade", b"X-Vault-Token", b"X-Vault-Index", b"Content-Type", b"x y", b"", b"A\tB", b"\xff"),
    ]
)
_VALUE = st.binary(max_size=8) | st.sampled_from([b"2", b"0", b"close", b"chunked", b" a b ", b"a\r\n b"])
_SEPARATORS = st.sampled_from([b": ", b":", b":\t", b" : ", b":  "])


def _mostly(usual: bytes, *others: bytes) -> st.SearchStrategy[bytes]:
    """``usual`` nine times in ten, else one of ``others``."""
    return st.sampled_from([usual] * 9 + list(others))


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """Mostly requests h11 reads plainly (a Host, a right Content-Length), with odd pieces mixed in."""
    method = draw(_mostly(b"POST", b"GET", b"HEAD", b"get", b"CONNECT", b"PO ST", b""))
    target = draw(_mostly(b"/v1/auth/cert/login", b"/", b"*", b"/a b", b"", b"/\xff", b"/?x=%20"))
    version = draw(_mostly(b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"http/1.1"))
    end = draw(_mostly(b"\r\n", b"\n"))
    body = draw(st.binary(max_size=6))
    fields = draw(st.lists(st.tuples(_NAMES, _SEPARATORS, _VALUE), max_size=3))
    if draw(_mostly(b"host", b"")):
        fields.append((b"Host", b": ", b"127.0.0.1:8200"))
    if draw(_mostly(b"length", b"")):
        fields.append((b"Content-Length", b": ", str(len(body)).encode()))
    order = draw(st.permutations(range(len(fields))))
    lines = [method + b" " + target + b" " + version]
    lines += [fields[i][0] + fields[i][1] + fields[i][2] for i in order]
    return end.join(lines) + end + end + body + draw(_mostly(b"", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))


@settings(max_examples=3000, deadline=None)
@given(requests())
def test_whatever_it_reads_h11_reads_alike(data: bytes) -> None:
    read = simple_request(data)
    if read is not None:
        assert read == h11_reads(data)
    assert simple_request(data) == read  # again: what a head read before is answered with


def test_a_head_read_before_is_answered_from_memory_unless_it_carries_a_token() -> None:
    """The same head (a client logging in again) is read once and answered as read; a head with
    a header outside the public names (here a token) is read every time and never kept."""
    front_reading._READ.clear()
    first, again = read_head(CURL_LOGIN), read_head(CURL_LOGIN)
    # The same head object: read once. (Compiled, the returned triple is a new tuple each time.)
    assert first is not None and again == first and again is not None and again[0] is first[0]
    assert first == front_reading._read_head(CURL_LOGIN, CURL_LOGIN.find(b"\r\n\r\n"))
    with_token = CURL_LOGIN.replace(b"Accept: */*", b"X-Vault-Token: s.secret")
    read = read_head(with_token)
    reread = read_head(with_token)
    assert read is not None and reread is not None and read == reread and read[0] is not reread[0]
    assert read[0].fields["x-vault-token"] == "s.secret"
    assert not any(b"s.secret" in head for head in front_reading._READ)
    assert list(front_reading._READ) == [CURL_LOGIN[: CURL_LOGIN.find(b"\r\n\r\n")]]
