"""What a new TLS connection costs the TLS front: server CPU per handshake and one small request.

    python -m bench.tls_handshake [--handshakes 400]

The front's own context (``server/tls_front.tls_context``: pyOpenSSL, the listener's ECDSA P-256
certificate made by ``tests/helpers/pki.py``) against a Python ``ssl`` client presenting a client
certificate, over memory BIOs: no sockets, no threads, only the server side's calls timed (this
thread's CPU). Variants: as the front runs (a client certificate asked for, whatever is sent
accepted), no client certificate asked for (what a listener with ``tls_disable_client_certs``
does), and no session tickets (TLS 1.3 sends two after each full handshake). A cert login over
a new connection pays this on top of what a kept-alive one costs (``bench/cert_bench.py``,
``bench/cert_threads.py --new-connections`` split the rest by thread).
"""

from __future__ import annotations

import argparse
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from OpenSSL import SSL

from tessera.server.config import ListenerConfig
from tessera.server.tls_front import tls_context
from tests.helpers.pki import Issuer

REQUEST, ANSWER = b"x" * 300, b"y" * 400  # about a cert login's request and answer


def _no_client_cert(ctx: SSL.Context) -> None:
    ctx.set_verify(SSL.VERIFY_NONE)


def _no_tickets(ctx: SSL.Context) -> None:
    ctx.set_options(SSL.OP_NO_TICKET)
    ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)


VARIANTS: dict[str, Callable[[SSL.Context], None]] = {
    "as the front (client cert asked)": lambda _ctx: None,
    "no client certificate asked": _no_client_cert,
    "client cert asked, no tickets": _no_tickets,
}


def handshake(server_ctx: SSL.Context, client_ctx: ssl.SSLContext) -> float:
    """One full handshake and one request/answer; the server side's CPU seconds."""
    server = SSL.Connection(server_ctx, None)
    server.set_accept_state()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    spent, client_done, server_done = 0.0, False, False
    while not (client_done and server_done):
        if not client_done:
            try:
                client.do_handshake()
                client_done = True
            except ssl.SSLWantReadError:
                pass
        data = outgoing.read()
        start = time.thread_time()
        if data:
            server.bio_write(data)
        if not server_done:
            try:
                server.do_handshake()
                server_done = True
            except SSL.WantReadError:
                pass
        try:
            out = server.bio_read(65536)
        except SSL.WantReadError:
            out = b""
        spent += time.thread_time() - start
        incoming.write(out)
    client.write(REQUEST)
    data = outgoing.read()
    start = time.thread_time()
    server.bio_write(data)
    server.recv(65536)
    server.send(ANSWER)
    out = server.bio_read(65536)
    spent += time.thread_time() - start
    incoming.write(out)
    client.read(65536)
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--handshakes", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2, help="passes over the variants, alternating")
    args = parser.parse_args(argv)
    root = Issuer.root(Path(tempfile.mkdtemp(prefix="tls-handshake-")))
    ca_file, server_pem, client_pem = root.write_ca(), root.server(), root.issue("bench-client")
    listener = ListenerConfig(
        address="127.0.0.1:0",
        tls_cert_file=str(server_pem.cert),
        tls_key_file=str(server_pem.key),
        tls_disable_client_certs=False,
    )
    client_ctx = ssl.create_default_context(cafile=str(ca_file))
    client_ctx.load_cert_chain(str(client_pem.cert), str(client_pem.key))
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, change in VARIANTS.items():
            ctx = tls_context(listener)
            change(ctx)
            for _ in range(30):
                handshake(ctx, client_ctx)
            used = sum(handshake(ctx, client_ctx) for _ in range(args.handshakes)) / args.handshakes
            best[name] = min(best.get(name, used), used)
    print(f"server CPU per new TLS connection (handshake + one request), best of {args.rounds}:")
    for name, used in best.items():
        print(f"  {name:<34} {used * 1e6:7.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
