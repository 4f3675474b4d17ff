"""KV and cubbyhole behaviour of a running Tessera that a side-by-side comparison cannot show.

Concurrency (no lost versions, one winner of a cas race), TTL hints that follow a tune, and the
v1 → v2 upgrade surviving restarts of a server on SQLite storage.
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.servers import TesseraServer, free_port, hcl_config

GO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")


def _mount(server: TesseraServer, version: str | None) -> str:
    name = "kv" + uuid.uuid4().hex[:8]
    body: dict[str, Any] = {"type": "kv"}
    if version:
        body["options"] = {"version": version}
    status, answer, _ = server.call("POST", f"sys/mounts/{name}", json=body)
    assert status == 204, answer
    return name


def test_parallel_writes_get_distinct_versions(tessera: TesseraServer) -> None:
    m = _mount(tessera, "2")
    tessera.call("PUT", f"{m}/config", json={"max_versions": 50})

    def write(i: int) -> int:
        status, body, _ = tessera.call("PUT", f"{m}/data/hot", json={"data": {"i": i}})
        assert status == 200, body
        assert GO_TIME.match(body["data"]["created_time"])
        return int(body["data"]["version"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        versions = sorted(pool.map(write, range(40)))
    assert versions == list(range(1, 41))
    status, body, _ = tessera.call("GET", f"{m}/metadata/hot")
    assert status == 200 and body["data"]["current_version"] == 40
    assert sorted(body["data"]["versions"], key=int) == [str(n) for n in range(1, 41)]


def test_cas_zero_race_has_one_winner(tessera: TesseraServer) -> None:
    m = _mount(tessera, "2")

    def create(i: int) -> int:
        status, _, _ = tessera.call("PUT", f"{m}/data/once", json={"data": {"i": i}, "options": {"cas": 0}})
        return status

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(create, range(24)))
    assert statuses.count(200) == 1
    assert statuses.count(400) == 23


def test_pruned_and_destroyed_versions_do_not_come_back(tessera: TesseraServer) -> None:
    m = _mount(tessera, "2")
    tessera.call("PUT", f"{m}/metadata/k", json={"max_versions": 2})
    for i in range(5):
        tessera.call("PUT", f"{m}/data/k", json={"data": {"i": i}})
    tessera.call("PUT", f"{m}/destroy/k", json={"versions": [5]})
    for version in ("1", "2", "3"):
        status, body, _ = tessera.call("GET", f"{m}/data/k", params={"version": version})
        assert (status, body) == (404, {"errors": []})
    status, body, _ = tessera.call("GET", f"{m}/data/k", params={"version": "5"})
    assert status == 404 and body["data"]["data"] is None and body["data"]["metadata"]["destroyed"] is True
    status, body, _ = tessera.call("GET", f"{m}/data/k", params={"version": "4"})
    assert status == 200 and body["data"]["data"] == {"i": 3}


def test_v1_ttl_hint_and_mount_default(tessera: TesseraServer) -> None:
    m = _mount(tessera, None)
    tessera.call("PUT", f"{m}/plain", json={"a": 1})
    tessera.call("PUT", f"{m}/hinted", json={"a": 1, "ttl": "10m"})
    assert tessera.call("GET", f"{m}/plain")[1]["lease_duration"] == 768 * 3600
    assert tessera.call("GET", f"{m}/hinted")[1]["lease_duration"] == 600
    status, body, _ = tessera.call("POST", f"sys/mounts/{m}/tune", json={"default_lease_ttl": "1h"})
    assert status in (200, 204), body
    status, body, _ = tessera.call("GET", f"{m}/plain")
    assert status == 200 and body["lease_duration"] == 3600 and body["lease_id"] == ""
    assert tessera.call("GET", f"{m}/hinted")[1]["lease_duration"] == 600


def test_cubbyhole_is_private_and_batch_tokens_have_none(tessera: TesseraServer) -> None:
    def token(**body: Any) -> str:
        status, answer, _ = tessera.call("POST", "auth/token/create", json=body)
        assert status == 200, answer
        return str(answer["auth"]["client_token"])

    alice, bob, batch = (
        token(policies=["default"]),
        token(policies=["default"]),
        token(type="batch", policies=["default"]),
    )
    assert tessera.call("PUT", "cubbyhole/note", token=alice, json={"v": "a"})[0] == 204
    assert tessera.call("GET", "cubbyhole/note", token=alice)[1]["data"] == {"v": "a"}
    assert tessera.call("GET", "cubbyhole/note", token=bob)[:2] == (404, {"errors": []})
    assert tessera.call("LIST", "cubbyhole/", token=bob)[:2] == (404, {"errors": []})
    status, body, _ = tessera.call("GET", "cubbyhole/note", token=batch)
    assert (status, body) == (
        400,
        {"errors": ["cubbyhole operations are only supported by 'service' type tokens"]},
    )


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Any:
    port = free_port()
    config = tmp_path / "tessera.hcl"
    config.write_text(hcl_config(port, storage="sqlite", storage_options={"path": str(tmp_path / "t.db")}))
    server = TesseraServer(config=config).start()
    try:
        server.init()
        server.unseal()
        yield server
    finally:
        server.cleanup()


def _unsealed_restart(server: TesseraServer) -> None:
    server.restart()
    server.unseal()


def test_upgrade_to_v2_survives_restarts(sqlite_server: TesseraServer) -> None:
    server = sqlite_server
    m = _mount(server, None)
    assert server.call("PUT", f"{m}/a", json={"x": 1})[0] == 204
    assert server.call("PUT", f"{m}/d/b", json={"y": "2"})[0] == 204
    status, body, _ = server.call("POST", f"sys/mounts/{m}/tune", json={"options": {"version": "2"}})
    assert status in (200, 204), body
    status, body, _ = server.call("GET", f"{m}/data/a")
    assert status == 200 and body["data"]["data"] == {"x": 1}
    assert body["data"]["metadata"]["version"] == 1
    assert server.call("PUT", f"{m}/data/a", json={"data": {"x": 2}, "options": {"cas": 1}})[0] == 200

    _unsealed_restart(server)
    status, body, _ = server.call("GET", f"{m}/metadata/a")
    assert status == 200 and body["data"]["current_version"] == 2
    assert server.call("GET", f"{m}/data/d/b")[1]["data"]["data"] == {"y": "2"}
    assert server.call("LIST", f"{m}/metadata/")[1]["data"]["keys"] == ["a", "d/"]
    # The old v1 paths are gone: the engine answers with its invalid-path warning.
    status, body, _ = server.call("GET", f"{m}/a")
    assert status == 404 and "Invalid path for a versioned K/V secrets engine" in body["warnings"][0]

    _unsealed_restart(server)
    status, body, _ = server.call("GET", f"{m}/data/a", params={"version": "1"})
    assert status == 200 and body["data"]["data"] == {"x": 1}
