"""The HTTP envelope layer side by side: the reference OpenBao and Tessera answer the same requests alike.

Covers the surroundings spec §1 and checklist §8 rows 1–27: the raw sys handlers (health, seal-status,
leader, init, unseal, seal), routing and redirects, methods, list flags, bodies and their limits,
token headers, namespaces, PATCH content types, 204 vs 200, injected keys and response headers.
Sealing tests use servers of their own; the others share one pair and mount under unique names.
"""

from __future__ import annotations

import uuid

import pytest

from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, TesseraServer
from tests.secrets.pairs import FORM, MERGE_PATCH, Both, mount_kv, policy_token
from tests.server.pairs import raw, same, unseal_key

# -- raw sys handlers (rows 1-7, 10-13) ------------------------------------------------------------


def test_health_codes_and_overrides(reference: ReferenceServer, tessera: TesseraServer) -> None:
    same(reference, tessera, "GET", "sys/health", token=None)
    for query, status in (
        ("activecode=201", 201),
        ("activecode=299", 299),
        ("sealedcode=200", 200),
        ("standbyok=true", 200),
        ("standbycode=200&uninitcode=200", 200),
    ):
        got, _, _ = same(reference, tessera, "GET", f"sys/health?{query}", token=None)
        assert got == status
    for query in ("activecode=abc", "activecode=", "sealedcode=1.5", "standbyok=maybe"):
        got, body, _ = same(reference, tessera, "GET", f"sys/health?{query}", token=None)
        assert (got, body) == (400, {"errors": []})
    for method in ("PUT", "POST", "DELETE", "PATCH"):
        got, body, _ = same(reference, tessera, method, "sys/health", token=None)
        assert (got, body) == (405, {"errors": []})
    for server in (reference, tessera):
        head = raw(server, "HEAD", "/v1/sys/health?activecode=299")
        assert head.status_code == 299 and head.content == b""


def test_seal_status_leader_init(reference: ReferenceServer, tessera: TesseraServer) -> None:
    _, status, _ = same(reference, tessera, "GET", "sys/seal-status", token=None)
    assert status["type"] == "shamir" and status["sealed"] is False and (status["t"], status["n"]) == (1, 1)
    same(reference, tessera, "GET", "sys/leader", token=None)
    same(reference, tessera, "GET", "sys/init", token=None)
    for body in (
        None,
        {"secret_shares": 1},
        {"secret_shares": 3, "secret_threshold": 1},
        {"secret_shares": 2, "secret_threshold": 3},
        {"secret_shares": 300, "secret_threshold": 2},
        {"secret_shares": 1, "secret_threshold": 1},
        {"secret_shares": "x"},
        {"secret_shares": 1.5},
        {"recovery_shares": 1, "secret_shares": 1, "secret_threshold": 1},
    ):
        got, _, _ = same(reference, tessera, "PUT", "sys/init", token=None, json=body)
        assert got == 400
    same(reference, tessera, "PUT", "sys/init", token=None, data=b"[1]")
    same(reference, tessera, "DELETE", "sys/init", token=None)
    same(reference, tessera, "POST", "sys/seal-status", token=None)


def test_unseal_errors_while_unsealed(reference: ReferenceServer, tessera: TesseraServer) -> None:
    for body in ({"key": "bad"}, {}, {"reset": True}, {"key": 5}, {"reset": "yes"}, {"key": ""}):
        same(reference, tessera, "PUT", "sys/unseal", token=None, json=body)
    # A well-formed key while unsealed is simply the seal status again.
    same(reference, tessera, "PUT", "sys/unseal", token=None, json={"key": "ab" * 32})
    same(reference, tessera, "PUT", "sys/unseal", token=None, data=b"[1]")
    same(reference, tessera, "PUT", "sys/unseal", token=None, data=b"key=abc", headers=FORM)
    same(reference, tessera, "PUT", "sys/unseal", token=None, data=b'{"key":')
    same(reference, tessera, "GET", "sys/unseal", token=None)


def test_seal_and_unseal_cycle(fresh_reference: ReferenceServer, fresh_tessera: TesseraServer) -> None:
    ref, tes = fresh_reference, fresh_tessera
    same(ref, tes, "GET", "sys/seal", values=True)
    # update without sudo is not enough (row 14); an unknown token is a plain 403.
    text = 'path "sys/seal" { capabilities = ["update"] }'
    tokens = (policy_token(ref, "sealer", text), policy_token(tes, "sealer", text))
    got, body, _ = same(ref, tes, "PUT", "sys/seal", tokens=tokens)
    assert (got, body) == (403, {"errors": ["1 error occurred:\n\t* permission denied\n\n"]})
    same(ref, tes, "PUT", "sys/step-down", tokens=tokens)
    got, _, _ = same(ref, tes, "PUT", "sys/seal")
    assert got == 204
    got, health, _ = same(ref, tes, "GET", "sys/health", token=None)
    assert got == 503 and health["sealed"] is True and health["standby"] is True
    _, status, _ = same(ref, tes, "GET", "sys/seal-status", token=None)
    assert status["sealed"] is True and "cluster_name" not in status
    got, body, _ = same(ref, tes, "GET", "secret/data/x")
    assert (got, body) == (503, {"errors": ["Vault is sealed"]})
    same(ref, tes, "GET", "sys/mounts", token=None)
    same(ref, tes, "GET", "sys/mounts", token="bogus")
    got, _, _ = same(ref, tes, "GET", "sys/health?sealedcode=200", token=None)
    assert got == 200
    same(ref, tes, "GET", "sys/leader", token=None)
    # Sealing a sealed server succeeds, even without a valid token.
    same(ref, tes, "PUT", "sys/seal", token="bogus")
    same(ref, tes, "PUT", "sys/unseal", token=None, json={"reset": True})
    same(ref, tes, "PUT", "sys/unseal", token=None, json={"key": "bad"})
    # A key of the right length but wrong: Vault's decryption failure text.
    same(ref, tes, "PUT", "sys/unseal", token=None, json={"key": "ab" * 32})
    for server in (ref, tes):
        status_code, body, _ = call(server.addr, "PUT", "sys/unseal", None, json={"key": unseal_key(server)})
        assert status_code == 200 and body["sealed"] is False, body
    same(ref, tes, "GET", "sys/health", token=None)
    same(ref, tes, "GET", "sys/seal-status", token=None)
    got, _, _ = same(ref, tes, "GET", "sys/mounts/secret")
    assert got == 200


def test_seal_without_token_or_with_bad_body(reference: ReferenceServer, tessera: TesseraServer) -> None:
    same(reference, tessera, "PUT", "sys/seal", token=None)
    same(reference, tessera, "PUT", "sys/seal", token="bogus")
    same(reference, tessera, "PUT", "sys/seal", data=b'{"a":')
    same(reference, tessera, "FOO", "sys/seal")
    same(reference, tessera, "PUT", "sys/step-down", token="bogus")


# -- routing and methods (rows 15-19) ---------------------------------------------------------------


def test_redirects_and_unknown_prefixes(reference: ReferenceServer, tessera: TesseraServer) -> None:
    for path, location in (
        ("/", "/ui/"),
        ("/ui", "/ui/"),
        ("/v1/sys//health", "/v1/sys/health"),
        ("/v1/sys//health?activecode=201", "/v1/sys/health?activecode=201"),
        ("/v1//sys/mounts", "/v1/sys/mounts"),
        ("/v1/sys", "/v1/sys/"),
    ):
        for server in (reference, tessera):
            resp = raw(server, "GET", path)
            assert (resp.status_code, resp.headers.get("Location")) == (307, location), (server, path)
    for path in ("/v2/sys/health", "/foo", "/v1"):
        same(reference, tessera, "GET", path)


def test_route_errors(reference: ReferenceServer, tessera: TesseraServer) -> None:
    same(reference, tessera, "GET", "nonexistentmount/foo")
    same(reference, tessera, "GET", "auth")
    same(reference, tessera, "GET", "")
    same(reference, tessera, "GET", "sys/nonexistent")
    same(reference, tessera, "GET", "sys/health/")
    same(reference, tessera, "DELETE", "sys/key-status")
    same(reference, tessera, "PUT", "sys/mounts")
    for method in ("FOO", "HEAD", "CONNECT"):
        for server in (reference, tessera):
            assert (
                raw(server, method, "/v1/secret/data/x", headers={"X-Vault-Token": "root"}).status_code == 405
            )
    # HEAD is a logical operation: the token is checked first.
    for server in (reference, tessera):
        assert raw(server, "HEAD", "/v1/secret/data/x").status_code == 403
    same(reference, tessera, "FOO", "secret/data/x")
    same(reference, tessera, "OPTIONS", "secret/data/x")
    same(reference, tessera, "OPTIONS", "sys/health")


def test_list_and_scan_flags(reference: ReferenceServer, tessera: TesseraServer) -> None:
    for query in ("list=maybe", "scan=maybe", "list=true&scan=true", "list=1&scan=t"):
        got, body, _ = same(reference, tessera, "GET", f"sys/policies/acl?{query}")
        assert (got, body) == (400, {"errors": []})
    # An empty flag is no flag: a plain read.
    same(reference, tessera, "GET", "sys/mounts/secret?list=")
    same(reference, tessera, "GET", "sys/mounts/secret?list=false")
    same(reference, tessera, "GET", "sys/mounts/secret?list=true")


# -- bodies (rows 20-24) ----------------------------------------------------------------------------


@pytest.fixture
def kv1(reference: ReferenceServer, tessera: TesseraServer) -> Both:
    name = "hkv" + uuid.uuid4().hex[:8]
    mount_kv(reference, name, None)
    mount_kv(tessera, name, None)
    return Both(reference, tessera, name)


def test_form_and_json_bodies(kv1: Both) -> None:
    m = kv1.m
    kv1.same("POST", f"{m}/form", data=b"a=1&b=2&b=3", headers=FORM)
    kv1.same("GET", f"{m}/form")
    kv1.same("POST", f"{m}/null", data=b"null", headers=FORM)
    kv1.same("GET", f"{m}/null")
    kv1.same("POST", f"{m}/ws", data=b'   \n {"x": 1}', headers=FORM)
    kv1.same("GET", f"{m}/ws")
    for body in (b'{"a":', b"[1,2]", b'"text"', b"12", b"true", b"{bad}", b'{"a":1}x'):
        kv1.same("POST", f"{m}/bad", data=body, headers=FORM)
        kv1.same("POST", f"{m}/bad", data=body)
    kv1.same("POST", f"{m}/empty", data=b"")
    kv1.same("POST", f"{m}/jnull", data=b"null")
    kv1.same("POST", f"{m}/dir/", json={"a": 1})
    kv1.same("PUT", "nonexistentmount/dir/", json={"a": 1})
    kv1.same("DELETE", f"{m}/form", data=b'{"ignored": true}')


def test_body_limits(kv1: Both) -> None:
    m = kv1.m
    many = {f"k{i}": f"v{i}" for i in range(1200)}
    kv1.same("POST", f"{m}/many", json=many)
    kv1.same("POST", f"{m}/fine", json={f"k{i}": i for i in range(900)})
    # The limit is 1000 strings, keys and values alike: 500 pairs pass, 501 do not.
    for pairs in (500, 501):
        kv1.same("POST", "sys/tools/hash", json={f"k{i}": f"v{i}" for i in range(pairs)}, values=False)
    nested = {"a": [{"b": ["x"] * 300}] * 3}
    kv1.same("POST", "sys/tools/hash", json=nested, values=False)
    big = b'{"a":"' + b"x" * (33 * 1024 * 1024) + b'"}'
    kv1.same("POST", f"{m}/big", data=big)


# -- headers (rows 25-27) ---------------------------------------------------------------------------


def test_token_headers(reference: ReferenceServer, tessera: TesseraServer) -> None:
    same(reference, tessera, "GET", "sys/mounts/secret", token=None, headers={"Authorization": "Bearer root"})
    for auth in ("Basic root", "bearer root", "Bearer"):
        same(reference, tessera, "GET", "sys/mounts/secret", token=None, headers={"Authorization": auth})
    # X-Vault-Token wins over Authorization.
    same(
        reference, tessera, "GET", "sys/mounts/secret", token="root", headers={"Authorization": "Bearer nope"}
    )
    same(
        reference, tessera, "GET", "sys/mounts/secret", token="nope", headers={"Authorization": "Bearer root"}
    )
    # Unauthenticated paths ignore a bogus token.
    same(reference, tessera, "GET", "sys/seal-status", token="bogus")
    same(reference, tessera, "GET", "sys/health", token="bogus")


def test_namespace_header(reference: ReferenceServer, tessera: TesseraServer) -> None:
    for namespace in ("nons", "root", "root/", "/"):
        same(reference, tessera, "GET", "sys/mounts/secret", headers={"X-Vault-Namespace": namespace})
    for server in (reference, tessera):
        _, _, headers = call(
            server.addr, "GET", "sys/mounts/secret", "root", headers={"X-Vault-Namespace": "nons"}
        )
        assert headers.get("X-Vault-Namespace") == "nons"


def test_patch_needs_merge_patch(kv1: Both) -> None:
    m = kv1.m
    kv1.same("PATCH", f"{m}/p", data=b"{}", headers=FORM)
    kv1.same("PATCH", f"{m}/p", data=b"{}", headers={"Content-Type": "application/json"})
    kv1.same("PATCH", f"{m}/p", data=b"{}")
    kv1.same("PATCH", "secret/data/p", data=b'{"data":{"a":1}}', headers=MERGE_PATCH)


# -- envelope (rows 28-29 and §1.5) -----------------------------------------------------------------


def test_empty_results_and_warnings(reference: ReferenceServer, tessera: TesseraServer) -> None:
    name = "env" + uuid.uuid4().hex[:8]
    # Unknown parameters on an endpoint that answers nothing: still 204, no warning.
    got, body, _ = same(reference, tessera, "POST", f"sys/mounts/{name}", json={"type": "kv", "bogus": 1})
    assert (got, body) == (204, None)
    got, _, _ = same(reference, tessera, "POST", f"sys/mounts/{name}/tune", json={"bogus": 1})
    assert got == 204
    # ... and a warning when the endpoint answers something.
    _, body, _ = same(reference, tessera, "POST", "sys/tools/hash", json={"input": "aGk=", "bogus": 1})
    assert body["warnings"] == ["Endpoint ignored these unrecognized parameters: [bogus]"]
    got, body, _ = same(reference, tessera, "DELETE", f"sys/mounts/{name}")
    assert (got, body) == (204, None)
    got, body, _ = same(reference, tessera, "GET", "sys/remount/status/nonexistent")
    assert (got, body) == (404, {"errors": []})


def test_injected_keys(fresh_reference: ReferenceServer, fresh_tessera: TesseraServer) -> None:
    """On servers of its own: whole listings are compared, which other tests' mounts would skew."""
    reference, tessera = fresh_reference, fresh_tessera
    for path in ("sys/mounts/secret", "sys/auth", "sys/key-status", "sys/mounts/secret/tune"):
        _, body, tes_body = same(reference, tessera, "GET", path, values=False)
        for key in body["data"]:
            assert key in body and key in tes_body, (path, key)
    # Not every sys path injects: rotate/config and remount/status answer a plain envelope.
    _, body, _ = same(reference, tessera, "GET", "sys/rotate/config")
    assert "enabled" not in body
    _, body, _ = same(reference, tessera, "GET", "sys/internal/ui/mounts/secret")
    assert "path" not in body


def test_response_headers(reference: ReferenceServer, tessera: TesseraServer) -> None:
    for path in ("sys/mounts/secret", "sys/health", "nonexistentmount/x"):
        for server in (reference, tessera):
            _, _, headers = call(server.addr, "GET", path, "root")
            assert headers["Cache-Control"] == "no-store", (server, path)
            assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
            assert headers["Content-Type"] == "application/json"


def test_help(reference: ReferenceServer, tessera: TesseraServer) -> None:
    for path in ("sys/mounts?help=1", "sys/mounts?help=0", "secret/data/x?help=true"):
        rs, _, _ = call(reference.addr, "GET", path, "root")
        ts, tb, _ = call(tessera.addr, "GET", path, "root")
        assert rs == ts == 200 and isinstance(tb.get("help"), str) and "request_id" not in tb, (path, tb)
    same(reference, tessera, "GET", "sys/mounts?help=1", token=None)
    same(reference, tessera, "GET", "nonexistentmount/x?help=1")
