"""Response wrapping inside a real Core: single use under concurrency, rewrap, clean-up."""

from __future__ import annotations

import threading
import time

import orjson

from tessera.framework import ErrorResponse, Operation, PermissionDenied, Response
from tests.tokens.conftest import CoreHarness


def _wrap(h: CoreHarness, payload: dict, ttl: int = 300) -> str:
    resp = h.request(Operation.UPDATE, "sys/wrapping/wrap", data=payload, wrap_ttl=ttl)
    assert resp is not None and resp.wrap_info is not None
    return resp.wrap_info.token


def _race(n: int, fn) -> list[object]:
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_wrapping_token_shape(harness: CoreHarness) -> None:
    token = _wrap(harness, {"a": "b"})
    entry = harness.store.lookup(token)
    assert entry.policies == ["response-wrapping"] and entry.num_uses == 1
    assert entry.orphan and entry.explicit_max_ttl == 300 and entry.renewable is False
    assert entry.path == "sys/wrapping/wrap"
    info = harness.request(Operation.UPDATE, "sys/wrapping/lookup", token="", data={"token": token})
    assert info.data["creation_ttl"] == 300 and info.data["creation_path"] == "sys/wrapping/wrap"


def test_third_party_unwrap_happens_once(harness: CoreHarness) -> None:
    token = _wrap(harness, {"secret": "s3"})
    results = _race(
        8, lambda: harness.request(Operation.UPDATE, "sys/wrapping/unwrap", data={"token": token})
    )
    won = [r for r in results if isinstance(r, Response)]
    assert len(won) == 1 and won[0].raw_body["data"] == {"secret": "s3"}
    assert all(isinstance(r, ErrorResponse) for r in results if not isinstance(r, Response))
    assert harness.store.lookup(token, tainted=True) is None


def test_first_party_unwrap_happens_once(harness: CoreHarness) -> None:
    token = _wrap(harness, {"secret": "s3"})
    results = _race(8, lambda: harness.request(Operation.UPDATE, "sys/wrapping/unwrap", token=token))
    won = [r for r in results if isinstance(r, Response)]
    assert len(won) == 1 and won[0].raw_body["data"] == {"secret": "s3"}
    assert all(isinstance(r, (ErrorResponse, PermissionDenied)) for r in results if r not in won)


def test_single_use_token_serves_one_request(harness: CoreHarness) -> None:
    token = harness.create(policies=["default"], num_uses=1)
    results = _race(8, lambda: harness.request(Operation.READ, "auth/token/lookup-self", token=token))
    assert sum(isinstance(r, Response) for r in results) == 1
    assert all(isinstance(r, PermissionDenied) for r in results if not isinstance(r, Response))


def test_rewrap_keeps_the_payload_and_creation_path(harness: CoreHarness) -> None:
    resp = harness.request(Operation.UPDATE, "auth/token/create", data={"policies": ["p1"]}, wrap_ttl=120)
    first = resp.wrap_info.token
    assert resp.wrap_info.wrapped_accessor
    rewrapped = harness.request(Operation.UPDATE, "sys/wrapping/rewrap", data={"token": first})
    second = rewrapped.wrap_info.token
    assert rewrapped.wrap_info.creation_path == "auth/token/create" and rewrapped.wrap_info.ttl == 120
    assert harness.store.lookup(first, tainted=True) is None
    out = harness.request(Operation.UPDATE, "sys/wrapping/unwrap", data={"token": second})
    created = out.raw_body["auth"]["client_token"]
    assert harness.store.lookup(created).policies == ["default", "p1"]


def test_expired_wrapping_token_loses_its_cubbyhole(harness: CoreHarness) -> None:
    token = _wrap(harness, {"a": 1}, ttl=60)
    entry = harness.store.lookup(token)
    from tessera.tokens.wrapping import cubby_get

    assert orjson.loads(cubby_get(harness.core, entry, "response")["response"])["data"] == {"a": 1}
    harness.store.expire_due(now=time.time() + 120)
    assert harness.store.lookup(token, allow_expired=True, tainted=True) is None
    assert cubby_get(harness.core, entry, "response") is None


def test_a_wrapped_secret_id_names_its_accessor(harness: CoreHarness) -> None:
    """The backend's wrapped_accessor_field (AppRole's secret_id_accessor) becomes wrap_info's accessor."""
    harness.request(Operation.UPDATE, "sys/auth/approle", data={"type": "approle"})
    harness.request(Operation.UPDATE, "auth/approle/role/ci", data={"policies": ["default"]})
    resp = harness.request(Operation.UPDATE, "auth/approle/role/ci/secret-id", wrap_ttl=60)
    token = resp.wrap_info.token
    out = harness.request(Operation.UPDATE, "sys/wrapping/unwrap", data={"token": token})
    assert resp.wrap_info.wrapped_accessor == out.raw_body["data"]["secret_id_accessor"] != ""
    resp = harness.request(
        Operation.UPDATE, "sys/wrapping/wrap", data={"secret_id_accessor": "x"}, wrap_ttl=60
    )
    assert resp.wrap_info.wrapped_accessor == ""  # sys answers name no accessor field
