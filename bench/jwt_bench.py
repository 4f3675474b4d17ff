"""JWT login → batch token, requests per second: Tessera against the reference, in one run.

The CI pattern: every job presents the identity token its platform signed and gets a short batch
token. Both servers are started here (dev mode, free ports) and given the same ``jwt`` mount: a
PEM public key in the config, a role binding the audience and a glob on ``repository`` with
``token_type=batch``. wrk then posts GitHub Actions-style tokens to ``auth/jwt/login`` for a
fixed time, the servers taking alternating turns; each answer is a fresh batch token.

Every login presents a token of its own, as every CI job does: ``--tokens`` (20,000) are signed
beforehand, each with its own ``run_id`` and ``jti``, and wrk's threads cycle through them, so a
token comes back only after all the others: more than Tessera's memo of verified tokens holds
(``auth/jwt/keys.py``), which therefore never spares a signature check here. ``--same-token``
adds a second, labelled row per server where one token is posted for the whole run (a client
logging in again with the same JWT, which the memo does spare).

``--workers N`` (N > 1) adds a third server: Tessera on SQLite with ``workers = N``, whose worker
processes serve these logins on the same port (a repeat login of a known entity writes nothing,
so no worker hands it to the active process), beside the one-process Tessera (dev, in memory)
and the reference (dev, in memory), in the same run and the same alternating turns.

Printed per algorithm: successful logins/s, p50/p99, the server's CPU per login (user + system
time of its process tree, workers included: the figure least disturbed by a busy machine),
non-2xx answers, and each Tessera's ratios to the reference.

    python bench/jwt_bench.py [--seconds 10] [--rounds 2] [--alg RS256|ES256|all]
                              [--tokens 20000] [--same-token] [--connections 16] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from bench.run import cpu_seconds, wait_for_workers  # noqa: E402
from bench.scenarios import Request  # noqa: E402
from bench.servers import start_tessera  # noqa: E402
from bench.wrk import WrkResult, WrkSettings, write_bodies  # noqa: E402
from bench.wrk import run as run_wrk  # noqa: E402
from tessera.auth.jwt.keys import Verified  # noqa: E402
from tests.helpers.jwks import GITHUB_DEPLOY_ROLE, public_pem, rsa_key  # noqa: E402
from tests.helpers.servers import ReferenceServer, ServerProcess, TesseraServer  # noqa: E402

ROLE = GITHUB_DEPLOY_ROLE


WARMUP = 2.0  # seconds of unmeasured logins per server before the rounds


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


@dataclass
class Workload:
    """One row per server: a label, the request, and (for fresh tokens) the file of bodies."""

    label: str
    request: Request
    bodies: Path | None = None
    results: dict[str, list[WrkResult]] = field(default_factory=dict)
    cpu_us: dict[str, list[float]] = field(default_factory=dict)


def workloads(key: Any, alg: str, tokens: int, same_token: bool) -> list[Workload]:
    """Fresh tokens (one per login, cycled through ``tokens`` signed ones), and the same token."""
    started = time.monotonic()
    bodies = [
        {"role": "deploy", "jwt": github_token(key, alg, run_id=str(i), jti=f"bench-{i}")}
        for i in range(tokens)
    ]
    print(f"{alg}: signed {tokens} tokens in {time.monotonic() - started:.1f}s", flush=True)
    out = [Workload("fresh tokens", Request("POST", "auth/jwt/login", body=bodies[0]), write_bodies(bodies))]
    if same_token:
        out.append(Workload("same token", Request("POST", "auth/jwt/login", body=bodies[0])))
    return out


def start_servers(workers: int, workdir: Path) -> list[tuple[str, ServerProcess]]:
    """The reference and one-process Tessera (dev, in memory) and, with ``workers`` > 1, Tessera on
    SQLite with that many processes; each with its label, the reference first."""
    servers: list[tuple[str, ServerProcess]] = []
    made: list[tuple[str, ServerProcess]] = [("bao", ReferenceServer()), ("tessera", TesseraServer())]
    try:
        for label, one in made:
            servers.append((label, one.start()))
        if workers > 1:
            pool = start_tessera("durable", workdir, workers=workers)
            servers.append((f"tessera x{workers}", pool))
            assert pool.process is not None
            wait_for_workers(pool.process.pid, workers)
    except BaseException:
        for _, started in servers:
            started.cleanup()
        raise
    return servers


def measure(alg: str, args: argparse.Namespace) -> list[Workload]:
    """Every server, alternating turns per round, over each workload of ``alg``."""
    key = signing_key(alg)
    loads = workloads(key, alg, args.tokens, args.same_token)
    settings = WrkSettings(threads=args.threads, connections=args.connections, duration=args.seconds)
    with tempfile.TemporaryDirectory(prefix="jwt-bench-") as workdir:
        servers = start_servers(args.workers, Path(workdir))
        try:
            for _, server in servers:
                setup(server, key)
                status, answer, _ = server.call(
                    "POST", "auth/jwt/login", json=loads[0].request.body, token=None
                )
                assert status == 200 and answer["auth"]["token_type"] == "batch", answer
                warm = WrkSettings(args.threads, args.connections, WARMUP)
                run_wrk(server.addr, loads[0].request, warm, loads[0].bodies)  # workers catch up
            for _ in range(args.rounds):
                for load in loads:
                    for label, server in servers:
                        run_one(label, server, load, settings)
        finally:
            for _, server in servers:
                server.cleanup()
            for load in loads:
                if load.bodies is not None:
                    load.bodies.unlink(missing_ok=True)
    return loads


def run_one(label: str, server: ServerProcess, load: Workload, settings: WrkSettings) -> None:
    """One turn of wrk against ``server``; its result and CPU per successful login recorded."""
    assert server.process is not None
    before = cpu_seconds(server.process.pid)
    result = run_wrk(server.addr, load.request, settings, load.bodies)
    used = cpu_seconds(server.process.pid) - before
    load.results.setdefault(label, []).append(result)
    ok = max(1, result.requests - result.non2xx)
    load.cpu_us.setdefault(label, []).append(used / ok * 1e6)


def report(alg: str, loads: list[Workload], args: argparse.Namespace) -> None:
    print(
        f"\nJWT login ({alg}) -> batch token, {args.rounds} x {args.seconds:.0f}s per server and row, "
        f"wrk -t{args.threads} -c{args.connections}, {args.tokens} distinct tokens cycled for 'fresh'"
    )
    print(
        f"{'server':<12} {'tokens':<13} {'logins/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'cpu us/login':>13} {'non-2xx':>8}"
    )
    for load in loads:
        best: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for name, runs in load.results.items():
            top = max(runs, key=lambda r: r.ok_rps)
            best[name] = top.ok_rps
            cpu[name] = min(load.cpu_us[name])
            print(
                f"{name:<12} {load.label:<13} {top.ok_rps:>10.0f} {top.p50_ms:>8.2f} {top.p99_ms:>8.2f}"
                f" {cpu[name]:>13.0f} {sum(r.failed for r in runs):>8}"
            )
        reference, *ours = list(best)  # the order the servers ran in: the reference first
        for tessera in ours:
            ratio = best[tessera] / best[reference] if best[reference] else float("nan")
            print(
                f"  {load.label}: {tessera} / reference {ratio:.2f}x logins/s (best round of each); "
                f"server CPU per login {cpu[reference] / cpu[tessera]:.2f}x less"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--alg", choices=["RS256", "ES256", "all"], default="RS256")
    parser.add_argument("--tokens", type=int, default=20_000, help="distinct tokens cycled through")
    parser.add_argument("--same-token", action="store_true", help="add a row posting one token throughout")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=1, help="also Tessera on SQLite with this many processes (> 1)"
    )
    args = parser.parse_args()
    if args.tokens <= Verified().limit:
        print(f"warning: {args.tokens} tokens fit in the memo of verified tokens: 'fresh' is not fresh")
    algs = ["RS256", "ES256"] if args.alg == "all" else [args.alg]
    for alg in algs:
        report(alg, measure(alg, args), args)


if __name__ == "__main__":
    main()
