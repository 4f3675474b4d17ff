"""Transit on both servers at once, for the differential tests in tests/compat/.

``Transit`` mounts transit at a unique path on the reference OpenBao and on Tessera; ``same`` sends
one request to both and insists on the same status, errors and body once what differs by nature
(key material and what derives from it: ciphertexts, signatures, HMACs, random bytes, times) is
replaced by placeholders that keep what must agree (versions, ciphertext lengths, shapes).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from tests.helpers.compat import DEFAULT_IGNORED_KEYS
from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, TesseraServer

Server = ReferenceServer | TesseraServer
VERSIONED = re.compile(r"^vault:v(\d+):(.*)$", re.DOTALL)
B64_HI = "aGk="
KEY_MATERIAL = {"random_bytes", "backup", "public_key", "publickey"}


def tnorm(obj: Any, key: str | None = None) -> Any:
    """Placeholders for per-server values; ciphertexts keep their version and length."""
    if isinstance(obj, dict):
        if key == "keys" and obj and all(isinstance(v, str) for v in obj.values()):
            return {k: "<material>" for k in obj}  # exported key material
        out = {}
        for k, v in obj.items():
            if k in DEFAULT_IGNORED_KEYS or k == "request_id":
                continue
            if k in ("backup_info", "restore_info") and isinstance(v, dict):
                v = {"time": "<time>", "version": v.get("version")}
            out[k] = tnorm(v, k)
        return out
    if isinstance(obj, list):
        return [tnorm(v, key) for v in obj]
    if isinstance(obj, str):
        m = VERSIONED.match(obj)
        if m and key == "ciphertext":
            return f"vault:v{m.group(1)}:<{len(m.group(2))}>"
        if m and key in ("signature", "hmac"):
            return f"vault:v{m.group(1)}:<mac>"
        if key in KEY_MATERIAL and obj:
            return "<material>"
        if key in ("time", "creation_time"):
            return "<time>"
    if (
        isinstance(obj, int)
        and not isinstance(obj, bool)
        and key is not None
        and key.isdigit()
        and obj > 10**9
    ):
        return "<unix>"
    return obj


class Transit:
    """A transit mount on each server."""

    def __init__(self, reference: ReferenceServer, tessera: TesseraServer) -> None:
        self.ref = reference
        self.tes = tessera
        self.m = "transit-" + uuid.uuid4().hex[:8]
        for server in (reference, tessera):
            status, body, _ = call(
                server.addr, "POST", f"sys/mounts/{self.m}", "root", json={"type": "transit"}
            )
            assert status == 204, body

    def one(
        self, server: Server, method: str, path: str, body: Any = None, token: str = "root"
    ) -> tuple[int, Any]:
        status, answer, _ = call(server.addr, method, f"{self.m}/{path}", token, json=body)
        return status, answer

    def same(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        tokens: tuple[str, str] = ("root", "root"),
        values: bool = True,
    ) -> tuple[Any, Any]:
        """Same status, same errors, same (normalised) body on both servers."""
        rs, rb = self.one(self.ref, method, path, body, tokens[0])
        ts, tb = self.one(self.tes, method, path, body, tokens[1])
        where = f"{method} {self.m}/{path} {json.dumps(body)[:200] if body is not None else ''}"
        assert rs == ts, f"{where}: status reference {rs}, tessera {ts}\n  ref: {rb!r}\n  tes: {tb!r}"
        if isinstance(rb, dict) and "errors" in rb:
            assert tb == rb, f"{where}: errors\n  ref: {rb!r}\n  tes: {tb!r}"
        if values:
            nr, nt = tnorm(rb), tnorm(tb)
            assert nr == nt, f"{where}: values differ\n  ref: {nr!r}\n  tes: {nt!r}"
        return rb, tb

    def both(self, method: str, path: str, body: Any = None, expected: int = 200) -> tuple[Any, Any]:
        """A set-up step: both answer ``expected``."""
        out = []
        for server in (self.ref, self.tes):
            status, answer = self.one(server, method, path, body)
            assert status == expected, (server.name, method, path, status, answer)
            out.append(answer)
        return out[0], out[1]
