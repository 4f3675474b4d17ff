"""PKI on both servers at once, for the differential tests in tests/compat/.

``PKI`` mounts pki at a unique path on the reference OpenBao and on Tessera; ``same`` sends one
request to both and insists on the same status, errors and body once what differs by nature (keys,
certificates, serials, IDs, times) is replaced by placeholders that keep what must agree: which
fields there are, how many certificates a chain holds, which PEM types, and every other value.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from tests.helpers.compat import DEFAULT_IGNORED_KEYS, UUID_RE
from tests.helpers.http import call
from tests.helpers.servers import ReferenceServer, TesseraServer

Server = ReferenceServer | TesseraServer
PEM_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
SERIAL_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){4,}$")
TIME_IN_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
UUID_IN_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
LEASE_RE = re.compile(r"^(.*/)[A-Za-z0-9]{24}$")
SERIAL_IN_TEXT = re.compile(r"\b[0-9a-f]{2}(:[0-9a-f]{2}){4,}\b")
UNIX_KEYS = {"expiration", "not_before", "revocation_time"}
DRIFTING = {"lease_duration", "ttl"}
DER_KEYS = {"certificate", "issuing_ca", "ca_chain", "private_key", "csr"}


def pnorm(obj: Any, key: str | None = None) -> Any:
    """Placeholders for per-server values (see the module docstring)."""
    if isinstance(obj, dict):
        if obj and all(isinstance(k, str) and (UUID_RE.match(k) or SERIAL_RE.match(k)) for k in obj):
            return sorted(json.dumps(pnorm(v), sort_keys=True) for v in obj.values())
        return {k: pnorm(v, k) for k, v in obj.items() if k not in DEFAULT_IGNORED_KEYS and k != "request_id"}
    if isinstance(obj, list):
        items = [pnorm(v, key) for v in obj]
        return sorted(items, key=str) if key in ("keys", "imported_issuers", "existing_issuers") else items
    if isinstance(obj, str):
        if "-----BEGIN" in obj:
            return "<pem " + " + ".join(PEM_RE.findall(obj)) + ">"
        if key in DER_KEYS and obj:
            return "<der>"
        if SERIAL_RE.match(obj):
            return "<serial>"
        if UUID_RE.match(obj):
            return "<uuid>"
        if key == "lease_id" and LEASE_RE.match(obj):
            return LEASE_RE.sub(r"\1<lease>", obj)
        text = UUID_IN_TEXT.sub("<uuid>", TIME_IN_TEXT.sub("<time>", obj))
        return SERIAL_IN_TEXT.sub("<serial>", text)
    if isinstance(obj, int) and not isinstance(obj, bool) and key in UNIX_KEYS and obj > 10**9:
        return "<unix>"
    if isinstance(obj, int) and not isinstance(obj, bool) and key in DRIFTING:
        return round(obj / 10)  # the two answers are a moment apart
    return obj


class PKI:
    """A pki mount on each server, tuned to the same max TTL."""

    def __init__(self, reference: ReferenceServer, tessera: TesseraServer, max_ttl: str = "87600h") -> None:
        self.ref = reference
        self.tes = tessera
        self.m = "pki-" + uuid.uuid4().hex[:8]
        for server in (reference, tessera):
            status, body, _ = call(
                server.addr,
                "POST",
                f"sys/mounts/{self.m}",
                "root",
                json={"type": "pki", "config": {"max_lease_ttl": max_ttl}},
            )
            assert status == 204, body

    def one(
        self, server: Server, method: str, path: str, body: Any = None, token: str | None = "root"
    ) -> tuple[int, Any, Any]:
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else None
        return call(server.addr, method, f"{self.m}/{path}", token, json=body, headers=headers)

    def same(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        tokens: tuple[str | None, str | None] = ("root", "root"),
        values: bool = True,
    ) -> tuple[Any, Any]:
        """Same status, same errors, same (normalised) body on both servers."""
        rs, rb, _ = self.one(self.ref, method, path, body, tokens[0])
        ts, tb, _ = self.one(self.tes, method, path, body, tokens[1])
        where = f"{method} {self.m}/{path} {json.dumps(body)[:200] if body is not None else ''}"
        assert rs == ts, f"{where}: status reference {rs}, tessera {ts}\n  ref: {rb!r}\n  tes: {tb!r}"
        if isinstance(rb, dict) and "errors" in rb:
            assert pnorm(tb) == pnorm(rb), f"{where}: errors\n  ref: {rb!r}\n  tes: {tb!r}"
        if values:
            nr, nt = pnorm(rb), pnorm(tb)
            assert nr == nt, f"{where}: values differ\n  ref: {nr!r}\n  tes: {nt!r}"
        return rb, tb

    def both(self, method: str, path: str, body: Any = None, expected: int = 200) -> tuple[Any, Any]:
        """A set-up step: both answer ``expected``."""
        out = []
        for server in (self.ref, self.tes):
            status, answer, _ = self.one(server, method, path, body)
            assert status == expected, (server.name, method, path, status, answer)
            out.append(answer)
        return out[0], out[1]
