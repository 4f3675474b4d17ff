"""Hostile clients (issue 19, part A): slow bodies, abandoned HTTP/2 streams, connection floods.

Each test holds a crowd of sockets against a real server (plain and TLS, one process and
``workers = 2``) and checks that ``sys/health`` and a KV read still answer in under a second,
and that everything answers again once the crowd is gone. The reference kept serving in each
case; before the fix, one slow body stalled every request, an abandoned HTTP/2 stream hung the
TLS listener for good with a thread spinning, and 1,024 idle sockets locked everyone out.

The ``front`` target is the TLS listener that asks for client certificates (``server/tls_front.py``,
``tls_disable_client_certs = false``). Before its reactor, it ran a thread per connection with a fixed
90 s idle timeout: silent and partial-header sockets stayed open, a slow body was never timed out,
and past 1,024 connections new clients were turned away.
"""

from __future__ import annotations

import resource
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import requests

from tests.helpers.hostile import SLOW_BODY, Crowd, client_tls, raise_open_file_limit, self_signed
from tests.helpers.pki import Issuer
from tests.helpers.postgres import Postgres
from tests.helpers.servers import ReferenceServer, TesseraServer, free_port, hcl_config

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

HEADER_TIMEOUT = 2  # http_read_header_timeout of the servers here, in seconds
# The fronts' other timeouts, distinct from the header timeout so that each is seen to apply.
FRONT_READ_TIMEOUT = 3
FRONT_IDLE_TIMEOUT = 5
LIMITS = f'  http_read_header_timeout = "{HEADER_TIMEOUT}s"\n  http_idle_timeout = "{FRONT_IDLE_TIMEOUT}s"\n'
SLOW_BODIES = 200
FLOOD = 2000
FRONT_LIMITS = f'  tls_disable_client_certs = false\n  http_read_timeout = "{FRONT_READ_TIMEOUT}s"\n'


@dataclass
class Target:
    """A started server and the addresses its clients use (the worker's too, with workers = 2)."""

    server: TesseraServer
    addrs: list[str] = field(default_factory=list)

    @property
    def token(self) -> str:
        assert self.server.root_token
        return self.server.root_token


def _with_limits(config: str) -> str:
    """The listener stanza of ``hcl_config`` with this module's timeouts added."""
    return config.replace("  address = ", LIMITS + "  address = ", 1)


def _start(
    directory: Path,
    *,
    tls: bool = False,
    front: str = "",
    workers: bool = False,
    extra: str = "",
    env: dict[str, str] | None = None,
) -> Target:
    """A started server; ``front``: listener lines that put it on the TLS front (certificates from
    ``tests/helpers/pki.py``, the server given their CA)."""
    port = free_port()
    ca_file = None
    if front:
        root = Issuer.root(directory)
        ca_file, pem = root.write_ca(), root.server()
        cert, key = pem.cert, pem.key
    else:
        cert, key = self_signed(directory) if tls else (None, None)
    storage = {"storage": "sqlite", "storage_options": {"path": str(directory / "t.db")}} if workers else {}
    config = directory / "tessera.hcl"
    text = _with_limits(
        hcl_config(port, tls_cert_file=cert, tls_key_file=key, **storage)  # type: ignore[arg-type]
        + ("workers = 2\n" if workers else "")
        + extra
    )
    config.write_text(text.replace("  address = ", front + "  address = ", 1))
    env = dict(env or {})
    worker_addr = ""
    if workers:
        worker_addr = f"127.0.0.1:{free_port()}"
        env["TESSERA_WORKER_LISTEN"] = worker_addr
    server = TesseraServer(config=config, env=env, ca_cert=ca_file).start()
    server.init(1, 1)
    server.unseal()
    target = Target(server, [server.addr])
    assert server.call("POST", "sys/mounts/kv", json={"type": "kv"})[0] == 204
    assert server.call("PUT", "kv/probe", json={"value": "here"})[0] == 204
    if workers:
        target.addrs.append("http://" + worker_addr)
        _wait_for(lambda: _get(target, target.addrs[1], "kv/probe", 2.0)[0] == 200, 30)
    return target


def _wait_for(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():  # type: ignore[operator]
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def _get(target: Target, addr: str, path: str, timeout: float) -> tuple[int, float]:
    headers = {"X-Vault-Token": target.token} if path.startswith("kv/") else {}
    started = time.monotonic()
    answer = requests.get(f"{addr}/v1/{path}", headers=headers, timeout=timeout, verify=False)
    return answer.status_code, time.monotonic() - started


def _assert_responsive(target: Target) -> None:
    """``sys/health`` and a KV read answer 200 in under a second, on every address."""
    for addr in target.addrs:
        for path in ("sys/health", "kv/probe"):
            try:
                status, seconds = _get(target, addr, path, 1.0)
            except requests.Timeout:
                pytest.fail(f"{addr}/v1/{path} did not answer within a second")
            assert status == 200 and seconds < 1.0, (addr, path, status, seconds)


def _assert_responsive_for(target: Target, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _assert_responsive(target)


def _host_port(addr: str) -> tuple[str, int]:
    host, _, port = addr.split("://", 1)[1].rpartition(":")
    return host, int(port)


@pytest.fixture(scope="module", autouse=True)
def _many_files() -> None:
    raise_open_file_limit(FLOOD + 1024)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    target = _start(tmp_path_factory.mktemp("plain"))
    yield target
    target.server.cleanup()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    target = _start(tmp_path_factory.mktemp("tls"), tls=True)
    yield target
    target.server.cleanup()


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    target = _start(tmp_path_factory.mktemp("workers"), workers=True)
    yield target
    target.server.cleanup()


@pytest.fixture(scope="module")
def no_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """Every request on granian's threads (``TESSERA_HTTP_RUNNER=0``, as on PostgreSQL)."""
    target = _start(tmp_path_factory.mktemp("no-runner"), env={"TESSERA_HTTP_RUNNER": "0"})
    yield target
    target.server.cleanup()


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The TLS listener that asks for client certificates (server/tls_front.py)."""
    target = _start(tmp_path_factory.mktemp("front"), front=FRONT_LIMITS)
    yield target
    target.server.cleanup()


@pytest.fixture(scope="module")
def front_no_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The front with requests on its own pool (``TESSERA_HTTP_RUNNER=0``, as on PostgreSQL)."""
    target = _start(
        tmp_path_factory.mktemp("front-no-runner"), front=FRONT_LIMITS, env={"TESSERA_HTTP_RUNNER": "0"}
    )
    yield target
    target.server.cleanup()


@pytest.fixture(params=["plain", "tls", "workers", "no_runner", "front", "front_no_runner"])
def target(request: pytest.FixtureRequest) -> Target:
    return request.getfixturevalue(request.param)


def test_slow_bodies_do_not_stall_other_requests(target: Target) -> None:
    """200 requests that announce 1,000 bytes and send 1: everyone else is served meanwhile."""
    with Crowd(*_host_port(target.addrs[0]), tls=target.server.scheme == "https") as crowd:
        for addr in target.addrs:  # spread over the processes with workers = 2
            crowd.host, crowd.port = _host_port(addr)
            crowd.slow_bodies(SLOW_BODIES // len(target.addrs))
        _assert_responsive_for(target, 1.5)
        # Requests with bodies are not held up behind the slow ones either.
        status, _, _ = target.server.call("PUT", "kv/written", json={"value": "during"})
        assert status == 204
    _assert_responsive(target)
    assert target.server.call("GET", "kv/written")[1]["data"] == {"value": "during"}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def _abandon_http2_logins(addr: str, count: int) -> None:
    """``count`` HTTP/2 logins at once, each given up by its client after 10 ms."""

    def one() -> None:
        try:
            with httpx.Client(http2=True, verify=False, timeout=0.01) as client:
                client.post(f"{addr}/v1/auth/userpass/login/nosuchuser", json={"password": "bad"})
        except httpx.HTTPError:
            pass

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


def test_abandoned_http2_streams_do_not_hang_tls(tls: Target) -> None:
    """A slow body, then HTTP/2 requests their clients give up on: the listener keeps serving."""
    assert tls.server.process is not None
    with Crowd(*_host_port(tls.server.addr), tls=True) as crowd:
        crowd.slow_bodies(1)
        with httpx.Client(http2=True, verify=False, timeout=1.0) as client:
            answer = client.get(f"{tls.server.addr}/v1/sys/health")
            assert (answer.status_code, answer.http_version) == (200, "HTTP/2")
        for _ in range(3):
            _abandon_http2_logins(tls.server.addr, 20)
    _assert_responsive(tls)
    pid = tls.server.process.pid
    before = _cpu_seconds(pid)
    time.sleep(1.0)  # measuring a rate: an idle server must stay (nearly) idle over this second
    assert _cpu_seconds(pid) - before < 0.5, "a thread keeps spinning after the clients left"
    _assert_responsive(tls)


@pytest.fixture(params=["plain", "workers"])
def flooded(request: pytest.FixtureRequest) -> Target:
    return request.getfixturevalue(request.param)


def test_idle_and_partial_header_floods_lock_nobody_out(flooded: Target) -> None:
    """2,000 sockets: silent, headers never finished, idle after one request. Others are served;
    the server closes the first two kinds once ``http_read_header_timeout`` has passed and the
    idle keep-alive connections after ``http_idle_timeout``, as Go's server does."""
    host, port = _host_port(flooded.addrs[-1])
    with Crowd(host, port) as waiting, Crowd(host, port) as idle:
        waiting.partial_headers(FLOOD * 2 // 5).silent(FLOOD * 2 // 5)
        idle.idle_keepalive(FLOOD // 5)
        started = time.monotonic()
        _assert_responsive(flooded)
        assert waiting.wait_closed_by_server(HEADER_TIMEOUT + 8) == len(waiting.sockets)
        _assert_responsive(flooded)
        assert idle.wait_closed_by_server(FRONT_IDLE_TIMEOUT + 8) == len(idle.sockets)
        assert time.monotonic() - started > FRONT_IDLE_TIMEOUT - 1
    _assert_responsive(flooded)


def test_tls_floods_lock_nobody_out(tls: Target) -> None:
    """Over TLS, 2,000 connections past their handshake: headers never finished, or idle after one
    request. Others are served, and the server closes them after ``http_read_header_timeout``."""
    with Crowd(*_host_port(tls.server.addr), tls=True) as crowd:
        crowd.partial_headers(FLOOD // 2).idle_keepalive(FLOOD // 2)
        _assert_responsive(tls)
        closed = crowd.wait_closed_by_server(HEADER_TIMEOUT + 8)
        _assert_responsive(tls)
        assert closed == len(crowd.sockets)
    _assert_responsive(tls)


def test_front_floods_lock_nobody_out(front: Target) -> None:
    """2,000 sockets on the front: silent before the handshake, silent after it, headers never
    finished, idle after one request. Others are served; the server closes the first three kinds
    after ``http_read_header_timeout`` and the idle ones after ``http_idle_timeout``."""
    host, port = _host_port(front.server.addr)
    with (
        Crowd(host, port) as raw,
        Crowd(host, port, tls=True) as waiting,
        Crowd(host, port, tls=True) as idle,
    ):
        raw.silent(FLOOD // 4)
        waiting.silent(FLOOD // 4).partial_headers(FLOOD // 4)
        idle.idle_keepalive(FLOOD // 4)
        _assert_responsive(front)
        assert raw.wait_closed_by_server(HEADER_TIMEOUT + 8) == len(raw.sockets)
        assert waiting.wait_closed_by_server(HEADER_TIMEOUT + 8) == len(waiting.sockets)
        _assert_responsive(front)
        assert idle.wait_closed_by_server(FRONT_IDLE_TIMEOUT + 8) == len(idle.sockets)
    _assert_responsive(front)


def test_front_idle_connections_last_the_idle_timeout(front: Target) -> None:
    """Idle keep-alive connections are closed after ``http_idle_timeout``, not the header timeout."""
    with Crowd(*_host_port(front.server.addr), tls=True) as crowd:
        crowd.idle_keepalive(50)
        started = time.monotonic()
        assert crowd.wait_closed_by_server(FRONT_IDLE_TIMEOUT + 8) == 50
        assert time.monotonic() - started > FRONT_IDLE_TIMEOUT - 1


def test_front_slow_bodies_get_408_after_the_read_timeout(front: Target) -> None:
    """A body still incomplete ``http_read_timeout`` after its request began: 408, connection closed."""
    with Crowd(*_host_port(front.server.addr), tls=True) as crowd:
        crowd.slow_bodies(100)
        assert crowd.wait_closed_by_server(FRONT_READ_TIMEOUT + 5) == 100
    answer, seconds = _answer_to_slow_body(front.server.addr, tls=True)
    assert FRONT_READ_TIMEOUT - 0.5 < seconds < FRONT_READ_TIMEOUT + 2
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head.lower()
    assert b"i/o timeout" in body
    _assert_responsive(front)


def test_front_sheds_waiting_connections_at_max_connections(tmp_path: Path) -> None:
    """``max_connections = 40`` and 60 idle keep-alive connections: the oldest waiting ones are
    closed to make room (long before their idle timeout), and new clients are still served."""
    target = _start(tmp_path, front=FRONT_LIMITS + "  max_connections = 40\n")
    try:
        with Crowd(*_host_port(target.server.addr), tls=True) as crowd:
            crowd.idle_keepalive(60)
            assert crowd.wait_closed_by_server(1.5, at_least=20) >= 20
            _assert_responsive(target)
            assert crowd.closed_by_server() < 60  # the newest are kept
    finally:
        target.server.cleanup()


def _answer_to_slow_body(addr: str, *, tls: bool = False) -> tuple[bytes, float]:
    """What a request whose body never completes gets back, and after how long (until EOF)."""
    sock = socket.create_connection(_host_port(addr), timeout=10)
    if tls:
        sock = client_tls().wrap_socket(sock)
    with sock:
        sock.sendall(SLOW_BODY)
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer, time.monotonic() - started


@pytest.mark.parametrize("server_class", [ReferenceServer, TesseraServer])
def test_body_read_timeout_closes_the_connection(tmp_path: Path, server_class: type) -> None:
    """``http_read_timeout = "1s"``: a body still incomplete then gets an error answer and the
    connection is closed. The reference answers 500 with Go's "i/o timeout"; Tessera a 408 whose
    body is cut off with the connection (see ``server/intake.py`` for why)."""
    port = free_port(span=2)
    config = tmp_path / "server.hcl"
    config.write_text(hcl_config(port).replace("  address = ", '  http_read_timeout = "1s"\n  address = ', 1))
    with server_class(config=config) as server:
        server.start()
        answer, seconds = _answer_to_slow_body(server.addr)
        assert 0.9 < seconds < 4
        head, _, body = answer.partition(b"\r\n\r\n")
        status = int(head.split()[1])
        assert b"connection: close" in head.lower()
        if server_class is ReferenceServer:
            assert status == 500 and b"i/o timeout" in body
        else:
            assert status == 408
        assert server.call("GET", "sys/health", auth=False)[0] == 501  # uninitialised, still serving


def test_open_file_limit_is_raised_to_the_hard_limit(tmp_path: Path) -> None:
    """Started with a soft limit of 1,024, the server raises its own to the hard limit, as Go does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        pytest.skip("the hard limit leaves nothing to raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        server = TesseraServer().start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        assert server.process is not None
        limits = Path(f"/proc/{server.process.pid}/limits").read_text()
        line = next(row for row in limits.splitlines() if row.startswith("Max open files"))
        server_soft, server_hard = line.split()[3:5]
        assert server_soft == server_hard
    finally:
        server.cleanup()


def test_chunked_bodies_are_still_read(plain: Target) -> None:
    """A body without a length (chunked) is read to its end, on an intake thread like the rest."""
    chunks = iter([b'{"value": ', b'"chunked"}'])
    answer = requests.put(
        f"{plain.server.addr}/v1/kv/chunked", data=chunks, headers={"X-Vault-Token": plain.token}, timeout=5
    )
    assert answer.status_code == 204
    assert plain.server.call("GET", "kv/chunked")[1]["data"] == {"value": "chunked"}


def test_an_announced_body_over_the_limit_is_refused_unread(plain: Target) -> None:
    """``Content-Length`` past ``max_request_size``: the 413 comes without waiting for the body."""
    request = b"PUT /v1/kv/big HTTP/1.1\r\nHost: tessera\r\nContent-Length: 40000000\r\n\r\n{"
    with socket.create_connection(_host_port(plain.server.addr), timeout=5) as sock:
        sock.sendall(request)
        assert sock.recv(65536).startswith(b"HTTP/1.1 413 ")


def _h2_body_then_gone(tls: Target, *, reset: bool) -> None:
    """An HTTP/2 POST without a length and with part of its body, then the client resets the stream
    (with an error, not CANCEL) or drops the connection. A health request on the same connection
    answered first shows the POST has reached the server (streams are taken in order)."""
    import h2.connection
    import h2.events

    ctx = client_tls()
    ctx.set_alpn_protocols(["h2"])
    with ctx.wrap_socket(socket.create_connection(_host_port(tls.server.addr), timeout=5)) as sock:
        conn = h2.connection.H2Connection()
        conn.initiate_connection()
        common = [(":scheme", "https"), (":authority", "127.0.0.1"), ("x-vault-token", tls.token)]
        conn.send_headers(1, [(":method", "POST"), (":path", "/v1/kv/h2"), *common])
        conn.send_data(1, b'{"value": ')
        conn.send_headers(3, [(":method", "GET"), (":path", "/v1/sys/health"), *common], end_stream=True)
        sock.sendall(conn.data_to_send())
        answered = False
        while not answered:
            data = sock.recv(65536)
            assert data, "the connection closed before the health answer"
            events = conn.receive_data(data)
            answered = any(isinstance(e, h2.events.StreamEnded) and e.stream_id == 3 for e in events)
            sock.sendall(conn.data_to_send())
        if reset:
            conn.reset_stream(1, error_code=2)  # INTERNAL_ERROR
            sock.sendall(conn.data_to_send())


@pytest.mark.parametrize("reset", [True, False], ids=["stream-reset", "connection-dropped"])
def test_http2_body_cut_off_by_its_client_leaves_no_thread_spinning(tls: Target, reset: bool) -> None:
    assert tls.server.process is not None
    _h2_body_then_gone(tls, reset=reset)
    _assert_responsive(tls)
    before = _cpu_seconds(tls.server.process.pid)
    time.sleep(1.0)  # measuring a rate: an idle server must stay (nearly) idle over this second
    assert _cpu_seconds(tls.server.process.pid) - before < 0.5, "a thread keeps spinning"


@pytest.fixture
def on_postgres(tmp_path: Path, postgres: Postgres) -> Iterator[Target]:
    """A server on PostgreSQL: requests run on granian's threads, TESSERA_HTTP_THREADS at a time."""
    import uuid

    name = f"hostile_{uuid.uuid4().hex[:8]}"
    dsn = postgres.create_database(name)
    try:
        port = free_port()
        config = tmp_path / "tessera.hcl"
        config.write_text(
            _with_limits(hcl_config(port, storage="postgresql", storage_options={"connection_url": dsn}))
        )
        server = TesseraServer(config=config).start()
        try:
            server.init(1, 1)
            server.unseal()
            assert server.call("POST", "sys/mounts/kv", json={"type": "kv"})[0] == 204
            assert server.call("PUT", "kv/probe", json={"value": "here"})[0] == 204
            yield Target(server, [server.addr])
        finally:
            server.cleanup()
    finally:
        postgres.drop_database(name)


@pytest.mark.postgres
def test_slow_bodies_do_not_stall_a_server_on_postgresql(on_postgres: Target) -> None:
    """More slow bodies than request threads (32): they wait in the intake, not in those threads."""
    with Crowd(*_host_port(on_postgres.server.addr)) as crowd:
        crowd.slow_bodies(SLOW_BODIES)
        _assert_responsive_for(on_postgres, 1.5)
        assert on_postgres.server.call("PUT", "kv/written", json={"value": "during"})[0] == 204
    _assert_responsive(on_postgres)


def test_more_slow_bodies_than_intake_threads_are_shed_not_queued(tmp_path: Path) -> None:
    """On granian's threaded worker (``TESSERA_HTTP_FRONT=granian``) with 64 intake threads (56
    for bodies), 100 slow bodies: the ones past the cap get a 503 at once and their connection
    closed; everyone else is still served. (The event-loop front reads bodies without threads.)"""
    target = _start(tmp_path, env={"TESSERA_HTTP_INTAKE_THREADS": "64", "TESSERA_HTTP_FRONT": "granian"})
    try:
        with Crowd(*_host_port(target.server.addr)) as crowd:
            crowd.slow_bodies(100)
            _assert_responsive_for(target, 1.0)
            assert crowd.wait_closed_by_server(5, at_least=100 - 56) >= 100 - 56
            status, body, _ = target.server.call("PUT", "kv/shed", json={"value": "x"})
            assert (status, body) == (503, {"errors": ["too many request bodies being read; try again"]})
        _assert_responsive(target)
        assert target.server.call("PUT", "kv/shed", json={"value": "x"})[0] == 204
    finally:
        target.server.cleanup()
