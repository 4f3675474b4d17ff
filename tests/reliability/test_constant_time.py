"""Secrets are compared in constant time: a static sweep of the source, and the paths exercised.

Token validation never compares a presented token with a stored one: service tokens are found by
their salted HMAC (a dict lookup), batch tokens by AES-GCM. Everything else that compares a secret
(passwords, secret IDs, HMACs, signatures, unseal shares, the agent's auto-auth token) must use
``hmac.compare_digest``; the sweep flags ``==``/``!=`` between non-constant operands whose names
say secret, and lists the reviewed exceptions with their reason.
"""

from __future__ import annotations

import ast
import hmac
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tessera
from tessera.core.core import Core
from tessera.server.app import App
from tessera.storage.inmem import InmemPhysical
from tests.reliability.asgi import ROOT, AsgiClient, dev_core

SRC = Path(tessera.__file__).parent
SECRET = re.compile(
    r"token|secret|password|passwd|hmac|digest|signature|_mac|nonce|unseal|share|wrapping", re.I
)
NOT_SECRET = re.compile(
    r"type|kind|len|count|num|ttl|period|prefix|path|name|polic|role|accessor|mode|format|version|uses|time|"
    r"field|header|method|status|bound",
    re.I,
)
# file → expressions reviewed and kept, with why.
REVIEWED = {
    # Key-type checks against constants, not secrets.
    "secrets/transit/manager.py": {"kt == C.HMAC"},
    "secrets/transit/ops.py": {"p.type == C.HMAC"},
    "secrets/transit/paths_misc.py": {"kt == C.HMAC"},
    "secrets/transit/policy.py": {"kt == C.HMAC"},
    # The number of PGP keys against the number of shares: counts, not secrets.
    "core/pgpkeys.py": {"len(keys) != shares"},
    # Tidy's set of storage keys seen by a scan (64-bit digests in a sorted array, looked up by bisection):
    # no request's input is compared, and "present" only spares an entry from deletion.
    "storage/keyset.py": {"self._digests[i] == digest"},
    # The CLI compares tokens it holds itself; no attacker controls the timing side.
    "cli/commands/token.py": {"token == client.token"},
    # The agent's lease-cache bookkeeping: evicting entries after the server accepted a revocation;
    # a mismatch only leaves an entry in place, nothing is granted on it.
    "agent/cache.py": {
        "e.token != token",
        "entry.token != tok",
        "e.lease_token == token",
        "e.token == token",
        "e.token == tok",
        "entry.derived_from == token",
    },
}


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        return _name(node.value)
    if isinstance(node, ast.Call):
        return _name(node.func)
    return ""


def secret_comparisons() -> list[tuple[str, str, int]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
                continue
            if not isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
                continue
            left, right = node.left, node.comparators[0]
            if isinstance(left, ast.Constant) or isinstance(right, ast.Constant):
                continue
            names = (_name(left), _name(right))
            if any(SECRET.search(n) and not NOT_SECRET.search(n) for n in names):
                found.append((rel, ast.unparse(node), node.lineno))
    return found


def test_no_secret_is_compared_with_eq() -> None:
    offending = [
        f"{f}:{line}: {expr}" for f, expr, line in secret_comparisons() if expr not in REVIEWED.get(f, ())
    ]
    assert not offending, "compare secrets with hmac.compare_digest:\n" + "\n".join(offending)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    calls: list[Any] = []
    real = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    yield calls


def test_logins_and_verifications_go_through_compare_digest(spy: list[Any]) -> None:
    core, _ = dev_core()
    c = AsgiClient(App(core))
    try:
        assert c.request("POST", "sys/auth/userpass", token=ROOT, json={"type": "userpass"})[0] == 204
        assert c.request("POST", "auth/userpass/users/u", token=ROOT, json={"password": "pw-1"})[0] == 204
        for password, expected in (("pw-1", 200), ("pw-2", 400)):
            before = len(spy)
            status, _, _ = c.request("POST", "auth/userpass/login/u", json={"password": password})
            assert status == expected and len(spy) > before, "userpass password check"
        assert c.request("POST", "sys/auth/approle", token=ROOT, json={"type": "approle"})[0] == 204
        assert c.request("POST", "auth/approle/role/r", token=ROOT, json={})[0] == 204
        role_id = c.request("GET", "auth/approle/role/r/role-id", token=ROOT)[1]["data"]["role_id"]
        secret_id = c.request("POST", "auth/approle/role/r/secret-id", token=ROOT)[1]["data"]["secret_id"]
        before = len(spy)
        login = {"role_id": role_id, "secret_id": secret_id}
        assert c.request("POST", "auth/approle/login", json=login)[0] == 200
        assert len(spy) > before, "approle secret ID check"
        assert c.request("POST", "sys/mounts/transit", token=ROOT, json={"type": "transit"})[0] == 204
        assert c.request("POST", "transit/keys/h", token=ROOT, json={})[0] in (200, 204)
        mac = c.request("POST", "transit/hmac/h", token=ROOT, json={"input": "aGk="})[1]["data"]["hmac"]
        before = len(spy)
        status, body, _ = c.request(
            "POST", "transit/verify/h", token=ROOT, json={"input": "aGk=", "hmac": mac}
        )
        assert status == 200 and body["data"]["valid"] is True and len(spy) > before, "transit HMAC verify"
    finally:
        c.close()
        core.shutdown()
    shared = Core(InmemPhysical())
    keys = shared.initialize(3, 2)["keys"]
    assert shared.seal_manager.submit(keys[0]) is False
    before = len(spy)
    assert shared.seal_manager.submit(keys[0]) is False  # a repeated share, recognised in constant time
    assert len(spy) > before
    assert shared.seal_manager.submit(keys[1]) is True
    shared.shutdown()
