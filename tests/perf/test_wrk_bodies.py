"""bench/wrk.py with a file of bodies: every request posts the next one, so a benchmark of fresh
JWTs really presents a different token per login (no cache of seen tokens is credited)."""

from __future__ import annotations

import http.server
import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from bench.scenarios import Request
from bench.wrk import WrkSettings, run, write_bodies

BODIES = 40


class _Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: Counter[bytes] = Counter()
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            self.seen[body] += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # wrk closes its connections mid-request when its time is up


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.seen = Counter()
    server = _QuietServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_each_request_posts_the_next_body_of_the_file(recorder: str) -> None:
    bodies = [{"role": "deploy", "jwt": f"token-{i}"} for i in range(BODIES)]
    path = write_bodies(bodies)
    try:
        result = run(
            recorder, Request("POST", "auth/jwt/login", body=bodies[0]), WrkSettings(2, 4, 1.0), path
        )
    finally:
        path.unlink()
    seen = _Recorder.seen
    assert result.requests >= 2 * BODIES and result.non2xx == 0
    assert set(seen) == {f'{{"role":"deploy","jwt":"token-{i}"}}'.encode() for i in range(BODIES)}
    # Cycled, not drawn at random: thread k of 2 posts bodies k, k + 2, ... (here, by parity),
    # each as often as the others of its thread give or take the one in flight at the end.
    for parity in (0, 1):
        counts = [seen[f'{{"role":"deploy","jwt":"token-{i}"}}'.encode()] for i in range(parity, BODIES, 2)]
        assert max(counts) - min(counts) <= 2, counts


def test_without_a_file_every_request_posts_the_one_body(recorder: str) -> None:
    result = run(recorder, Request("POST", "x", body={"jwt": "same"}), WrkSettings(1, 2, 1.0))
    assert result.requests > 0
    assert set(_Recorder.seen) == {b'{"jwt": "same"}'}
