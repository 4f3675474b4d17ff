"""SIGHUP reloads each TLS listener's certificate and key, as Vault's listeners do: new
connections get the renewed certificate, connections already open keep working, and a
replacement that does not load leaves the old certificate in place with an error in the log."""

from __future__ import annotations

import shutil
import signal
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests.helpers.http import call
from tests.helpers.servers import TesseraServer, free_port
from tests.helpers.tls_reload import WAIT, CertFiles, client_context, install, serves, wait_for
from tests.helpers.workers import process_state, running_pair


@pytest.fixture
def setup(tmp_path: Path) -> CertFiles:
    return CertFiles(tmp_path)


@pytest.fixture
def server(setup: CertFiles, tmp_path: Path) -> Iterator[TesseraServer]:
    config = tmp_path / "tessera.hcl"
    config.write_text(setup.config())
    server = TesseraServer(config=config).start()
    try:
        yield server
    finally:
        server.cleanup()


def _tls_connection(setup: CertFiles) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", setup.port), timeout=WAIT)
    return client_context().wrap_socket(raw)


def _response(conn: ssl.SSLSocket) -> bytes:
    """One response, read to its end (the server says how long it is)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        assert chunk, data
        body += chunk
    return head + b"\r\n\r\n" + body


def test_sighup_serves_the_new_certificate_and_lets_requests_in_flight_finish(
    setup: CertFiles, server: TesseraServer
) -> None:
    assert serves(setup.address, setup.a)
    # A request in flight across the swap: its headers and half its body sent on certificate A.
    conn = _tls_connection(setup)
    body = b'{"secret_shares": 1, "secret_threshold": 1}'
    conn.sendall(
        b"PUT /v1/sys/init HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body[:10]
    )

    install(setup.b, setup.cert, setup.key)
    server._signal(signal.SIGHUP)
    wait_for(lambda: serves(setup.address, setup.b), "new connections to see certificate B")
    assert "serving its renewed TLS certificate" in server.output()

    # The old server finishes it: the rest of the body, then the answer (the vault initialised).
    conn.sendall(body[10:])
    answer = _response(conn)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert b'"root_token"' in answer
    assert x509.load_der_x509_certificate(conn.getpeercert(binary_form=True)) == setup.a.certificate
    conn.close()
    status, initialized, _ = call(server.addr, "GET", "sys/init", verify=False)
    assert (status, initialized) == (200, {"initialized": True})
    assert server.running


def test_a_sighup_with_unchanged_files_keeps_connections_open(
    setup: CertFiles, server: TesseraServer
) -> None:
    """Log rotation sends SIGHUPs too: with the same certificate, nothing is swapped."""
    conn = _tls_connection(setup)
    conn.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert _response(conn).startswith(b"HTTP/1.1 501")
    server._signal(signal.SIGHUP)
    wait_for(lambda: "TLS certificate unchanged" in server.output(), "the SIGHUP to be handled")
    conn.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert _response(conn).startswith(b"HTTP/1.1 501")  # the same keep-alive connection
    conn.close()
    assert serves(setup.address, setup.a)
    assert "serving its renewed TLS certificate" not in server.output()


@pytest.mark.parametrize("breakage", ["mismatched key", "missing key", "not a certificate"])
def test_a_broken_replacement_keeps_the_old_certificate(
    setup: CertFiles, server: TesseraServer, breakage: str
) -> None:
    assert serves(setup.address, setup.a)
    if breakage == "mismatched key":
        shutil.copyfile(setup.b.cert, setup.cert)  # B's certificate, A's key
        reason = "tls: private key does not match public key"
    elif breakage == "missing key":
        setup.key.unlink()
        reason = f"open {setup.key}: no such file or directory"
    else:
        setup.cert.write_text("half a certificate: the copy was interrupted\n")
        reason = "tls: failed to find any PEM data in certificate input"
    server._signal(signal.SIGHUP)
    wait_for(lambda: "error encountered reloading listener" in server.output(), "the reload error")
    assert (
        "Error(s) were encountered during reload: 1 error occurred:\n"
        f"\t* error encountered reloading listener: {reason} (listener {setup.address} keeps its previous certificate)"
    ) in server.output()
    assert serves(setup.address, setup.a)
    assert server.running

    # Once the files are right, the next SIGHUP takes them.
    install(setup.b, setup.cert, setup.key)
    server._signal(signal.SIGHUP)
    wait_for(lambda: serves(setup.address, setup.b), "certificate B after the files were fixed")


def test_sighup_reloads_the_worker_processes_too(setup: CertFiles, tmp_path: Path) -> None:
    config = tmp_path / "tessera.hcl"
    config.write_text(
        setup.config(storage="sqlite", storage_options={"path": str(tmp_path / "t.db")}) + "workers = 2\n"
    )
    worker = f"127.0.0.1:{free_port()}"
    server = TesseraServer(config=config, env={"TESSERA_WORKER_LISTEN": worker}).start()
    try:
        wait_for(lambda: serves(worker, setup.a, times=1), "the worker to listen on certificate A")
        install(setup.b, setup.cert, setup.key)
        server._signal(signal.SIGHUP)  # to the active process, which passes it on
        wait_for(lambda: serves(setup.address, setup.b), "the active process to serve certificate B")
        wait_for(lambda: serves(worker, setup.b), "the worker process to serve certificate B")
        assert server.running
    finally:
        server.cleanup()


def test_the_tls_front_takes_the_new_certificate_for_new_connections(
    setup: CertFiles, tmp_path: Path
) -> None:
    """A listener that asks for client certificates (tls_front.py): open connections keep theirs."""
    config = tmp_path / "tessera.hcl"
    config.write_text(
        setup.config().replace("  tls_key_file", "  tls_disable_client_certs = false\n  tls_key_file")
    )
    server = TesseraServer(config=config).start()
    try:
        conn = _tls_connection(setup)
        conn.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _response(conn).startswith(b"HTTP/1.1 501")

        shutil.copyfile(setup.b.cert, setup.cert)  # B's certificate, A's key: refused
        server._signal(signal.SIGHUP)
        wait_for(lambda: "error encountered reloading listener" in server.output(), "the reload error")
        assert "tls: private key does not match public key" in server.output()
        assert serves(setup.address, setup.a)

        install(setup.b, setup.cert, setup.key)
        server._signal(signal.SIGHUP)
        wait_for(lambda: serves(setup.address, setup.b), "new connections to see certificate B")
        conn.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _response(conn).startswith(b"HTTP/1.1 501")  # the connection made on A still serves
        conn.close()
    finally:
        server.cleanup()


def test_a_worker_process_outlives_the_sighup_it_is_passed(tmp_path: Path) -> None:
    """Plain-HTTP listeners have nothing to reload; the worker, signalled too, keeps running."""
    with running_pair(tmp_path) as pair:
        worker = pair.worker_pid()
        assert pair.server.process is not None
        pair.server._signal(signal.SIGHUP)
        wait_for(lambda: "SIGHUP received" in pair.server.output(), "the SIGHUP to be handled")
        status, _ = pair.on("worker", "GET", "sys/health")
        assert status == 200
        assert pair.worker_pid() == worker  # the same process, not a replacement
        assert process_state(worker) != "Z"
