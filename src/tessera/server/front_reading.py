"""A whole, plain HTTP/1.1 request read at once, as h11 reads it, for the TLS front.

h11's state machine, events and header normalisation cost the front ~50-100 µs per request: as
much as a batch-token login's own work in the pipeline. Most requests arrive whole in one TLS
record and use none of what that machinery is for (chunked bodies, ``Expect: 100-continue``,
HTTP/1.0, upgrades). For those, :func:`simple_request` applies h11's own
grammar (``h11._abnf``'s patterns, copied: a request line, header lines, a ``Content-Length``)
and returns what h11 would have; for everything else it returns None and h11 reads the bytes
as before, so any request h11 refuses or treats specially is still h11's to answer.

The plain-HTTP listener reads every request with ``server/http1.py`` instead, a whole reader of
its own (chunked bodies, 100-continue, Go's refusals); the TLS front keeps h11 behind this
shortcut until it is moved onto that reader too.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import h11

# h11._abnf: token, vchar, field values without white space at either end (OWS is trimmed).
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/1\.1")
_HEADER = re.compile(rb"(" + _TOKEN + rb"):[ \t]*((?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?)[ \t]*")
# Headers whose meaning h11 acts on beyond framing and closing: its reading is kept for them.
_H11_ONLY = frozenset({b"transfer-encoding", b"expect", b"upgrade"})
_MAX_LENGTH_DIGITS = 20  # h11's CONTENT_LENGTH_MAX_DIGITS
_MAX_HEAD = 16 * 1024  # h11's default max_incomplete_event_size


# Heads read lately, by their exact bytes (a client sends the same head with every login), for
# heads of these names only: never one carrying a token or credentials, which are kept in memory
# only as long as their request.
_PUBLIC_NAMES = frozenset(
    {
        b"host",
        b"user-agent",
        b"accept",
        b"accept-encoding",
        b"content-type",
        b"content-length",
        b"connection",
        b"x-vault-request",
    }
)
_READ: dict[bytes, tuple[Head, int, int]] = {}
_MAX_READ = 256


class Head(NamedTuple):
    """A request's method, target and headers (names lower-cased), as h11's ``Request`` has them;
    ``close``: its ``Connection`` header asks to close after the answer (h11's MUST_CLOSE; for a
    request h11 read, h11's state says so); ``fields``: the headers as the App takes them (names
    and values decoded as Latin-1, a repeated name's last value). Shared between requests with
    the same head (:func:`read_head`): never changed."""

    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    close: bool = False
    fields: dict[str, str] = {}

    @classmethod
    def of(cls, request: h11.Request) -> Head:
        headers = list(request.headers)
        return cls(request.method, request.target, headers, False, _fields(headers))


def _fields(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in headers}


def simple_request(data: bytes) -> tuple[Head, bytes] | None:
    """``data`` as exactly one complete request and its body, or None: h11's to read."""
    found = read_head(data)
    if found is None:
        return None
    head, start, length = found
    if len(data) != start + length:
        return None  # not exactly the body: pipelined, or still coming
    return head, data[start:]


def read_head(data: bytes) -> tuple[Head, int, int] | None:
    """The head of a plain request at the start of ``data``, where its body begins in ``data``
    and the body's length; None: h11's to read.

    A head read before is answered from memory (the same objects: callers must not change
    them); heads with any header outside a few public names are never kept."""
    end = data.find(b"\r\n\r\n")
    if end < 0 or end > _MAX_HEAD:
        return None
    raw = data[:end]
    found = _READ.get(raw)
    if found is not None:
        return found
    found = _read_head(data, end)
    if found is not None and all(name in _PUBLIC_NAMES for name, _ in found[0].headers):
        if len(_READ) >= _MAX_READ:
            _READ.clear()  # bounded: a flood of distinct heads only costs reading them
        _READ[raw] = found
    return found


def _read_head(data: bytes, end: int) -> tuple[Head, int, int] | None:
    """:func:`read_head` without the memory, ``end`` where the head's blank line begins."""
    lines = data[:end].split(b"\r\n")
    line = _REQUEST_LINE.fullmatch(lines[0])
    if line is None or line[1] == b"CONNECT":
        return None
    headers = []
    length = b""
    hosts = 0
    close = False
    for raw in lines[1:]:
        field = _HEADER.fullmatch(raw)
        if field is None:
            return None  # an obsolete line fold, a bare LF, a bad name or value: h11 decides
        name, value = field[1].lower(), field[2]
        if name in _H11_ONLY:
            return None
        if name == b"content-length":
            if length or not value.isdigit() or len(value) > _MAX_LENGTH_DIGITS:
                return None  # repeated, a list, or not a plain number
            length = value
        elif name == b"host":
            hosts += 1
        elif name == b"connection":  # h11's get_comma_header, then "close" in it
            close = close or b"close" in [token.strip() for token in value.lower().split(b",")]
        headers.append((name, value))
    if hosts != 1:
        return None  # h11 refuses it
    head = Head(line[1], line[2], headers, close, _fields(headers))
    return head, end + 4, int(length) if length else 0
