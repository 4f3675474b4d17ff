"""The cubbyhole side by side: same requests, same answers on the reference OpenBao and on Tessera.

Tokens differ per server, so each step names the token to use on each side.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.helpers.compat import assert_same_shape, normalize
from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, TesseraServer

WARNING = (
    "Reading from 'cubbyhole/response' is deprecated. Please use sys/wrapping/unwrap to unwrap "
    "responses, as it provides additional security checks and other benefits."
)


def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k != "mount_type"}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _token(server: ReferenceServer | TesseraServer, **body: Any) -> str:
    status, answer, _ = server.call("POST", "auth/token/create", json=body)
    assert status == 200, answer
    return str(answer["auth"]["client_token"])


def _decoded(body: Any) -> Any:
    """A wrapped response is stored as JSON text: compare the document, not its bytes."""
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        text = body["data"].get("response")
        if isinstance(text, str) and text.startswith("{"):
            return {**body, "data": {**body["data"], "response": json.loads(text)}}
    return body


class Pair:
    """The two servers and, per name, the matching token on each."""

    def __init__(self, reference: ReferenceServer, tessera: TesseraServer) -> None:
        self.ref = reference
        self.tes = tessera
        self.tokens: dict[str, tuple[str, str]] = {"root": ("root", "root")}

    def add_token(self, name: str, **body: Any) -> None:
        self.tokens[name] = (_token(self.ref, **body), _token(self.tes, **body))

    def same(self, method: str, path: str, *, who: str = "root", **kwargs: Any) -> Any:
        ref_tok, tes_tok = self.tokens[who]
        rs, rb, _ = call(self.ref.addr, method, path, ref_tok, **kwargs)
        ts, tb, _ = call(self.tes.addr, method, path, tes_tok, **kwargs)
        where = f"{who}: {method} {path}"
        assert rs == ts, f"{where}: status reference {rs}, tessera {ts}\n  ref: {rb!r}\n  tes: {tb!r}"
        assert_same_shape(rb, tb)
        nr, nt = _strip(normalize(_decoded(rb))), _strip(normalize(_decoded(tb)))
        assert nr == nt, f"{where}: values differ\n  ref: {nr!r}\n  tes: {nt!r}"
        return rb


def test_cubbyhole_own_storage(reference: ReferenceServer, tessera: TesseraServer) -> None:
    pair = Pair(reference, tessera)
    pair.add_token("alice", policies=["default"])
    pair.add_token("bob", policies=["default"])
    key = "c" + uuid.uuid4().hex[:8]
    pair.same("PUT", f"cubbyhole/{key}", who="alice", json={"secret": "a", "n": 1})
    pair.same("PUT", f"cubbyhole/{key}/nested", who="alice", json={"deep": True})
    pair.same("GET", f"cubbyhole/{key}", who="alice")
    pair.same("GET", f"cubbyhole/{key}", who="alice", params={"unknown": "1"})
    pair.same("PUT", f"cubbyhole/{key}/extra", who="alice", json={"unknown": "is data here"})
    pair.same("LIST", "cubbyhole/", who="alice")
    pair.same("LIST", f"cubbyhole/{key}", who="alice")
    pair.same("GET", "cubbyhole", who="alice", params={"list": "true"})
    # Another token, even root, sees nothing of alice's cubbyhole.
    pair.same("GET", f"cubbyhole/{key}", who="bob")
    pair.same("LIST", "cubbyhole/", who="bob")
    pair.same("GET", f"cubbyhole/{key}", who="root")
    pair.same("PUT", f"cubbyhole/{key}", who="bob", json={"secret": "b"})
    pair.same("GET", f"cubbyhole/{key}", who="bob")
    pair.same("GET", f"cubbyhole/{key}", who="alice")
    pair.same("POST", f"cubbyhole/{key}", who="alice", json={"secret": "a2"})
    pair.same("GET", f"cubbyhole/{key}", who="alice")
    pair.same("DELETE", f"cubbyhole/{key}", who="alice")
    pair.same("DELETE", f"cubbyhole/{key}", who="alice")
    pair.same("GET", f"cubbyhole/{key}", who="alice")
    pair.same("GET", f"cubbyhole/{key}", who="bob")


def test_cubbyhole_errors(reference: ReferenceServer, tessera: TesseraServer) -> None:
    pair = Pair(reference, tessera)
    pair.add_token("svc", policies=["default"])
    pair.same("PUT", "cubbyhole/empty", who="svc", json={})
    pair.same("PUT", "cubbyhole/nobody", who="svc")
    pair.same("PUT", "cubbyhole/folder/", who="svc", json={"a": 1})
    pair.same("PUT", "cubbyhole/", who="svc", json={"a": 1})
    pair.same("GET", "cubbyhole/", who="svc")
    pair.same("DELETE", "cubbyhole/", who="svc")
    pair.same("LIST", "cubbyhole/", who="svc")
    pair.same("GET", "cubbyhole/missing", who="svc")


def test_cubbyhole_refuses_batch_tokens(reference: ReferenceServer, tessera: TesseraServer) -> None:
    pair = Pair(reference, tessera)
    pair.add_token("batch", type="batch", policies=["default"])
    pair.same("PUT", "cubbyhole/x", who="batch", json={"a": 1})
    pair.same("GET", "cubbyhole/x", who="batch")
    pair.same("LIST", "cubbyhole/", who="batch")
    pair.same("DELETE", "cubbyhole/x", who="batch")


def test_cubbyhole_gone_after_revocation(reference: ReferenceServer, tessera: TesseraServer) -> None:
    pair = Pair(reference, tessera)
    pair.add_token("short", policies=["default"])
    pair.same("PUT", "cubbyhole/k", who="short", json={"a": 1})
    ref_tok, tes_tok = pair.tokens["short"]
    for server, token in ((reference, ref_tok), (tessera, tes_tok)):
        status, body, _ = server.call("POST", "auth/token/revoke", json={"token": token})
        assert status == 204, body
    pair.same("GET", "cubbyhole/k", who="short")


def test_cubbyhole_response_read_warns(reference: ReferenceServer, tessera: TesseraServer) -> None:
    """Reading a wrapped response through cubbyhole/response works, with a deprecation warning."""
    wrapping = []
    for server in (reference, tessera):
        status, body, _ = server.call(
            "POST", "auth/token/create", json={"policies": ["default"]}, headers={"X-Vault-Wrap-TTL": "300"}
        )
        assert status == 200, body
        wrapping.append(body["wrap_info"]["token"])
    pair = Pair(reference, tessera)
    pair.tokens["wrapping"] = (wrapping[0], wrapping[1])
    body = pair.same("GET", "cubbyhole/response", who="wrapping")
    assert body["warnings"] == [WARNING]
    assert "response" in body["data"]
