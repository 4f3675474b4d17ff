"""The TLS front's record calls (``front_connection._recv``/``_send``/``_pending``: pyOpenSSL's cffi
library called directly) answer and raise exactly as pyOpenSSL's ``recv``/``send``/``pending``.

Two connections over memory BIOs, each step done on one with the front's calls and on the other
with pyOpenSSL's methods, from the same state.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from OpenSSL import SSL

from tessera.server import front_connection
from tessera.server.config import ListenerConfig
from tessera.server.tls_front import tls_context
from tests.helpers.pki import Issuer


class Pair:
    """A pyOpenSSL server connection and a Python ``ssl`` client, over memory BIOs."""

    def __init__(self, server_ctx: SSL.Context, client_ctx: ssl.SSLContext) -> None:
        self.server = SSL.Connection(server_ctx, None)
        self.server.set_accept_state()
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.client = client_ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        done = False
        while not done:
            try:
                self.client.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                pass
            self.to_server()
            try:
                self.server.do_handshake()
            except SSL.WantReadError:
                pass
            self.to_client()

    def to_server(self) -> None:
        data = self.outgoing.read()
        if data:
            self.server.bio_write(data)

    def to_client(self) -> None:
        try:
            self.incoming.write(self.server.bio_read(65536))
        except SSL.WantReadError:
            pass


@pytest.fixture(scope="module")
def contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[SSL.Context, ssl.SSLContext]:
    root = Issuer.root(Path(tmp_path_factory.mktemp("records")))
    ca_file, server_pem, client_pem = root.write_ca(), root.server(), root.issue("job-1")
    listener = ListenerConfig(
        address="127.0.0.1:0",
        tls_cert_file=str(server_pem.cert),
        tls_key_file=str(server_pem.key),
        tls_disable_client_certs=False,
    )
    client_ctx = ssl.create_default_context(cafile=str(ca_file))
    client_ctx.load_cert_chain(str(client_pem.cert), str(client_pem.key))
    return tls_context(listener), client_ctx


def _outcome(call: object) -> object:
    try:
        return ("value", call())  # type: ignore[operator]
    except SSL.Error as exc:
        return ("raised", type(exc), exc.args)


def test_the_direct_calls_are_in_use() -> None:
    assert front_connection._DIRECT


def test_reads_writes_and_their_errors_are_pyopenssls(contexts: tuple[SSL.Context, ssl.SSLContext]) -> None:
    ours, theirs = Pair(*contexts), Pair(*contexts)
    nothing_yet = _outcome(lambda: front_connection._recv(ours.server))
    assert nothing_yet == _outcome(lambda: theirs.server.recv(65536))
    assert nothing_yet[0] == "raised" and nothing_yet[1] is SSL.WantReadError
    assert front_connection._pending(ours.server) == theirs.server.pending() == 0
    for pair in (ours, theirs):
        pair.client.write(b"POST /v1/auth/cert/login HTTP/1.1\r\n\r\n")
        pair.client.write(b"x" * 70000)  # more than one read takes
        pair.to_server()
    reads = []
    while not reads or reads[-1][0] == "value":  # record by record, until nothing is left
        reads.append(_outcome(lambda: front_connection._recv(ours.server)))
        assert reads[-1] == _outcome(lambda: theirs.server.recv(65536))
        assert front_connection._pending(ours.server) == theirs.server.pending()
    assert len(reads) > 2 and reads[-1][1] is SSL.WantReadError
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
    assert front_connection._send(ours.server, answer) == theirs.server.send(answer) == len(answer)
    for pair in (ours, theirs):
        pair.to_client()
        assert pair.client.read(65536) == answer
    for pair in (ours, theirs):  # the client closes: a close_notify
        try:
            pair.client.unwrap()
        except ssl.SSLWantReadError:
            pass
        pair.to_server()
    closed = _outcome(lambda: front_connection._recv(ours.server))
    assert closed == _outcome(lambda: theirs.server.recv(65536))
    assert closed[0] == "raised" and closed[1] is SSL.ZeroReturnError
