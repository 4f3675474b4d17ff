"""bench/server_instructions.py's pieces that run outside valgrind: the client against a real
server, and reading a callgrind dump's own costs by object."""

from __future__ import annotations

from pathlib import Path

from bench.scenarios import Request
from bench.server_instructions import _split, _wire, drive
from tests.helpers.servers import TesseraServer


def test_the_client_sends_wrks_request_on_kept_alive_connections(tessera: TesseraServer) -> None:
    wire = _wire(Request("GET", "sys/health"), f"127.0.0.1:{tessera.port}")
    assert (
        wire
        == f"GET /v1/sys/health HTTP/1.1\r\nHost: 127.0.0.1:{tessera.port}\r\nContent-Type: application/json\r\n\r\n".encode()
    )
    assert drive(tessera.port, wire, 25, 3) == {200: 25}
    posted = _wire(Request("POST", "/nope", "t", {"a": 1}), "h")
    assert posted.endswith(b"X-Vault-Token: t\r\nContent-Length: 8\r\n\r\n" + b'{"a": 1}')
    assert drive(tessera.port, posted, 4, 2) == {404: 4}


DUMP = """# callgrind format
version: 1
creator: callgrind-3.19.0
positions: line
events: Ir sysCount sysTime
fl=(1) ceval.c
fn=(1) _PyEval_EvalFrameDefault
ob=(1) /usr/lib/libpython3.11.so.1.0
0 900
cob=(2) /usr/lib/x86_64-linux-gnu/libc.so.6
cfi=(2) read.c
cfn=(2) read
calls=3 0
0 70 3 9
ob=(2)
fl=(2)
fn=(2)
0 60 3 9
fn=(3) clock_gettime
0 10 2
ob=(3) /site-packages/uvloop/loop.cpython-311-x86_64-linux-gnu.so
fl=(3) core.c
fn=(4) uv_run
0 30
totals: 1000 5 9
"""


def test_a_dumps_own_costs_are_read_by_object(tmp_path: Path) -> None:
    """A call's inclusive cost (after ``calls=``) is not the caller's own; compressed names are
    resolved; a clock read is no system call."""
    dump = tmp_path / "cg.out.1"
    dump.write_text(DUMP)
    assert _split(dump) == {"python": 900, "libc": 70, "uvloop+libuv": 30, "Ir": 1000, "syscalls": 3}
