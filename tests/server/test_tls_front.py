"""The TLS listener that asks for client certificates (``server/tls_front.py``): HTTP/1.1 as clients
use it (keep-alive, HEAD, chunked bodies, the size limit), Vault's ``tls_disable_client_certs``,
and client certificates that reach the cert method through a worker process and a hand-over."""

from __future__ import annotations

import asyncio
import http.client
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tessera.runtime import gate
from tessera.server.app import App
from tessera.server.config import ListenerConfig
from tessera.server.tls_front import TLSFrontServer
from tests.helpers.cores import unsealed_core
from tests.helpers.pki import Issuer, Pem, tls_config
from tests.helpers.servers import TesseraServer, free_port


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Issuer, Path, Pem]:
    directory = tmp_path_factory.mktemp("front")
    root = Issuer.root(directory)
    return root, root.write_ca(), root.server()


@pytest.fixture(scope="module")
def server(
    pki: tuple[Issuer, Path, Pem], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TesseraServer]:
    _, ca_file, server_pem = pki
    config = tls_config(tmp_path_factory.mktemp("front-server"), free_port(), server_pem)
    with TesseraServer(config=config, ca_cert=ca_file) as tessera:
        tessera.init(1, 1)
        tessera.unseal()
        yield tessera


def _connection(server: TesseraServer, ca_file: Path, cert: Pem | None = None) -> http.client.HTTPSConnection:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    if cert is not None:
        ctx.load_cert_chain(str(cert.cert), str(cert.key))
    return http.client.HTTPSConnection(server.host, server.port, context=ctx, timeout=30)


def test_keep_alive_head_and_chunked_bodies(server: TesseraServer, pki: tuple[Issuer, Path, Pem]) -> None:
    _, ca_file, _ = pki
    conn = _connection(server, ca_file)
    headers = {"X-Vault-Token": server.root_token or ""}
    conn.request("POST", "/v1/sys/mounts/front-kv", body=b'{"type":"kv"}', headers=headers)
    first = conn.getresponse()
    assert (first.status, first.read()) == (204, b"")
    sock = conn.sock
    # a chunked body on the same connection
    conn.putrequest("PUT", "/v1/front-kv/a")
    conn.putheader("X-Vault-Token", headers["X-Vault-Token"])
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for piece in (b'{"k":', b'"v"}'):
        conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    conn.send(b"0\r\n\r\n")
    written = conn.getresponse()
    assert (written.status, written.read()) == (204, b"")
    conn.request("GET", "/v1/front-kv/a", headers=headers)
    read = conn.getresponse()
    assert read.status == 200 and b'"k":"v"' in read.read()
    conn.request("HEAD", "/v1/sys/health")
    head = conn.getresponse()
    assert head.status == 200 and head.read() == b""
    assert conn.sock is sock  # one connection for all four requests


def test_request_size_limit(server: TesseraServer, pki: tuple[Issuer, Path, Pem]) -> None:
    _, ca_file, _ = pki
    response = requests.put(
        f"{server.addr}/v1/secret/big",
        data=b"x" * (33 * 1024 * 1024),
        headers={"X-Vault-Token": server.root_token or ""},
        verify=str(ca_file),
        timeout=60,
    )
    assert response.status_code == 413


def test_peer_certificate_reaches_the_request_only_when_presented(
    server: TesseraServer, pki: tuple[Issuer, Path, Pem]
) -> None:
    root, ca_file, _ = pki
    server.call("POST", "sys/auth/cert", json={"type": "cert"})
    server.call("POST", "auth/cert/certs/any", json={"certificate": root.pem})
    for cert, expected in ((root.issue("front-client"), 200), (None, 400)):
        conn = _connection(server, ca_file, cert)
        conn.request("POST", "/v1/auth/cert/login", body=b"{}")
        response = conn.getresponse()
        assert response.status == expected, response.read()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls12", "tls13"])
def test_a_reconnecting_client_resumes_its_session_and_logs_in_through_its_intermediate(
    server: TesseraServer, pki: tuple[Issuer, Path, Pem], version: ssl.TLSVersion
) -> None:
    """The second connection resumes the first one's session (no full handshake), and the cert
    method still gets the intermediate the client sent in the first: OpenSSL's ticket keeps
    only the client's own certificate, the reference's keeps the chain."""
    root, ca_file, _ = pki
    inter = root.intermediate("front intermediate")
    cert = inter.issue("resuming-client", chain=(inter,))
    server.call("POST", "sys/auth/cert", json={"type": "cert"})
    server.call("POST", "auth/cert/certs/root", json={"certificate": root.pem, "token_type": "batch"})
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.load_cert_chain(str(cert.cert), str(cert.key))
    ctx.maximum_version = version
    body = b'{"name": "root"}'
    login = b"POST /v1/auth/cert/login HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )
    session, reused = None, []
    for _ in range(2):
        raw = socket.create_connection((server.host, server.port), timeout=30)
        with ctx.wrap_socket(raw, server_hostname=server.host, session=session) as sock:
            sock.sendall(login)
            assert _statuses(sock, 1) == [200]
            reused.append(sock.session_reused)
            session = sock.session
    assert reused == [False, True]


@pytest.mark.parametrize("setting", ["", "tls_disable_client_certs = true\n  "], ids=["unset", "true"])
def test_a_listener_not_told_to_ask_keeps_granian_and_refuses_cert_logins(
    pki: tuple[Issuer, Path, Pem], tmp_path: Path, setting: str
) -> None:
    root, ca_file, server_pem = pki
    config = tls_config(tmp_path, free_port(), server_pem, ask_client_certs=False)
    config.write_text(config.read_text().replace("tls_key_file", f"{setting}tls_key_file"))
    with TesseraServer(config=config, ca_cert=ca_file) as tessera:
        tessera.init(1, 1)
        tessera.unseal()
        tessera.call("POST", "sys/auth/cert", json={"type": "cert"})
        tessera.call("POST", "auth/cert/certs/any", json={"certificate": root.pem})
        cert = root.issue("ignored-client")
        response = requests.post(
            f"{tessera.addr}/v1/auth/cert/login",
            verify=str(ca_file),
            cert=(str(cert.cert), str(cert.key)),
            timeout=30,
        )
        assert response.status_code == 400
        assert response.json()["errors"] == ["no client certificate found"]


def test_disable_and_require_client_certificates_conflict(
    pki: tuple[Issuer, Path, Pem], tmp_path: Path
) -> None:
    _, _, server_pem = pki
    config = tls_config(tmp_path, free_port(), server_pem, ask_client_certs=False)
    config.write_text(
        config.read_text().replace(
            "tls_key_file",
            "tls_disable_client_certs = true\n  tls_require_and_verify_client_cert = true\n  tls_key_file",
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "tessera", "server", f"-config={config}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "'tls_disable_client_certs' and 'tls_require_and_verify_client_cert' are mutually exclusive" in (
        done.stdout + done.stderr
    )


def test_cert_logins_through_a_worker_process(pki: tuple[Issuer, Path, Pem], tmp_path: Path) -> None:
    """Batch logins are served by the worker; service logins write, so the worker hands them over
    to the active process with the client's certificates."""
    root, ca_file, server_pem = pki
    config = tls_config(tmp_path, free_port(), server_pem)
    text = config.read_text().replace(
        'storage "inmem" {}', f'storage "sqlite" {{\n  path = "{tmp_path / "t.db"}"\n}}'
    )
    config.write_text(text + "workers = 2\n")
    worker_port = free_port()
    with TesseraServer(
        config=config, ca_cert=ca_file, env={"TESSERA_WORKER_LISTEN": f"127.0.0.1:{worker_port}"}
    ) as tessera:
        tessera.init(1, 1)
        tessera.unseal()
        tessera.call("POST", "sys/auth/cert", json={"type": "cert"})
        for name, kind in (("batch", "batch"), ("service", "service")):
            status, body, _ = tessera.call(
                "POST", "auth/cert/certs/" + name, json={"certificate": root.pem, "token_type": kind}
            )
            assert status == 204, body
        worker = f"https://127.0.0.1:{worker_port}"
        _wait_worker_tls(worker, ca_file)
        cert = root.issue("worker-client")
        for name, prefix in (("batch", "hvb."), ("service", "hvs.")):
            response = requests.post(
                f"{worker}/v1/auth/cert/login",
                json={"name": name},
                verify=str(ca_file),
                cert=(str(cert.cert), str(cert.key)),
                timeout=30,
            )
            assert response.status_code == 200, response.text
            auth = response.json()["auth"]
            assert auth["client_token"].startswith(prefix)
            assert auth["metadata"]["common_name"] == "worker-client"


def _wait_worker_tls(addr: str, ca_file: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{addr}/v1/sys/health", verify=str(ca_file), timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "the worker never answered"
        time.sleep(0.1)


def _raw(server: TesseraServer, ca_file: Path) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    return ctx.wrap_socket(
        socket.create_connection((server.host, server.port), timeout=30), server_hostname=server.host
    )


def test_malformed_request_gets_a_400(server: TesseraServer, pki: tuple[Issuer, Path, Pem]) -> None:
    with _raw(server, pki[1]) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 400 ")


def test_expect_100_continue(server: TesseraServer, pki: tuple[Issuer, Path, Pem]) -> None:
    body = b'{"k":"v"}'
    with _raw(server, pki[1]) as sock:
        sock.sendall(
            b"PUT /v1/cubbyhole/expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            + f"X-Vault-Token: {server.root_token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 100 ")
        sock.sendall(body)
        assert sock.recv(4096).startswith(b"HTTP/1.1 204 ")


def test_a_body_in_records_of_its_own_and_a_request_behind_it(
    server: TesseraServer, pki: tuple[Issuer, Path, Pem]
) -> None:
    """Head and body written apart (a TLS record each, as Python's http.client sends them), then a
    body whose record also holds the next request: each answered, in order."""
    token = f"X-Vault-Token: {server.root_token}\r\n"
    body = b'{"k":"apart"}'
    put = f"PUT /v1/cubbyhole/apart HTTP/1.1\r\nHost: x\r\n{token}Content-Length: {len(body)}\r\n\r\n"
    get = f"GET /v1/cubbyhole/apart HTTP/1.1\r\nHost: x\r\n{token}\r\n".encode()
    with _raw(server, pki[1]) as sock:
        sock.sendall(put.encode())
        time.sleep(0.05)
        sock.sendall(body[:4])
        time.sleep(0.05)
        sock.sendall(body[4:])
        assert _statuses(sock, 1) == [204]
        sock.sendall(put.encode())
        time.sleep(0.05)
        sock.sendall(body + get)
        assert _statuses(sock, 2) == [204, 200]


def test_a_client_asking_to_close_gets_its_answer_then_the_close(
    server: TesseraServer, pki: tuple[Issuer, Path, Pem]
) -> None:
    """``Connection: close`` (a request read whole, without h11) and HTTP/1.0 (read by h11): the
    answer says ``Connection: close``, and the server closes after it."""
    for request in (
        b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n",
        b"GET /v1/sys/health HTTP/1.0\r\n\r\n",
    ):
        with _raw(server, pki[1]) as sock:
            sock.sendall(request)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and b"\r\nConnection: close" in head, head
        assert b'"sealed":false' in body


def _statuses(sock: ssl.SSLSocket, count: int) -> list[int]:
    """The status codes of the next ``count`` answers on ``sock`` (each read whole, by its length)."""
    data, statuses = b"", []
    while len(statuses) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0:
            chunk = sock.recv(65536)
            assert chunk, "the connection closed early"
            data += chunk
            continue
        head = data[:head_end].decode("latin-1").lower()
        length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
        while len(data) < head_end + 4 + length:
            chunk = sock.recv(65536)
            assert chunk, "the connection closed early"
            data += chunk
        statuses.append(int(head.split()[1]))
        data = data[head_end + 4 + length :]
    return statuses


def test_pipelined_requests_are_answered_in_order(
    server: TesseraServer, pki: tuple[Issuer, Path, Pem]
) -> None:
    """Three requests in one write (one with a body): three answers, in order, on one connection."""
    token = f"X-Vault-Token: {server.root_token}\r\n"
    body = b'{"k":"pipelined"}'
    with _raw(server, pki[1]) as sock:
        sock.sendall(
            f"PUT /v1/cubbyhole/pipe HTTP/1.1\r\nHost: x\r\n{token}Content-Length: {len(body)}\r\n\r\n".encode()
            + body
            + f"GET /v1/cubbyhole/pipe HTTP/1.1\r\nHost: x\r\n{token}\r\n".encode()
            + b"GET /v1/sys/nosuchpath HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        assert _statuses(sock, 3) == [204, 200, 403]


def test_a_large_answer_goes_out_whole_and_the_connection_is_kept(
    server: TesseraServer, pki: tuple[Issuer, Path, Pem]
) -> None:
    """An answer far larger than the socket's buffers is written as the client reads it."""
    _, ca_file, _ = pki
    value = "x" * (4 << 20)
    headers = {"X-Vault-Token": server.root_token or ""}
    assert server.call("PUT", "cubbyhole/large", json={"v": value})[0] == 204
    conn = _connection(server, ca_file)
    conn.request("GET", "/v1/cubbyhole/large", headers=headers)
    answer = conn.getresponse()
    assert answer.status == 200 and len(answer.read()) > len(value)
    sock = conn.sock
    conn.request("GET", "/v1/sys/health")
    assert conn.getresponse().status == 200 and conn.sock is sock
    conn.close()


@dataclass
class InProcess:
    """A TLS front served in the test's own process, with a count of its reactor's wake-ups."""

    front: TLSFrontServer
    app: App
    ca_file: Path
    wakes: list[int]

    def connection(self) -> http.client.HTTPSConnection:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        return http.client.HTTPSConnection(
            "127.0.0.1", self.front.sock.getsockname()[1], context=ctx, timeout=30
        )


@contextmanager
def _serving(
    app: App, ca_file: Path, server_pem: Pem, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InProcess]:
    listener = ListenerConfig(
        address="127.0.0.1:0",
        tls_cert_file=str(server_pem.cert),
        tls_key_file=str(server_pem.key),
        tls_disable_client_certs=False,
    )
    front = TLSFrontServer(app, "127.0.0.1", 0, listener)
    wakes = [0]
    wake = front._wake

    def counted() -> None:
        wakes[0] += 1
        wake()

    monkeypatch.setattr(front, "_wake", counted)
    thread = threading.Thread(target=asyncio.run, args=(front.serve(),), daemon=True)
    thread.start()
    try:
        yield InProcess(front, app, ca_file, wakes)
    finally:
        front.stop()
        thread.join(10)


@pytest.fixture
def in_process(pki: tuple[Issuer, Path, Pem], monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess]:
    _, ca_file, server_pem = pki
    monkeypatch.setattr(gate, "GATE", None)  # the process's run gate, as a fresh server has none
    with unsealed_core() as core, _serving(App(core), ca_file, server_pem, monkeypatch) as served:
        yield served


def _health(conn: http.client.HTTPSConnection) -> int:
    conn.request("GET", "/v1/sys/health")
    response = conn.getresponse()
    response.read()
    return response.status


def test_the_reactor_serves_requests_itself_and_the_side_pool_answers_through_it(
    in_process: InProcess,
) -> None:
    """On local storage the reactor thread is the runner: its answers are written at once, with no
    wake-up of its own; a route the dispatcher learnt runs long goes to the side pool, whose
    answer is handed back to the reactor (a wake-up)."""
    assert in_process.front.inline and in_process.app.dispatcher is not None
    conn = in_process.connection()
    assert [_health(conn) for _ in range(5)] == [200] * 5
    assert in_process.wakes == [0]
    history = in_process.app.dispatcher.history
    for _ in range(20):  # settled as long: the last short request's own record may land later
        history.record("GET", "/v1/sys/health", True)
    assert _health(conn) == 200
    assert in_process.app.dispatcher.handed_over == 1 and in_process.wakes[0] >= 1
    conn.close()


def test_without_the_run_gate_requests_go_to_the_pool(
    pki: tuple[Issuer, Path, Pem], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on PostgreSQL without HA's cache: no runner, so each request goes to the front's pool and
    its answer back to the reactor (a wake-up each)."""
    _, ca_file, server_pem = pki
    monkeypatch.setenv("TESSERA_RUN_GATE", "0")
    with unsealed_core() as core, _serving(App(core), ca_file, server_pem, monkeypatch) as served:
        assert not served.front.inline and served.app.gate is None and served.app.dispatcher is None
        conn = served.connection()
        assert [_health(conn) for _ in range(3)] == [200] * 3
        assert served.wakes[0] >= 3
        conn.close()


def test_a_deep_pipeline_is_answered_whole_and_in_turns(in_process: InProcess) -> None:
    """Requests served on the reactor thread, 300 pipelined in one write: each answered, one per
    turn of the reactor (never one inside the other's answer), on the same connection."""
    port = in_process.front.sock.getsockname()[1]
    ctx = ssl.create_default_context(cafile=str(in_process.ca_file))
    with ctx.wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=30), server_hostname="127.0.0.1"
    ) as sock:
        sock.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n" * 300)
        assert _statuses(sock, 300) == [200] * 300
    assert in_process.wakes == [0]
