"""The test helpers themselves, against real servers: if these fail, every other test's verdict is suspect."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest

from tests.helpers.bytecode import SOURCES, compile_sources
from tests.helpers.compat import (
    Drift,
    assert_same_shape,
    compare,
    normalize,
    shape_differences,
)
from tests.helpers.http import api_url, call
from tests.helpers.servers import (
    ReferenceServer,
    ServerStartError,
    TesseraServer,
    free_port,
    hcl_config,
    listener_of_config,
)

# -- pure helpers ---------------------------------------------------------------------------------


def test_free_port_is_bindable() -> None:
    port = free_port(span=2)
    for p in (port, port + 1):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", p))


def test_api_url() -> None:
    assert api_url("http://h:1", "sys/health") == "http://h:1/v1/sys/health"
    assert api_url("http://h:1/", "/v1/sys/health") == "http://h:1/v1/sys/health"
    assert api_url("http://h:1", "/ui/") == "http://h:1/ui/"


def test_hcl_config_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "c.hcl"
    path.write_text(hcl_config(23456))
    assert listener_of_config(path) == ("127.0.0.1:23456", False)
    path.write_text(hcl_config(23457, tls_cert_file="/c.pem", tls_key_file="/k.pem"))
    assert listener_of_config(path) == ("127.0.0.1:23457", True)


def test_normalize_placeholders() -> None:
    body = {
        "request_id": "d7aa1b9d-cd16-4d90-3ff4-ad2864c84c2d",
        "auth": {
            "client_token": "hvs.CAESIJ0aaaaaaaaaaaaaaaaa",
            "accessor": "Zx3bWz5T1wPg6YqkXJ6Vd2pK",
            "lease_duration": 2764799,
        },
        "data": {
            "id": "s.1234567890abcdefghijklmn",
            "batch": "hvb.AAAAAQKoDq5Ns0J1RAk4WKdaJQVnkZ4s7q",
            "old_batch": "b.AAAAAQKoDq5Ns0J1RAk4WKdaJQVnkZ4s7q",
            "creation_time": 1795423759,
            "expire_time": "2026-12-25T08:49:19.123456789Z",
            "ttl": 59,
            "mount": "kv_4d5e6f7a",
            "mount_accessor": "auth_token_1a2b3c4d",
            "entity_id": "03128de4-cf78-8325-4172-fdaad528d188",
            "cluster_name": "vault-cluster-0bf6b786",
            "name": "s.short",
            "count": 3,
        },
    }
    n = normalize(body)
    assert n["request_id"] == "<request_id>"
    assert n["auth"]["client_token"] == "<token>"
    assert n["auth"]["accessor"] == "<accessor>"
    assert n["auth"]["lease_duration"] == 2764800  # within the drift
    assert n["data"]["id"] == n["data"]["batch"] == n["data"]["old_batch"] == "<token>"
    assert n["data"]["creation_time"] == n["data"]["expire_time"] == "<time>"
    assert n["data"]["ttl"] == Drift(60)
    assert n["data"]["ttl"] != 70
    assert n["data"]["mount_accessor"] == "<accessor>"
    assert n["data"]["entity_id"] == "<uuid>"
    assert n["data"]["cluster_name"] == "<cluster_name>"
    assert n["data"]["name"] == "s.short"  # too short to be a token
    assert n["data"]["mount"] == "kv_4d5e6f7a"
    assert n["data"]["count"] == 3
    assert normalize({"ttl": 59}, drift=-1) == {"ttl": 59}


def test_shape_comparison() -> None:
    assert_same_shape(
        {"a": 1, "b": [{"c": "x"}], "mount_type": "kv"}, {"a": 2, "b": [{"c": "y"}, {"c": "z"}]}
    )
    diffs = shape_differences(
        {"a": 1, "b": None, "c": {"d": 1.5}}, {"a": "1", "b": {}, "e": 1, "c": {"d": 1}}
    )
    assert any("$.a: number != str" in d for d in diffs)
    assert any("$.b: null != object" in d for d in diffs)
    assert "$: keys differ: only in first [], only in second ['e']" in diffs
    assert not any(d.startswith("$.c.d") for d in diffs)  # 1.5 and 1: both JSON numbers
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_same_shape([True], [1])


# -- the reference server and the HTTP client ------------------------------------------------------


def test_reference_answers(reference: ReferenceServer) -> None:
    assert reference.addr.startswith("http://127.0.0.1:")
    assert reference.root_token == "root"
    status, body, headers = call(reference.addr, "GET", "sys/health")
    assert status == 200 and body["initialized"] and not body["sealed"]
    assert headers["Content-Type"].startswith("application/json")


def test_call_list_method_and_errors(reference: ReferenceServer) -> None:
    status, body, _ = call(reference.addr, "LIST", "sys/policies/acl", token="root")
    assert status == 200 and "root" in body["data"]["keys"]
    assert (
        call(reference.addr, "GET", "sys/policies/acl", token="root", params={"list": "true"})[1]["data"]
        == body["data"]
    )
    status, body, _ = call(reference.addr, "GET", "nonexistentmount/foo", token="root")
    assert status == 404 and "no handler for route" in body["errors"][0]
    assert call(reference.addr, "GET", "sys/mounts")[0:2] == (403, {"errors": ["permission denied"]})
    # 204: no body.
    path = f"sys/policies/acl/helpers-{free_port()}"
    assert call(
        reference.addr, "PUT", path, token="root", json={"policy": 'path "x" { capabilities = ["read"] }'}
    )[:2] == (204, None)
    assert reference.call("DELETE", path)[0] == 204


def test_fresh_reference_is_its_own(reference: ReferenceServer, fresh_reference: ReferenceServer) -> None:
    assert fresh_reference.addr != reference.addr
    policy = {"policy": 'path "x" { capabilities = ["read"] }'}
    assert fresh_reference.call("PUT", "sys/policies/acl/only-fresh", json=policy)[0] == 204
    assert fresh_reference.call("GET", "sys/policies/acl/only-fresh")[0] == 200
    assert reference.call("GET", "sys/policies/acl/only-fresh")[0] == 404


def test_reference_config_mode_init_unseal_restart(tmp_path: Path) -> None:
    config = tmp_path / "bao.hcl"
    config.write_text(hcl_config(free_port(span=2)))
    with ReferenceServer(config=config) as server:
        assert server.root_token is None
        assert server.call("GET", "sys/health")[0] == 501  # not initialised
        result = server.init(5, 3)
        assert len(server.keys) == 5 and server.root_token == result["root_token"]
        assert server.seal_status()["sealed"] is True
        status = server.unseal(server.keys[:2])
        assert status["sealed"] is True and status["progress"] == 2
        assert server.unseal()["sealed"] is False
        assert server.call("GET", "auth/token/lookup-self")[1]["data"]["policies"] == ["root"]
        server.restart()  # inmem storage: a new, uninitialised server on the same address
        assert server.call("GET", "sys/init")[1] == {"initialized": False}
        assert server.terminate() is not None
        assert not server.running()


def test_kill_and_restart_keep_the_address(fresh_reference: ReferenceServer) -> None:
    addr = fresh_reference.addr
    fresh_reference.kill()
    assert not fresh_reference.running()
    with pytest.raises(Exception, match=r"(?i)connection"):
        call(addr, "GET", "sys/health", timeout=2)
    fresh_reference.restart()
    assert fresh_reference.addr == addr
    assert fresh_reference.call("GET", "sys/health")[0] == 200


def test_startup_failure_shows_output(tmp_path: Path) -> None:
    config = tmp_path / "bad.hcl"
    config.write_text(hcl_config(free_port(span=2), storage="no-such-storage"))
    server = ReferenceServer(config=config, startup_timeout=20)
    with pytest.raises(ServerStartError, match=r"(?s)exited with code.*no-such-storage"):
        server.start()
    assert not server.running()
    server.cleanup()


def test_compare_two_references(reference: ReferenceServer, fresh_reference: ReferenceServer) -> None:
    ref, other = compare(
        reference.addr, fresh_reference.addr, "GET", "sys/mounts/secret/tune", same_values=True
    )
    assert ref["data"]["default_lease_ttl"] == other["data"]["default_lease_ttl"]
    compare(reference.addr, fresh_reference.addr, "GET", "nonexistentmount/x")
    compare(reference.addr, fresh_reference.addr, "GET", "auth/token/lookup-self", same_values=True)
    with pytest.raises(AssertionError, match="status"):
        compare(
            reference.addr,
            fresh_reference.addr,
            "GET",
            "sys/mounts",
            reference_token="root",
            tessera_token="bad",
        )


# -- Tessera --------------------------------------------------------------------------------------


def test_tessera_answers(tessera: TesseraServer) -> None:
    status, body, _ = tessera.call("GET", "sys/health")
    assert status == 200 and body["initialized"] and not body["sealed"]
    assert tessera.call("GET", "auth/token/lookup-self")[1]["data"]["id"] == "root"


def test_tessera_terminate_kill_restart(fresh_tessera: TesseraServer) -> None:
    assert fresh_tessera.call("GET", "sys/health")[0] == 200
    assert fresh_tessera.terminate() == 0
    fresh_tessera.restart()
    assert fresh_tessera.call("GET", "sys/health")[0] == 200
    fresh_tessera.kill()
    assert not fresh_tessera.running()
    fresh_tessera.restart(graceful=False)
    assert fresh_tessera.call("GET", "sys/health")[0] == 200


def test_tessera_config_mode_init_unseal(tmp_path: Path) -> None:
    config = tmp_path / "tessera.hcl"
    config.write_text(hcl_config(free_port()))
    with TesseraServer(config=config) as server:
        assert server.call("GET", "sys/init")[1] == {"initialized": False}
        server.init(5, 3)
        assert len(server.keys) == 5
        assert server.unseal()["sealed"] is False
        assert server.call("GET", "auth/token/lookup-self")[1]["data"]["policies"] == ["root"]


def test_compare_reference_and_tessera(reference: ReferenceServer, tessera: TesseraServer) -> None:
    compare(reference.addr, tessera.addr, "GET", "auth/token/lookup-self")
    compare(reference.addr, tessera.addr, "GET", "nonexistentmount/foo")
    compare(reference.addr, tessera.addr, "GET", "sys/init", same_values=True)


# -- bytecode caches ------------------------------------------------------------------------------


def test_compile_sources_writes_the_caches_even_when_processes_may_not(tmp_path: Path) -> None:
    """The caches appear although this run (like CI) may have PYTHONDONTWRITEBYTECODE set."""
    module = tmp_path / "pkg" / "mod.py"
    module.parent.mkdir()
    module.write_text("VALUE = 1\n")
    assert compile_sources(tmp_path)
    assert Path(importlib.util.cache_from_source(str(module))).is_file()


def test_compile_sources_says_when_a_file_does_not_compile(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def (:\n")
    assert not compile_sources(tmp_path)


def test_the_session_compiled_tesseras_sources() -> None:
    """conftest compiled them before any server started: the server's own modules have caches."""
    app = SOURCES / "server" / "app.py"
    assert Path(importlib.util.cache_from_source(str(app))).is_file()
