"""Rekeying side by side with the reference OpenBao: ``sys/rekey/*`` over HTTP and ``operator rekey``.

Same servers as the generate-root comparison (config files, 3 shares / threshold 2, the reference's
unauthenticated rekey endpoints turned back on). Nonces and key shares differ by nature and are masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.golden import Result, assert_same
from tests.compat.test_generate_root_compat import UUID, Cli, field_of, fold_result, start_pair
from tests.helpers.servers import ServerProcess

pytestmark = pytest.mark.reference

Pair = tuple[ServerProcess, ServerProcess]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    ref, tes = start_pair(tmp_path)
    try:
        yield ref, tes
    finally:
        ref.cleanup()
        tes.cleanup()


def mask(body: Any) -> Any:
    """Nonces and new shares differ by nature; ``mount_type`` exists only in Tessera's envelope."""
    if isinstance(body, dict):
        out = {}
        for k, v in body.items():
            if k in ("nonce", "verification_nonce", "request_id") and v:
                out[k] = "<set>"
            elif k in ("keys", "keys_base64") and isinstance(v, list):
                out[k] = f"<{len(v)} keys>"
            elif k != "mount_type":
                out[k] = mask(v)
        return out
    if isinstance(body, list):
        return [mask(v) for v in body]
    if isinstance(body, str):
        return UUID.sub("<UUID>", body)
    return body


def _invalid_config(answer: Any) -> bool:
    errors = answer.get("errors") if isinstance(answer, dict) else None
    return bool(errors) and str(errors[0]).startswith("invalid rekey seal configuration: ")


class Rekey:
    """One request on both servers; bodies may use per-side values through callables."""

    def __init__(self, ref: ServerProcess, tes: ServerProcess) -> None:
        self.servers = (ref, tes)
        self.docs: list[dict[str, Any]] = [{}, {}]
        self.new_keys: list[list[str]] = [[], []]

    def __call__(self, method: str, path: str, body: Callable[[int], Any] | Any = None, **kw: Any) -> Any:
        answers = []
        for i, server in enumerate(self.servers):
            data = body(i) if callable(body) else body
            status, answer, _ = server.call(method, path, json=data, auth=False, **kw)
            if i == 0 and status == 500 and _invalid_config(answer):
                status = 400  # the reference's 500 for this bad input is a 400 in Tessera (README)
            answers.append((status, answer))
            if status == 200 and isinstance(answer, dict):
                self.docs[i] = answer
                if answer.get("keys"):
                    self.new_keys[i] = answer["keys"]
        assert (answers[1][0], mask(answers[1][1])) == (answers[0][0], mask(answers[0][1])), (
            f"{method} {path}: reference {answers[0]} / tessera {answers[1]}"
        )
        return answers

    def key(self, index: int, new: bool = False) -> Callable[[int], str]:
        return lambda i: self.new_keys[i][index] if new else self.servers[i].keys[index]

    def with_nonce(self, key: Callable[[int], str], field: str = "nonce") -> Callable[[int], dict[str, str]]:
        return lambda i: {"key": key(i), "nonce": self.docs[i].get(field, "")}


def test_rekey_over_http_matches(pair: Pair) -> None:
    ref, tes = pair
    step = Rekey(ref, tes)
    step("GET", "sys/rekey/init")
    step("GET", "sys/rekey/verify")
    step("DELETE", "sys/rekey/verify")
    for body in (
        {},
        {"secret_shares": 2, "secret_threshold": 1},
        {"secret_shares": 2, "secret_threshold": 3},
        {"secret_shares": 300, "secret_threshold": 2},
        {"secret_shares": 2, "secret_threshold": 2, "backup": True},
        {"secret_shares": 2, "secret_threshold": 2, "pgp_keys": ["a"]},
        {"secret_shares": 1, "secret_threshold": 1, "pgp_keys": ["a"]},
        {"secret_shares": 1, "secret_threshold": 1, "pgp_keys": ["bm90IGEga2V5"]},
        {"secret_shares": 1, "secret_threshold": 1, "pgp_keys": [""]},
        {"secret_shares": "two"},
        [1],
    ):
        step("PUT", "sys/rekey/init", body)
    step("PUT", "sys/rekey/update", {})
    step("PUT", "sys/rekey/update", {"key": "00"})
    step("PUT", "sys/rekey/update", lambda i: {"key": step.servers[i].keys[0]})
    step("PUT", "sys/rekey/verify", {"key": "AAAAAAAAAAAAAAAAAAAAAAAA"})
    step("PATCH", "sys/rekey/init", {}, headers={"Content-Type": "application/merge-patch+json"})

    step("PUT", "sys/rekey/init", {"secret_shares": 3, "secret_threshold": 2, "require_verification": True})
    step("PUT", "sys/rekey/init", {"secret_shares": 1, "secret_threshold": 1})
    step("PUT", "sys/rekey/update", lambda i: {"key": step.servers[i].keys[0], "nonce": "wrong"})
    step("PUT", "sys/rekey/update", step.with_nonce(step.key(0)))
    step("PUT", "sys/rekey/update", step.with_nonce(step.key(0)))
    step("GET", "sys/rekey/init")
    step("PUT", "sys/rekey/update", step.with_nonce(step.key(1)))
    assert len(step.new_keys[0]) == len(step.new_keys[1]) == 3
    step("GET", "sys/rekey/init")
    step("GET", "sys/rekey/verify")
    step("PUT", "sys/rekey/update", step.with_nonce(step.key(2)))
    step("PUT", "sys/rekey/verify", lambda i: {"key": step.new_keys[i][0], "nonce": "wrong"})
    step("PUT", "sys/rekey/verify", step.with_nonce(step.key(0, new=True)))
    step("PUT", "sys/rekey/verify", step.with_nonce(step.key(0, new=True)))
    # An x coordinate (last byte) that neither side's first new share has: share coordinates are
    # random, and a clash would fail one side as "duplicate part detected" instead.
    used = {bytes.fromhex(keys[0])[-1] for keys in step.new_keys}
    bogus = (bytes(32) + bytes([next(x for x in range(7, 256) if x not in used)])).hex()
    step("PUT", "sys/rekey/verify", step.with_nonce(lambda i: bogus))  # 2nd share: wrong key, new nonce
    step("GET", "sys/rekey/verify")
    step("DELETE", "sys/rekey/verify")
    step("PUT", "sys/rekey/verify", step.with_nonce(step.key(1, new=True)))
    step("PUT", "sys/rekey/verify", step.with_nonce(step.key(2, new=True)))
    step("GET", "sys/rekey/init")
    step("GET", "sys/rekey/verify")
    for server, keys in zip(pair, step.new_keys, strict=True):
        assert server.call("PUT", "sys/seal")[0] == 204
        status = server.unseal(keys[1:])
        assert (status["sealed"], status["t"], status["n"]) == (False, 2, 3)

    # A wrong quorum: the stored root key does not open (a 500, as OpenBao).
    step("PUT", "sys/rekey/init", {"secret_shares": 1, "secret_threshold": 1})
    other = [(bytes(32) + bytes([x])).hex() for x in (5, 6)]
    step("PUT", "sys/rekey/update", step.with_nonce(lambda i: other[0]))
    step("PUT", "sys/rekey/update", step.with_nonce(lambda i: other[1]))
    step("DELETE", "sys/rekey/init")
    step("GET", "sys/rekey/init")


def test_rekey_backups_and_recovery_keys_match(pair: Pair) -> None:
    ref, tes = pair
    step = Rekey(ref, tes)
    for method in ("GET", "DELETE", "PUT"):
        answers = []
        for server in pair:
            status, body, _ = server.call(method, "sys/rekey/backup")
            answers.append((status, mask(body)))
        assert answers[1] == answers[0], method
    for path in ("sys/rekey/recovery-key-backup",):
        for method in ("GET", "DELETE"):
            a, b = (s.call(method, path)[:2] for s in pair)
            assert b == a, (method, path)
    for path in ("init", "verify"):
        step("GET", f"sys/rekey-recovery-key/{path}")
        step("PUT", f"sys/rekey-recovery-key/{path}", {"key": "AAAAAAAAAAAAAAAAAAAAAAAA"})
    step("PUT", "sys/rekey-recovery-key/update", {})
    step("PUT", "sys/rekey-recovery-key/update", {"key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})


def test_sealed_servers_refuse_rekey_alike(pair: Pair) -> None:
    step = Rekey(*pair)
    for server in pair:
        assert server.call("PUT", "sys/seal")[0] == 204
    step("GET", "sys/rekey/init")
    step("GET", "sys/rekey/verify")
    step("PUT", "sys/rekey/init", {"secret_shares": 1, "secret_threshold": 1})
    step("PUT", "sys/rekey/update", {"key": "00"})


# -- the CLI ------------------------------------------------------------------------------------
def _keys_of(result: Result) -> list[str]:
    return re.findall(r"^Key \d+: (\S+)$", result.out, re.M)


def test_operator_rekey_cli_step_by_step(pair: Pair, tmp_path: Path) -> None:
    ref, tes = pair
    cli = Cli(ref, tes, tmp_path)

    def same(
        results: tuple[Result, Result], values: tuple[dict[str, str], dict[str, str]] = ({}, {})
    ) -> None:
        assert_same(fold_result(results[0], values[0]), fold_result(results[1], values[1]))

    rekey = ["operator", "rekey"]
    same(cli.run([*rekey, "-status"]))
    same(cli.run([*rekey, "-status", "-format=json"]))
    same(cli.run([*rekey, "-status", "-verify"]))
    same(cli.run([*rekey, "-target=nope", "-status"]))
    same(cli.run([*rekey, "unused-key"]))  # nothing in progress
    # An invalid configuration: OpenBao's 500 is a 400 in Tessera, with the same text.
    same(cli.run([*rekey, "-init", "-key-shares=2", "-key-threshold=1"]), ({"Code: 500": "Code: 400"}, {}))
    same(cli.run([*rekey, "-init", "-backup"]))
    same(cli.run([*rekey, "-init", "-target=recovery"]))
    same(cli.run([*rekey, "-init", "-key-shares=3", "-key-threshold=2", "-verify"]))
    same(cli.run([*rekey, "-init"]))
    same(cli.run([*rekey, "-status"]))
    nonces = [field_of(r, "Nonce") for r in cli.run([*rekey, "-status"])]
    key = [([f"-nonce={nonces[0]}", ref.keys[i]], [f"-nonce={nonces[1]}", tes.keys[i]]) for i in range(3)]
    same(cli.run(rekey, per_side=key[0]))
    same(cli.run([*rekey, "-non-interactive"]))
    same(cli.run(rekey))  # no key and no terminal
    done = cli.run(rekey, per_side=key[1])
    new = [_keys_of(r) for r in done]
    assert [len(k) for k in new] == [3, 3]
    masks = ({k: f"<KEY{i}>" for i, k in enumerate(new[0])}, {k: f"<KEY{i}>" for i, k in enumerate(new[1])})
    same(done, masks)
    same(cli.run([*rekey, "-status", "-verify"]))
    vnonces = [field_of(r, "Verification Nonce") for r in cli.run([*rekey, "-status", "-verify"])]
    verify = [([f"-nonce={vnonces[0]}", new[0][i]], [f"-nonce={vnonces[1]}", new[1][i]]) for i in range(3)]
    same(cli.run([*rekey, "-verify"], per_side=verify[0]))
    same(cli.run([*rekey, "-verify"], per_side=verify[2]))
    same(cli.run([*rekey, "-status"]))
    same(cli.run([*rekey, "-cancel"]))
    same(cli.run([*rekey, "-cancel", "-verify"]))
    same(cli.run([*rekey, "-backup-retrieve"]))
    same(cli.run([*rekey, "-backup-delete"]))
    same(cli.run([*rekey, "a", "b"]))


def test_operator_rekey_cli_without_verification(pair: Pair, tmp_path: Path) -> None:
    ref, tes = pair
    cli = Cli(ref, tes, tmp_path)
    rekey = ["operator", "rekey"]
    inits = cli.run([*rekey, "-init", "-key-shares=1", "-key-threshold=1"])
    assert_same(*inits)
    nonces = [field_of(r, "Nonce") for r in inits]
    cli.run(rekey, per_side=([f"-nonce={nonces[0]}", ref.keys[0]], [f"-nonce={nonces[1]}", tes.keys[0]]))
    done = cli.run(
        [*rekey, "-format=json"],
        per_side=([f"-nonce={nonces[0]}", ref.keys[1]], [f"-nonce={nonces[1]}", tes.keys[1]]),
    )
    docs = [json.loads(r.out) for r in done]
    new = [d["keys"] for d in docs]
    assert [len(k) for k in new] == [1, 1]
    masks = [{d["keys"][0]: "<HEX>", d["keys_base64"][0]: "<B64>"} for d in docs]
    assert_same(fold_result(done[0], masks[0]), fold_result(done[1], masks[1]))
    for server, keys in zip(pair, new, strict=True):
        assert server.call("PUT", "sys/seal")[0] == 204
        assert server.unseal(keys)["sealed"] is False
