"""Error paths: bad flags and arguments, unknown commands, a server that is down, bad input files.

Compared with the reference where the reference can run (everything but the Python-specific cases),
and always checked for the absence of a Python traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Pair
from .golden import BAO, TESSERA, assert_same, cli_env, run_cli

CASES = [
    ["bogus"],
    [],
    ["token", "bogus"],
    ["token"],
    ["kv"],
    ["token", "create", "-bogus"],
    ["token", "create", "--bogus=1"],
    ["token", "create", "-ttl=abc"],
    ["token", "create", "-ttl"],
    ["token", "create", "-orphan=maybe"],
    ["token", "create", "-use-limit=abc"],
    ["token", "create", "extra"],
    ["token", "lookup", "a", "b"],
    ["token", "lookup", "-accessor"],
    ["token", "revoke"],
    ["token", "revoke", "-self", "x"],
    ["token", "revoke", "-mode=bogus", "x"],
    ["token", "revoke", "-accessor", "-mode=orphan", "x"],
    ["token", "capabilities"],
    ["status", "extra"],
    ["status", "-format=bogus"],
    ["token", "lookup", "-format=raw"],
    ["write"],
    ["write", "secret/x"],
    ["write", "secret/x", "foo"],
    ["write", "secret/x", "@bad.json"],
    ["write", "secret/x", "@array.json"],
    ["write", "secret/x", "@missing.json"],
    ["write", "secret/x", "a=@missing"],
    ["kv", "put", "secret/x"],
    ["kv", "undelete", "secret/x"],
    ["kv", "rollback", "secret/x"],
    ["policy", "write", "x", "missing.hcl"],
    ["login", "-no-store", "-no-print", "root"],
    ["login", "-method=approle"],
    ["lease", "renew"],
    ["lease", "revoke", "-force", "x"],
    ["secrets", "enable"],
    ["auth", "tune"],
    ["list", "a", "b"],
    ["kv", "get", "secret/x", "-format=json"],
    ["token", "lookup", "-format=json", "root", "-bogus"],
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: " ".join(a) or "(none)")
def test_usage_errors_match_reference(pair: Pair, args: list[str]) -> None:
    (pair.workdir / "bad.json").write_text("{bad")
    (pair.workdir / "array.json").write_text("[1, 2]")
    a, b = pair.run(args)
    assert "Traceback" not in b.err
    if (args and args[0] in ("bogus",)) or not args or args in (["token", "bogus"], ["token"], ["kv"]):
        # the command lists differ (Tessera has fewer commands); the exit code and stream must not
        assert (b.rc, bool(b.out), bool(b.err)) == (a.rc, bool(a.out), bool(a.err))
        return
    assert_same(a, b)


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["token", "lookup"],
        ["read", "secret/x"],
        ["list", "secret/"],
        ["login", "root"],
        ["kv", "get", "secret/x"],
    ],
    ids=lambda a: " ".join(a),
)
def test_server_down_matches_reference(tmp_path, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    env = cli_env("http://127.0.0.1:1", str(tmp_path))
    a = run_cli(BAO, args, env)
    b = run_cli(TESSERA, args, env)
    assert_same(a, b)


def test_default_address_is_https_8200(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = cli_env("", str(tmp_path))
    env.pop("VAULT_ADDR")
    b = run_cli(TESSERA, ["status"], env)
    assert b.rc == 1
    assert 'Get "https://127.0.0.1:8200/v1/sys/seal-status"' in b.err


@pytest.mark.parametrize(
    "args",
    [["token", "create", "-h"], ["kv", "get", "--help"], ["-h"], ["secrets", "-h"], ["kv", "metadata", "-h"]],
    ids=lambda a: " ".join(a),
)
def test_help_goes_to_stdout_with_rc_0(tmp_path, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    env = cli_env("http://127.0.0.1:1", str(tmp_path))
    a = run_cli(BAO, args, env)
    b = run_cli(TESSERA, args, env)
    assert (b.rc, b.err) == (a.rc, "") == (0, "")
    assert b.out.startswith("Usage: tessera")
    if "Subcommands:" in a.out:
        assert "Subcommands:" in b.out


def test_env_synonyms_and_token_helper(pair: Pair) -> None:
    home = pair.homes[1]
    env = {"HOME": home, "PATH": "/usr/bin:/bin", "TESSERA_ADDR": pair.side.addr, "NO_COLOR": "1"}
    import subprocess

    login = subprocess.run(
        [TESSERA, "login", "-field=token", "root"], env=env, capture_output=True, text=True, check=False
    )
    assert (login.returncode, login.stdout) == (0, "root")
    assert Path(home, ".vault-token").read_text() == "root"
    lookup = subprocess.run(
        [TESSERA, "token", "lookup", "-field=id"],
        env={**env, "BAO_FORMAT": "json"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (lookup.returncode, lookup.stdout) == (0, '"root"')
    bad = subprocess.run(
        [TESSERA, "token", "lookup"],
        env={**env, "TESSERA_TOKEN": "nope"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "permission denied" in bad.stderr
