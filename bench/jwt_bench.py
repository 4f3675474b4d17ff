"""JWT login → batch token, requests per second: Tessera against the reference, in one run.

The CI pattern: every job presents the identity token its platform signed and gets a short batch
token. Both servers are started here (dev mode, free ports) and given the same ``jwt`` mount: a
PEM public key in the config, a role binding the audience and a glob on ``repository`` with
``token_type=batch``. wrk then posts the same signed GitHub Actions-style token to
``auth/jwt/login`` for a fixed time, the servers taking alternating turns; each answer is a fresh
batch token. Printed: successful logins/s, p50/p99, the server's CPU per login (user + system time
of its process tree, the figure least disturbed by a busy machine), non-2xx answers, and the
Tessera/reference ratios.

    python bench/jwt_bench.py [--seconds 10] [--rounds 2] [--alg RS256] [--connections 16]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from bench.run import cpu_seconds  # noqa: E402
from bench.scenarios import Request  # noqa: E402
from bench.wrk import WrkResult, WrkSettings  # noqa: E402
from bench.wrk import run as run_wrk  # noqa: E402
from tests.helpers.jwks import public_pem, rsa_key  # noqa: E402
from tests.helpers.servers import ReferenceServer, ServerProcess, TesseraServer  # noqa: E402

ROLE = {
    "role_type": "jwt",
    "user_claim": "sub",
    "bound_audiences": "https://github.com/acme",
    "bound_claims_type": "glob",
    "bound_claims": {"repository": "acme/*"},
    "claim_mappings": {"repository": "repository", "workflow": "workflow"},
    "token_type": "batch",
    "token_ttl": "10m",
    "token_policies": "ci-deploy",
}


def signing_key(alg: str) -> Any:
    return ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else rsa_key()


def github_token(key: Any, alg: str, **extra: str) -> str:
    """A GitHub Actions-style identity token; ``extra`` claims replace the defaults."""
    now = int(time.time())
    claims = {
        "iss": "https://token.actions.githubusercontent.com",
        "aud": "https://github.com/acme",
        "sub": "repo:acme/app:ref:refs/heads/main",
        "repository": "acme/app",
        "repository_owner": "acme",
        "ref": "refs/heads/main",
        "workflow": "deploy",
        "run_id": "1234567890",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        **extra,
    }
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": "bench"})


def setup(server: ServerProcess, key: Any) -> None:
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "sys/auth/jwt", {"type": "jwt"}),
        (
            "POST",
            "auth/jwt/config",
            {
                "jwt_validation_pubkeys": [public_pem(key)],
                "bound_issuer": "https://token.actions.githubusercontent.com",
            },
        ),
        ("POST", "auth/jwt/role/deploy", ROLE),
    ]
    for method, path, body in steps:
        status, answer, _ = server.call(method, path, json=body)
        if status not in (200, 204):
            raise SystemExit(f"{server.name}: {method} {path} -> {status} {answer}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--alg", choices=["RS256", "ES256"], default="RS256")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    key = signing_key(args.alg)
    token = github_token(key, args.alg)
    request = Request("POST", "auth/jwt/login", body={"role": "deploy", "jwt": token})
    settings = WrkSettings(threads=args.threads, connections=args.connections, duration=args.seconds)
    servers: list[ServerProcess] = [ReferenceServer(), TesseraServer()]
    results: dict[str, list[WrkResult]] = {s.name: [] for s in servers}
    cpu_us: dict[str, list[float]] = {s.name: [] for s in servers}
    try:
        for server in servers:
            server.start()
            setup(server, key)
            status, answer, _ = server.call("POST", "auth/jwt/login", json=request.body, token=None)
            assert status == 200 and answer["auth"]["token_type"] == "batch", answer
        for _ in range(args.rounds):
            for server in servers:
                assert server.process is not None
                before = cpu_seconds(server.process.pid)
                result = run_wrk(server.addr, request, settings)
                used = cpu_seconds(server.process.pid) - before
                results[server.name].append(result)
                cpu_us[server.name].append(used / max(1, result.requests - result.non2xx) * 1e6)
    finally:
        for server in servers:
            server.stop()

    print(
        f"\nJWT login ({args.alg}) -> batch token, {args.rounds} x {args.seconds:.0f}s per server, "
        f"wrk -t{args.threads} -c{args.connections}"
    )
    print(f"{'server':<10} {'logins/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'cpu us/login':>13} {'non-2xx':>8}")
    best: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for name, runs in results.items():
        top = max(runs, key=lambda r: r.ok_rps)
        best[name] = top.ok_rps
        cpu[name] = min(cpu_us[name])
        print(
            f"{name:<10} {top.ok_rps:>10.0f} {top.p50_ms:>8.2f} {top.p99_ms:>8.2f} {cpu[name]:>13.0f}"
            f" {sum(r.failed for r in runs):>8}"
        )
    ref, tes = (best[s.name] for s in servers)
    ratio = tes / ref if ref else float("nan")
    ref_cpu, tes_cpu = (cpu[s.name] for s in servers)
    print(
        f"tessera / reference: {ratio:.2f}x logins/s (best round of each); "
        f"server CPU per login {ref_cpu / tes_cpu:.2f}x less (steadier on a busy machine)"
    )


if __name__ == "__main__":
    main()
