"""JWT and cert logins → batch token, in process: CPU µs per login with no network and no wrk.

    python -m bench.login_inproc [--requests 5000] [--profile]

The real :class:`App` over a dev core, as ``bench/inproc.py`` drives it, with the ``jwt`` mount
of ``bench/jwt_bench.py`` and the ``cert`` mount of ``bench/cert_bench.py``. JWT logins are timed
twice: the same token every time (``jwt_bench.py --same-token``'s row) and a fresh token per login
(what a CI fleet presents, and ``jwt_bench.py``'s default). The cert login is given its client certificate as the TLS front gives
it (``tls.peer_certificates``). The figure is this thread's CPU, steady on a busy machine; it
leaves out what granian or the TLS front spend.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from cryptography.hazmat.primitives.serialization import Encoding

from tessera.server.app import _drive
from tessera.storage.inmem import InmemPhysical
from tests.helpers.pki import Issuer

from .inproc import InProcess, _Proto
from .jwt_bench import github_token, setup, signing_key


def jwt_logins(server: InProcess, alg: str, count: int, fresh: bool) -> Callable[[int], None]:
    """A login function over ``count`` (+ warm-up) request bodies (all the same unless ``fresh``)."""
    key = signing_key(alg)
    setup(server, key)
    tokens = [github_token(key, alg)]
    if fresh:
        tokens = [github_token(key, alg, run_id=str(i)) for i in range(count + WARM)]
    bodies = [orjson.dumps({"role": "deploy", "jwt": t}) for t in tokens]
    proto = _Proto()

    def login(i: int) -> None:
        body = bodies[i % len(bodies)]
        server.app.serve_threaded(proto, server.scope("POST", "auth/jwt/login", None, body))
        proto.wait()
        if proto.status != 200:
            raise SystemExit(f"jwt login: {proto.status} {proto.body!r}")

    return login


class _PeerTLS:
    def __init__(self, der: bytes) -> None:
        self.peer_certificates = (der,)


def cert_logins(server: InProcess) -> Callable[[int], None]:
    root = Issuer.root(Path(tempfile.mkdtemp(prefix="tessera-login-inproc-")))
    for method, path, body in (
        ("POST", "sys/auth/cert", {"type": "cert"}),
        (
            "POST",
            "auth/cert/certs/bench-batch",
            {"certificate": root.pem, "token_type": "batch", "token_ttl": "5m"},
        ),
    ):
        status, answer, _ = server.call(method, path, json=body)
        if status not in (200, 204):
            raise SystemExit(f"{method} {path}: {status} {answer}")
    tls = _PeerTLS(root.issue("job-1").certificate.public_bytes(Encoding.DER))
    body = orjson.dumps({"name": "bench-batch"})
    headers = {"content-type": "application/json"}

    async def read_body() -> bytes:
        return body

    def login(_i: int) -> None:
        status, out, _ = _drive(
            server.app._serve("POST", "/v1/auth/cert/login", b"", headers, read_body, "127.0.0.1", tls)  # type: ignore[arg-type]
        )
        if status != 200:
            raise SystemExit(f"cert login: {status} {out!r}")

    return login


WARM = 200


def timed(login: Callable[[int], None], count: int, profile: bool) -> float:
    for i in range(WARM):
        login(count + i)  # warm caches (with tokens of their own: none is seen again when timed)
    prof = cProfile.Profile() if profile else None
    if prof is not None:
        prof.enable()
    start = time.thread_time()
    for i in range(count):
        login(i)
    used = time.thread_time() - start
    if prof is not None:
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())
    return used / count * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    cases: list[tuple[str, Callable[[InProcess], Callable[[int], None]]]] = [
        ("jwt RS256, same token", lambda s: jwt_logins(s, "RS256", args.requests, False)),
        ("jwt RS256, fresh tokens", lambda s: jwt_logins(s, "RS256", args.requests, True)),
        ("jwt ES256, same token", lambda s: jwt_logins(s, "ES256", args.requests, False)),
        ("jwt ES256, fresh tokens", lambda s: jwt_logins(s, "ES256", args.requests, True)),
        ("cert, batch", cert_logins),
    ]
    for name, make in cases:
        server = InProcess(InmemPhysical())
        try:
            login: Any = make(server)
            print(f"{name:26} {timed(login, args.requests, args.profile):8.1f} us/login", flush=True)
        finally:
            server.core.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
