"""The proxy's lease cache (Vault Agent's LeaseCache), in memory.

Cached: answers that mint a token (logins, ``auth/token/create*``) when the new token is an orphan or
its parent is a token the agent manages, and answers carrying a lease obtained with a managed token.
Everything else passes through. A cached entry is kept alive by its own LifetimeWatcher and evicted
when the watcher gives up, when the token or lease is revoked through the proxy (revoking a token
evicts everything derived from it), on ``/agent/v1/cache-clear``, and — unlike Vault, which waits for
renewals to fail — as soon as the auto-auth token is replaced, since the old token's leases die
with it. The cache key hashes the whole request (method, path, query, headers, body, token), so
identical requests share one answer and concurrent identical requests are sent upstream once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .client import Client, RawResponse
from .hclog import kv
from .lifetime import Lifetime, LifetimeWatcher, lease_renewer, renew_token

log = logging.getLogger("agent.cache.leasecache")

_SKIP_HEADERS = {
    "connection",
    "keep-alive",
    "content-length",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
}


@dataclass
class ProxyRequest:
    method: str
    path: str  # /v1/..., no query
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    token: str

    @property
    def target(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")

    def json_body(self) -> dict[str, Any]:
        try:
            decoded = orjson.loads(self.body) if self.body.strip() else {}
        except orjson.JSONDecodeError:
            return {}
        return decoded if isinstance(decoded, dict) else {}


@dataclass
class CachedResponse:
    response: RawResponse
    hit: bool = False
    age: float = 0.0


@dataclass
class Entry:
    id: str
    request_path: str
    response: RawResponse | None = None
    stored_at: float = 0.0
    token: str = ""  # the token this entry holds (auth answers, the auto-auth token)
    accessor: str = ""
    lease: str = ""
    lease_token: str = ""  # the token that obtained the lease
    derived_from: str = ""  # evicting this token evicts this entry
    auto_auth: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


def compute_id(req: ProxyRequest) -> str:
    """A digest of the serialised request and its token: parameter order matters, as in Vault."""
    h = hashlib.sha256()
    h.update(f"{req.method} {req.target}\n".encode())
    for name, value in sorted((n.lower(), v) for n, v in req.headers if n.lower() not in _SKIP_HEADERS):
        h.update(f"{name}: {value}\n".encode())
    h.update(b"\n" + req.body + b"\n" + req.token.encode())
    return h.hexdigest()


Forward = Callable[[ProxyRequest], Awaitable[RawResponse]]


class LeaseCache:
    def __init__(self, client: Client, forward: Forward) -> None:
        self.client = client
        self.forward = forward
        self.entries: dict[str, Entry] = {}
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self.shutting_down = False

    # -- indexes ------------------------------------------------------------------------------------

    def by_token(self, token: str) -> Entry | None:
        return next((e for e in self.entries.values() if e.token == token), None) if token else None

    def register_auto_auth_token(self, token: str) -> None:
        """The inmem sink's hook: the new auto-auth token is managed; the previous one's entries go."""
        for old in [e for e in self.entries.values() if e.auto_auth and e.token != token]:
            self.evict_token(old.token)
        if self.by_token(token) is None:
            self.entries["auto-auth:" + token] = Entry("auto-auth:" + token, "", token=token, auto_auth=True)

    # -- eviction -----------------------------------------------------------------------------------

    def _drop(self, entry: Entry) -> None:
        self.entries.pop(entry.id, None)
        if entry.task is not None and entry.task is not asyncio.current_task() and not entry.task.done():
            entry.task.cancel()
        log.debug(kv("evicting index from cache", id=entry.id, path=entry.request_path))

    def evict_token(self, token: str) -> None:
        """A token and everything derived from it (its leases, its child tokens, theirs…)."""
        pending = [token]
        while pending:
            tok = pending.pop()
            for entry in [e for e in self.entries.values() if e.token == tok or e.derived_from == tok]:
                if entry.token and entry.token != tok:
                    pending.append(entry.token)
                self._drop(entry)

    def evict_lease(self, lease_id: str, *, prefix: bool = False) -> None:
        for entry in [e for e in self.entries.values() if e.lease]:
            if entry.lease == lease_id or (prefix and entry.lease.startswith(lease_id)):
                self._drop(entry)

    def clear(self, kind: str, value: str) -> None:
        """``/agent/v1/cache-clear`` types: request_path, token, token_accessor, lease, all."""
        if kind == "request_path":
            for entry in [e for e in self.entries.values() if e.request_path.startswith(value)]:
                if entry.token:
                    self.evict_token(entry.token)
                else:
                    self._drop(entry)
        elif kind == "token":
            if not value:
                raise ValueError("token not provided")
            self.evict_token(value)
        elif kind == "token_accessor":
            if not value:
                raise ValueError("token accessor not provided")
            entry = next((e for e in self.entries.values() if e.accessor == value), None)
            if entry is not None:
                self.evict_token(entry.token)
        elif kind == "lease":
            if not value:
                raise ValueError("lease not provided")
            self.evict_lease(value)
        elif kind == "all":
            for entry in list(self.entries.values()):
                if not entry.auto_auth:
                    self._drop(entry)
        else:
            raise LookupError("invalid type provided")

    def stop(self) -> None:
        """Shutdown: stop renewing (nothing is revoked)."""
        self.shutting_down = True
        for entry in self.entries.values():
            if entry.task is not None:
                entry.task.cancel()

    # -- request path -------------------------------------------------------------------------------

    async def send(self, req: ProxyRequest) -> CachedResponse:
        key = compute_id(req)
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                return await self._send(req, key)
        finally:
            lock_, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock_, users - 1)

    async def _send(self, req: ProxyRequest, key: str) -> CachedResponse:
        cached = self.entries.get(key)
        if cached is not None and cached.response is not None:
            log.debug(kv("returning cached response", path=req.path))
            return CachedResponse(cached.response, True, time.time() - cached.stored_at)
        resp = await self.forward(req)
        if resp.status == 204:
            self._handle_revocation(req)
            return CachedResponse(resp)
        if resp.status >= 300 or resp.header("content-type").split(";")[0].strip() != "application/json":
            return CachedResponse(resp)
        try:
            secret = orjson.loads(resp.body)
        except orjson.JSONDecodeError:
            return CachedResponse(resp)
        if not isinstance(secret, dict):
            return CachedResponse(resp)
        auth = secret.get("auth") if isinstance(secret.get("auth"), dict) else None
        if not secret.get("renewable") and not (auth and auth.get("renewable")):
            log.debug(kv("pass-through response; secret not renewable", method=req.method, path=req.path))
            return CachedResponse(resp)
        entry = Entry(key, req.path, response=resp, stored_at=time.time())
        if secret.get("lease_id"):
            if self.by_token(req.token) is None:
                log.debug(kv("pass-through lease response; token not managed by agent", path=req.path))
                return CachedResponse(resp)
            entry.lease, entry.lease_token, entry.derived_from = str(secret["lease_id"]), req.token, req.token
            lifetime = Lifetime(entry.lease, float(secret.get("lease_duration") or 0), True)
            renew = lease_renewer(self.client, req.token)
        elif auth is not None:
            if not auth.get("orphan"):
                if self.by_token(req.token) is None:
                    log.debug(
                        kv("pass-through auth response; parent token not managed by agent", path=req.path)
                    )
                    return CachedResponse(resp)
                entry.derived_from = req.token
            entry.token, entry.accessor = str(auth.get("client_token") or ""), str(auth.get("accessor") or "")
            lifetime = Lifetime(entry.token, float(auth.get("lease_duration") or 0), True)

            async def renew(token: str, increment: int) -> tuple[float, bool]:
                return await renew_token(self.client, token, increment)

        else:
            return CachedResponse(resp)
        log.debug(kv("storing response into the cache", method=req.method, path=req.path))
        self.entries[key] = entry
        entry.task = asyncio.ensure_future(self._renew(entry, lifetime, renew))
        return CachedResponse(resp)

    async def _renew(self, entry: Entry, lifetime: Lifetime, renew: Any) -> None:
        watcher = LifetimeWatcher(lifetime, renew)
        try:
            err = await watcher.run()
            if err is not None:
                log.error(kv("failed to renew secret", error=" ".join(str(err).split())))
            else:
                log.debug(kv("renewal halted; evicting from cache", path=entry.request_path))
        finally:
            if not self.shutting_down and self.entries.get(entry.id) is entry:
                if entry.token:
                    self.evict_token(entry.token)
                else:
                    self._drop(entry)

    def _handle_revocation(self, req: ProxyRequest) -> bool:
        """Evict what a successful (204) revocation through the proxy revoked."""
        path = req.path
        body = req.json_body()
        if path == "/v1/auth/token/revoke":
            self.evict_token(str(body.get("token") or ""))
        elif path == "/v1/auth/token/revoke-self":
            self.evict_token(req.token)
        elif path == "/v1/auth/token/revoke-accessor":
            accessor = str(body.get("accessor") or "")
            entry = next((e for e in self.entries.values() if accessor and e.accessor == accessor), None)
            if entry is not None:
                self.evict_token(entry.token)
        elif path == "/v1/auth/token/revoke-orphan":
            token = str(body.get("token") or "")
            self.evict_lease_of_token(token)
            for entry in [e for e in self.entries.values() if e.token == token]:
                self._drop(entry)
            for entry in self.entries.values():
                if entry.derived_from == token:
                    entry.derived_from = ""
        elif path == "/v1/sys/leases/revoke" or path.startswith("/v1/sys/leases/revoke/"):
            lease = str(body.get("lease_id") or "") or path.removeprefix("/v1/sys/leases/revoke/")
            self.evict_lease(lease)
        elif path.startswith(("/v1/sys/leases/revoke-prefix/", "/v1/sys/leases/revoke-force/")):
            prefix = path.split("/", 5)[5] if path.count("/") >= 5 else ""
            self.evict_lease(prefix, prefix=True)
        else:
            return False
        log.debug("triggered caching eviction from revocation request")
        return True

    def evict_lease_of_token(self, token: str) -> None:
        for entry in [e for e in self.entries.values() if e.lease and e.lease_token == token]:
            self._drop(entry)
