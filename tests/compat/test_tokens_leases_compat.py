"""Tokens and leased secrets side by side (spec tokens.md §3.4, §4; checklist 61-64).

Dynamic PostgreSQL credentials on both servers: the last use of a limited token cannot carry a
leased secret away, a batch token caps its leases at its own expiry, and a non-orphan batch
token's leases die with its parent.
"""

from __future__ import annotations

import time

import pytest

from tests.compat.token_pairs import Duo, Pair
from tests.helpers.postgres import Postgres
from tests.helpers.servers import ReferenceServer, TesseraServer
from tests.leases.test_database_leases import setup_database

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def db(reference: ReferenceServer, tessera: TesseraServer, postgres: Postgres) -> tuple[Duo, Pair]:
    duo = Duo(reference, tessera)
    paths = (setup_database(reference.addr, postgres), setup_database(tessera.addr, postgres))
    return duo, paths


def _read(duo: Duo, paths: Pair, token: Pair) -> tuple[tuple[int, dict], tuple[int, dict]]:
    out = []
    for i, server in enumerate(duo.servers):
        status, body, _ = server.call("GET", paths[i], token=token[i])
        out.append((status, body))
    return out[0], out[1]


def test_last_use_cannot_return_a_leased_secret(db: tuple[Duo, Pair]) -> None:
    duo, paths = db
    tok = duo.create({"policies": ["dbcreds"], "num_uses": 2})
    duo.same("GET", "auth/token/lookup-self", token=tok)
    (rs, rb), (ts, tb) = _read(duo, paths, tok)
    assert (rs, ts) == (400, 400)
    assert (
        rb["errors"]
        == tb["errors"]
        == [
            "Secret cannot be returned; token had one use left, so leased credentials were immediately revoked."
        ]
    )
    duo.same("GET", "auth/token/lookup-self", token=tok)


def test_batch_token_caps_its_leases(db: tuple[Duo, Pair]) -> None:
    duo, paths = db
    batch = duo.create({"policies": ["dbcreds"], "type": "batch", "ttl": "30m"})
    (rs, rb), (ts, tb) = _read(duo, paths, batch)
    assert (rs, ts) == (200, 200)
    assert 1795 <= rb["lease_duration"] <= 1800 and 1795 <= tb["lease_duration"] <= 1800


def test_non_orphan_batch_leases_die_with_the_parent(db: tuple[Duo, Pair]) -> None:
    duo, paths = db
    parent = duo.create({"policies": ["root"], "ttl": "1h"})
    batch = duo.create({"policies": ["dbcreds"], "type": "batch"}, token=parent)
    (rs, rb), (ts, tb) = _read(duo, paths, batch)
    assert (rs, ts) == (200, 200)
    leases = (rb["lease_id"], tb["lease_id"])
    (rs, _), (ts, _) = duo.send("PUT", "sys/leases/lookup", json=lambda i: {"lease_id": leases[i]})
    assert (rs, ts) == (200, 200)
    duo.same("POST", "auth/token/revoke", json=lambda i: {"token": parent[i]})
    # The reference finishes lease revocation in the background; wait for it to catch up.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        (rs, _), _ = duo.send("PUT", "sys/leases/lookup", json=lambda i: {"lease_id": leases[i]})
        if rs == 400:
            break
        time.sleep(0.2)
    duo.same("PUT", "sys/leases/lookup", json=lambda i: {"lease_id": leases[i]})
    duo.same("GET", "auth/token/lookup-self", token=batch)
