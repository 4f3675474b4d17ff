"""Golden tests: every command of the batch-token tutorials, run with ``bao`` and with ``tessera``.

``bao`` runs against the reference OpenBao, ``tessera`` against a Tessera server (see conftest), both
as subprocesses; outputs must match line by line once IDs, tokens (and their prefixes), accessors,
times, product names and server versions are normalised.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.helpers.servers import ReferenceServer

from .conftest import Pair
from .golden import assert_same, normalize

BASE_HCL = 'path "secret/data/*" {\n  capabilities = ["read", "list"]\n}\n'


def same(pair: Pair, *args: str, **kw: object) -> tuple:
    a, b = pair.run(list(args), **kw)  # type: ignore[arg-type]
    assert_same(a, b)
    return a, b


def test_seed_batch_token_tutorial(pair: Pair) -> None:
    """Seed 000: login root, batch token as root fails, policy base, batch token lookup."""
    (pair.workdir / "base.hcl").write_text(BASE_HCL)
    same(pair, "login", "root", token=None)
    same(pair, "token", "create", "-type=batch")
    same(pair, "token", "create", "-type", "batch")
    same(pair, "policy", "write", "base", "base.hcl")
    same(pair, "policy", "read", "base")
    a, b = same(pair, "token", "create", "-type=batch", "-policy=base", "-format=json")
    tokens = (json.loads(a.out)["auth"]["client_token"], json.loads(b.out)["auth"]["client_token"])
    a, b = pair.run_each(["token", "lookup"], tokens)
    assert_same(a, b)
    a, b = pair.run_each(["token", "lookup", "-format=json"], tokens)
    assert_same(a, b)
    a, b = pair.run_each(["token", "renew"], tokens)
    assert_same(a, b)
    a, b = pair.run_each(["token", "revoke"], tokens)
    assert_same(a, b)


def _field(pair: Pair, args: list[str]) -> tuple[str, str]:
    a, b = pair.run(args)
    assert a.rc == b.rc == 0, (a, b)
    return a.out, b.out


def test_seed_service_and_batch_lifecycle(pair: Pair) -> None:
    """Seed 001: accessors, revoke by accessor, login with a revoked token, batch renew/login/secrets list."""
    same(pair, "token", "lookup")
    same(pair, "list", "auth/token/accessors")
    same(pair, "token", "create", "-policy=cloud-policy")
    svc = _field(pair, ["token", "create", "-policy=cloud-policy", "-field=token"])
    same(pair, "token", "lookup", "-format=json")
    same(pair, "list", "auth/token/accessors")
    a, b = pair.run_each(["token", "lookup", "-field=accessor"], svc)
    assert a.rc == b.rc == 0, (a, b)
    a, b = pair.run_each(["token", "revoke", "-accessor"], (a.out, b.out))
    assert_same(a, b)
    a, b = pair.run_each(["login"], svc)
    assert_same(a, b)
    same(pair, "token", "create", "-policy=cloud-policy", "-type=batch", "-ttl=24h")
    batch = _field(
        pair,
        [
            "token",
            "create",
            "-policy=cloud-policy",
            "-type=batch",
            "-ttl=24h",
            "-orphan=true",
            "-field=token",
        ],
    )
    for args in (["token", "lookup"], ["token", "revoke"], ["token", "renew"]):
        a, b = pair.run_each(args, batch)
        assert_same(a, b)
    a, b = pair.run_each(["login", "-no-store"], batch)
    assert_same(a, b)
    # The tutorial logs in with the batch token (stored in the helper), exports it, lists, unsets it
    # and lists again: the helper's batch token is still used, so both lists are denied.
    a, b = pair.run_each(["login"], batch)
    assert_same(a, b)
    a, b = pair.run(["secrets", "list"], token=batch)
    assert_same(a, b)
    a, b = pair.run(["secrets", "list"], token=None)
    assert_same(a, b)


def test_seed_token_types_and_approle(pair: Pair) -> None:
    """Seeds 002/003: service token ops, periodic/orphan tokens, AppRole roles with token_type."""
    same(pair, "token", "create", "-policy=default", "-ttl=1h")
    svc = _field(pair, ["token", "create", "-policy=default", "-ttl=1h", "-field=token"])
    a, b = pair.run_each(["token", "lookup"], svc)
    assert_same(a, b)
    svc = _field(pair, ["token", "create", "-policy=app", "-ttl=1h", "-field=token"])
    a, b = pair.run_each(["token", "renew"], svc, after=("30m",))  # the seed's positional increment
    assert_same(a, b)
    a, b = pair.run_each(["token", "renew", "-increment=30m"], svc)
    assert_same(a, b)
    a, b = pair.run_each(["token", "revoke"], svc)
    assert_same(a, b)
    a, b = pair.run_each(["token", "lookup"], svc)
    assert_same(a, b)
    same(pair, "token", "create", "-policy=agent", "-period=24h")
    same(pair, "token", "create", "-policy=ops", "-orphan")
    same(pair, "token", "create", "-type=batch", "-policy=build", "-ttl=15m")
    for policy, ttl in (("build", "15m"), ("dev", "10m")):
        batch = _field(
            pair, ["token", "create", "-type=batch", f"-policy={policy}", f"-ttl={ttl}", "-field=token"]
        )
        for args in (["token", "lookup"], ["token", "revoke"]):
            a, b = pair.run_each(args, batch)
            assert_same(a, b)
    same(pair, "token", "create", "-policy=dev", "-ttl=10m")
    svc = _field(pair, ["token", "create", "-policy=dev", "-ttl=10m", "-field=token"])
    a, b = pair.run_each(["token", "lookup"], svc)
    assert_same(a, b)
    same(pair, "auth", "enable", "approle")
    same(
        pair,
        "write",
        "auth/approle/role/ci",
        "token_policies=build",
        "token_ttl=15m",
        "token_max_ttl=30m",
        "token_type=batch",
    )
    same(
        pair,
        "write",
        "auth/approle/role/app",
        "token_policies=app",
        "token_ttl=1h",
        "token_max_ttl=24h",
        "token_type=service",
    )
    same(pair, "read", "auth/approle/role/ci")
    same(pair, "read", "-format=json", "auth/approle/role/app")
    same(pair, "list", "auth/approle/role")
    same(pair, "auth", "list")
    same(pair, "auth", "tune", "-token-type=batch", "approle/")
    same(pair, "read", "sys/auth/approle/tune")
    lockout = ("-user-lockout-threshold=3", "-user-lockout-duration=20m", "-user-lockout-disable")
    same(pair, "auth", "tune", *lockout, "-user-lockout-counter-reset-duration=5m", "approle/")
    same(pair, "auth", "tune", "-user-lockout-threshold=-1", "approle/")
    same(pair, "read", "sys/auth/approle/tune")
    same(pair, "auth", "disable", "approle")


def test_kv_v2_and_v1(pair: Pair) -> None:
    same(pair, "secrets", "enable", "-path=kvone", "kv")
    same(pair, "secrets", "enable", "-version=2", "-path=kvtwo", "-description=two", "kv")
    same(pair, "secrets", "enable", "-path=kvone", "kv")
    same(pair, "kv", "put", "kvtwo/app", "password=s3cret", "user=me")
    same(pair, "kv", "get", "kvtwo/app")
    same(pair, "kv", "get", "-field=password", "kvtwo/app")
    same(pair, "kv", "get", "-format=json", "kvtwo/app")
    same(pair, "kv", "get", "-format=yaml", "kvtwo/app")
    same(pair, "kv", "put", "-mount=kvtwo", "app", "password=new")
    same(pair, "kv", "patch", "kvtwo/app", "extra=1")
    same(pair, "kv", "get", "-version=1", "kvtwo/app")
    same(pair, "kv", "list", "kvtwo/")
    same(pair, "kv", "metadata", "get", "kvtwo/app")
    same(pair, "kv", "metadata", "put", "-max-versions=5", "kvtwo/app")
    same(pair, "kv", "delete", "kvtwo/app")
    same(pair, "kv", "undelete", "-versions=3", "kvtwo/app")
    same(pair, "kv", "destroy", "-versions=1", "kvtwo/app")
    same(pair, "kv", "rollback", "-version=2", "kvtwo/app")
    same(pair, "kv", "put", "-cas=0", "kvtwo/app", "a=b")
    same(pair, "kv", "get", "kvtwo/missing")
    same(pair, "kv", "metadata", "delete", "kvtwo/app")
    same(pair, "kv", "put", "kvone/foo", "a=b")
    same(pair, "kv", "get", "kvone/foo")
    same(pair, "kv", "list", "kvone")
    same(pair, "kv", "metadata", "get", "kvone/foo")
    same(pair, "read", "kvone/foo")
    same(pair, "list", "-format=json", "kvone")
    same(pair, "delete", "kvone/foo")
    same(pair, "secrets", "tune", "-max-lease-ttl=1h", "kvone/")
    same(pair, "read", "sys/mounts/kvone/tune")
    same(pair, "secrets", "list")
    same(pair, "secrets", "list", "-format=json")
    same(pair, "secrets", "list", "-detailed")
    same(pair, "secrets", "disable", "kvone")
    same(pair, "secrets", "disable", "kvtwo/")


def test_local_mounts_and_the_replication_column(pair: Pair) -> None:
    """``-local`` on secrets and auth enable; ``-detailed`` lists show ``local`` / ``replicated``."""
    same(pair, "secrets", "enable", "-local", "-path=golden-local", "-description=here only", "kv")
    same(pair, "secrets", "enable", "-path=golden-shared", "kv")
    same(pair, "auth", "enable", "-local", "-path=golden-up", "userpass")
    try:
        same(pair, "secrets", "list", "-detailed")
        same(pair, "secrets", "list", "-detailed", "-format=json")
        same(pair, "auth", "list", "-detailed")
        same(pair, "auth", "list", "-format=json")
        same(pair, "read", "-field=local", "sys/mounts/golden-local")
        same(pair, "secrets", "enable", "-local", "-path=golden-local", "kv")  # the path is taken
        same(pair, "secrets", "tune", "-description=still local", "golden-local/")
        same(pair, "read", "-field=local", "sys/mounts/golden-local")
    finally:
        same(pair, "secrets", "disable", "golden-local")
        same(pair, "secrets", "disable", "golden-shared")
        same(pair, "auth", "disable", "golden-up")


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["status", "-format=json"],
        ["token", "lookup", "-format=yaml"],
        ["token", "capabilities", "secret/foo"],
        ["token", "capabilities", "-format=json", "sys/"],
        ["token", "create", "-policy=p1", "-policy=p2", "-metadata=team=x", "-ttl=20m"],
        ["token", "create", "-use-limit=3", "-display-name=app", "-explicit-max-ttl=2h", "-format=json"],
        ["token", "create", "-role=nonexist"],
        ["token", "create", "-type=batch", "-policy=root"],
        ["policy", "list"],
        ["policy", "list", "-format=json"],
        ["policy", "read", "nope"],
        ["policy", "read", "-format=json", "default"],
        ["read", "sys/auth/token/tune"],
        ["read", "-field=max_lease_ttl", "sys/auth/token/tune"],
        ["read", "nonexistent/foo"],
        ["list", "nonexistent/"],
        ["write", "-f", "cubbyhole/empty"],
        ["write", "cubbyhole/x", "a=1", "a=2", "b=@/dev/null"],
        ["read", "cubbyhole/x"],
        ["lease", "lookup", "nope"],
        ["lease", "revoke", "-prefix", "nope/"],
        ["operator", "key-status"],
        ["path-help", "-format=table", "sys/health"],
        ["kv", "get", "-output-curl-string", "secret/foo"],
        ["token", "lookup", "-output-curl-string"],
        ["read", "-format=raw", "sys/seal-status"],
    ],
    ids=lambda a: " ".join(a),
)
def test_single_commands(pair: Pair, args: list[str]) -> None:
    a, b = pair.run(args)
    if "path-help" in args or "-format=raw" in args or "key-status" in args:
        assert (a.rc, bool(a.out)) == (b.rc, bool(b.out))
        return
    if "-output-curl-string" in args:  # Go prints the headers in random (map) order
        words = [sorted(re.findall(r'"[^"]*"', normalize(r.out))) for r in (a, b)]
        assert (a.rc, words[0]) == (b.rc, words[1])
        return
    assert_same(a, b)


def test_login_methods_and_helper(pair: Pair) -> None:
    same(pair, "login", "root", token=None)
    for side in (0, 1):
        assert Path(pair.homes[side], ".vault-token").read_text() == "root"
    same(pair, "login", "-no-store", "root", token=None)
    same(pair, "login", "-format=json", "root", token=None)
    same(pair, "login", "-token-only", "root", token=None)
    same(pair, "login", "-field=token_policies", "root", token=None)
    same(pair, "login", "root")
    same(pair, "login", "-method=approle", "role_id=x", token=None)
    same(pair, "login", "-method=userpass", "username=bob", "password=x", token=None)
    same(pair, "login", "-", token=None, stdin="root\n")
    same(pair, "token", "lookup", "-field=policies", token=None)
    same(pair, "print", "token", token=None)


def test_operator_seal_unseal_cycle(fresh_pair: Pair) -> None:
    """Dev servers: status, rotate, init on an initialised server, seal, sealed status, unseal errors."""
    pair = fresh_pair
    same(pair, "operator", "init")
    same(pair, "operator", "init", "-status")
    a, b = pair.run(["operator", "rotate"])
    assert (a.rc, a.out.splitlines()[0]) == (b.rc, b.out.splitlines()[0])
    # Tessera has no cluster listener, so it names no cluster address (the reference: port + 1).
    no_cluster = {
        f"https://127.0.0.1:{server.port + 1}": "n/a"
        for server in (pair.ref, pair.side)
        if isinstance(server, ReferenceServer)
    }
    a, b = pair.run(["operator", "members"])
    assert_same(a, b, no_cluster)
    same(pair, "operator", "seal")
    same(pair, "status")
    same(pair, "status", "-format=json")
    same(pair, "operator", "unseal", "bm90LWEta2V5")
    same(pair, "operator", "unseal", "-reset")
    same(pair, "token", "lookup")
