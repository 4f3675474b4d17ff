"""The agent's listener: an ASGI app (served by granian) that forwards to the server.

Applications talk to the agent as if it were Vault. A request without a token gets the auto-auth
token (``use_auto_auth_token = true``; ``"force"`` replaces any token the client sent), so the
application never handles credentials; the auto-auth token's ID and accessor are stripped from
lookup/renew answers so it does not leak back. With ``cache {}``, answers go through the lease
cache. ``/agent/v1/cache-clear`` is the agent's own endpoint.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import orjson

from ..asgiutil import answer_lifespan, read_body
from .cache import CachedResponse, LeaseCache, ProxyRequest
from .client import USER_AGENT, Client, RawResponse, TransportError
from .config import ProxyConfig
from .hclog import kv
from .tokens import TokenBus

log = logging.getLogger("agent.apiproxy")

MAX_REQUEST_SIZE = 32 * 1024 * 1024
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
_NOT_FORWARDED = _HOP | {"host", "content-length", "accept-encoding", "x-vault-token", "expect"}
_NOT_RETURNED = _HOP | {"content-length", "date", "server"}


def _error(status: int, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json")], orjson.dumps({"errors": [message]})


class ProxyApp:
    def __init__(
        self,
        client: Client,
        bus: TokenBus | None,
        proxy: ProxyConfig | None,
        cache: LeaseCache | None,
    ) -> None:
        self.client = client
        self.bus = bus if proxy is not None and proxy.use_auto_auth_token else None
        self.force = bool(proxy and proxy.force_auto_auth_token)
        self.cache = cache

    async def forward(self, req: ProxyRequest) -> RawResponse:
        """APIProxy.Send: the client's headers, our User-Agent suffix, the chosen token."""
        headers = [
            (n, v) for n, v in req.headers if n.lower() not in _NOT_FORWARDED and n.lower() != "user-agent"
        ]
        agent = dict((n.lower(), v) for n, v in req.headers).get("user-agent", "")
        headers.append(
            ("User-Agent", f"{USER_AGENT} API Proxy; {agent}" if agent else f"{USER_AGENT} API Proxy")
        )
        if req.token:
            headers.append(("X-Vault-Token", req.token))
        log.info(kv("forwarding request to Vault", method=req.method, path=req.path))
        body = req.body if req.body or req.method in ("POST", "PUT", "PATCH") else None
        return await self.client.send(req.method, req.target, headers, body)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            status, headers, body = await self._handle(scope, receive)
        except Exception:
            log.exception("unhandled error in proxy")
            status, headers, body = _error(500, "internal error")
        raw_headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
        raw_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    async def _handle(self, scope: dict[str, Any], receive: Any) -> tuple[int, list[tuple[str, str]], bytes]:
        method = scope["method"].upper()
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else str(raw_path)
        path = path.split("?", 1)[0]
        query = scope.get("query_string", b"").decode("latin-1")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])]
        body = await read_body(receive, MAX_REQUEST_SIZE)
        if body is None:
            return _error(413, "http: request body too large")
        if path == "/agent/v1/cache-clear":
            return self._cache_clear(method, body)
        log.info(kv("received request", method=method, path=path))
        token = next((v for n, v in headers if n.lower() == "x-vault-token"), "")
        if self.force:
            token = ""
        if not token and self.bus is not None:
            log.debug(kv("using auto auth token", method=method, path=path))
            token = self.bus.token
        req = ProxyRequest(method, path, query, headers, body, token)
        try:
            if self.cache is not None:
                result = await self.cache.send(req)
            else:
                result = CachedResponse(await self.forward(req))
        except TransportError as exc:
            return _error(500, f"failed to get the response: {exc}")
        resp = result.response
        out_body = self._sanitize(req, resp)
        out = [(n, v) for n, v in resp.headers if n.lower() not in _NOT_RETURNED]
        if result.hit:
            out.append(("Age", f"{result.age:.0f}"))
        out.append(("X-Cache", "HIT" if result.hit else "MISS"))
        return resp.status, out, out_body

    def _sanitize(self, req: ProxyRequest, resp: RawResponse) -> bytes:
        """Strip the auto-auth token's ID and accessor from lookup/renew answers about it."""
        if self.bus is None or resp.status != 200 or not self.bus.token:
            return resp.body
        auto = self.bus.token
        if req.path in ("/v1/auth/token/lookup-self", "/v1/auth/token/renew-self"):
            if not hmac.compare_digest(req.token.encode(), auto.encode()):  # a secret: constant time
                return resp.body
        elif req.path in ("/v1/auth/token/lookup", "/v1/auth/token/renew"):
            token = req.json_body().get("token")
            if not isinstance(token, str) or (
                token and not hmac.compare_digest(token.encode(), auto.encode())
            ):
                return resp.body
        else:
            return resp.body
        try:
            secret = orjson.loads(resp.body)
        except orjson.JSONDecodeError:
            return resp.body
        if not isinstance(secret, dict):
            return resp.body
        log.info(kv("stripping auto-auth token from the response", method=req.method, path=req.path))
        data, auth = secret.get("data"), secret.get("auth")
        if isinstance(data, dict):
            data.pop("id", None)
            data.pop("accessor", None)
        elif isinstance(auth, dict):
            auth["client_token"] = ""
            auth["accessor"] = ""
        return orjson.dumps(secret)

    def _cache_clear(self, method: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        if self.cache is None or method not in ("POST", "PUT"):
            return 200, [], b""
        try:
            decoded = orjson.loads(body) if body.strip() else None
            if decoded is None:
                raise ValueError("empty JSON provided")
            if not isinstance(decoded, dict):
                raise ValueError("json: cannot unmarshal into Go value of type cache.cacheClearRequest")
        except (orjson.JSONDecodeError, ValueError) as exc:
            return _error(400, f"failed to parse JSON input: {exc}")
        kind = str(decoded.get("type") or "")
        if not kind:
            return _error(400, "failed to parse clear input: no type provided")
        log.debug(kv("received cache-clear request", type=kind, value=decoded.get("value", "")))
        try:
            self.cache.clear(kind, str(decoded.get("value") or ""))
        except LookupError as exc:
            return _error(400, f"failed to clear cache: {exc.args[0]}")
        except ValueError as exc:
            return _error(500, f"failed to clear cache: {exc}")
        return 200, [], b""
