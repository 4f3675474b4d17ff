"""A worker process answers as the reference does: the same requests to OpenBao and to a Tessera
worker (``workers = 2``), whether the worker serves them itself or hands them to the active process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.helpers.servers import ReferenceServer
from tests.helpers.workers import Pair, running_pair
from tests.secrets.pairs import Both, mount_kv


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with running_pair(tmp_path_factory.mktemp("workers-compat")) as p:
        yield p


@pytest.fixture
def both(reference: ReferenceServer, workers: Pair) -> Both:
    name = "kv" + uuid.uuid4().hex[:8]
    mount_kv(reference, name, None)
    mount_kv(workers.server, name, None)  # on the active process; the worker follows
    pair = Both(reference, SimpleNamespace(addr=workers.worker), name)  # type: ignore[arg-type]
    pair.tokens = ("root", workers.root)  # type: ignore[attr-defined]
    return pair


def _same(both: Both, method: str, path: str, **kw: Any) -> Any:
    return both.same(method, path, tokens=both.tokens, **kw)  # type: ignore[attr-defined]


def test_kv_through_a_worker_answers_as_the_reference(both: Both) -> None:
    m = both.m
    _same(both, "PUT", f"{m}/a", json={"x": 1, "nested": {"k": [1, "2"]}})  # handed to the active
    _same(both, "GET", f"{m}/a")  # served by the worker, which saw the write
    _same(both, "LIST", f"{m}/")
    _same(both, "GET", f"{m}/missing")
    _same(both, "DELETE", f"{m}/a")
    _same(both, "GET", f"{m}/a")


def test_token_requests_through_a_worker_answer_as_the_reference(both: Both) -> None:
    _same(both, "POST", "auth/token/create", json={"type": "batch", "policies": ["default"]}, values=False)
    _same(both, "POST", "auth/token/create", json={"type": "batch", "ttl": "nonsense"})
    _same(both, "POST", "auth/token/create", json={"type": "batch"})  # batch tokens cannot be root
    _same(both, "POST", "auth/token/create", json={"policies": ["default"]}, values=False)  # handed over
    (rs, _), (ts, _) = both.send("GET", "auth/token/lookup-self", tokens=("hvs.bogus", "hvs.bogus"))
    assert rs == ts == 403
    _same(both, "GET", "sys/mounts/nowhere")  # sys/ is always the active process's
