"""Batch-token refusal with ``workers = 2``: a revocation or a cut made through one process is
in force on the other at once (the deny-list and epochs travel through the change feed), with no
sleep in between, and the worker keeps minting tokens at the new epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.workers import Pair, running_pair


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with running_pair(tmp_path_factory.mktemp("workers-batch")) as p:
        yield p


def _batch(p: Pair, where: str, **body: Any) -> str:
    status, out = p.on(
        where, "POST", "auth/token/create", json={"type": "batch", "policies": ["default"], **body}
    )
    assert status == 200, out
    return str(out["auth"]["client_token"])


def _self(p: Pair, where: str, token: str) -> int:
    return p.on(where, "GET", "auth/token/lookup-self", token=token)[0]


@pytest.mark.parametrize(("revoke_on", "minted_on"), [("active", "worker"), ("worker", "active")])
def test_a_revoked_batch_token_is_refused_on_every_process(
    pair: Pair, revoke_on: str, minted_on: str
) -> None:
    for _ in range(3):
        leaked, other = _batch(pair, minted_on), _batch(pair, minted_on)
        assert _self(pair, "worker", leaked) == _self(pair, "active", leaked) == 200
        status, out = pair.on(revoke_on, "POST", "auth/token/revoke-batch", json={"token": leaked})
        assert status == 204, out
        assert _self(pair, "worker", leaked) == _self(pair, "active", leaked) == 403
        assert _self(pair, "worker", other) == _self(pair, "active", other) == 200


def test_a_cut_issuer_reaches_the_worker_and_new_tokens_work_there(pair: Pair) -> None:
    roles = {"orphan": True, "renewable": False, "token_type": "batch", "allowed_policies": ["default"]}
    assert pair.on("active", "POST", "auth/token/roles/cut", json=roles)[0] == 204
    for round_ in range(1, 4):
        old = [_batch(pair, where, ttl="15m") for where in ("worker", "active")]
        status, out = pair.on("active", "POST", "auth/token/create/cut", json={"ttl": "15m"})
        assert status == 200, out
        old_role = out["auth"]["client_token"]
        status, out = pair.on("worker", "POST", "sys/token-issuers/auth/token/create/cut/bump")
        assert status == 200 and out["data"]["epoch"] == round_, out
        assert _self(pair, "worker", old_role) == _self(pair, "active", old_role) == 403
        for token in old:  # another issuer: untouched
            assert _self(pair, "worker", token) == 200
        status, out = pair.on("worker", "POST", "auth/token/create/cut", json={"ttl": "15m"})
        assert status == 200, out
        fresh = out["auth"]["client_token"]
        assert _self(pair, "worker", fresh) == _self(pair, "active", fresh) == 200
