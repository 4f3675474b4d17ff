"""The agent's HTTP client for the Vault API, on httpx (asyncio, HTTP/1.1, pooled connections).

The agent spends its life waiting: on timers, on the server, on its own listener. Doing its HTTP on
asyncio means a SIGTERM cancels an in-flight request at once, and the proxy needs no thread per
request. Errors read like the Go client's, because that is the text operators search for:
``Error making API request.`` for HTTP errors and Go's ``url.Error`` wording
(``Put "http://…": dial tcp 127.0.0.1:1: connect: connection refused``) for transport failures, which
:func:`_transport_text` derives from the OS or TLS error beneath httpx's exception.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from .. import __version__
from ..clientutil import TLSSettings, go_op

USER_AGENT = f"Tessera Agent/{__version__}"
DEFAULT_TIMEOUT = 60.0
MAX_RESPONSE = 64 * 1024 * 1024
# httpx's own defaults (Accept, Accept-Encoding, User-Agent) are not sent: the proxy forwards
# exactly the application's headers and passes bodies through undecoded.
_HTTPX_DEFAULTS = ("accept", "accept-encoding", "user-agent")


class TransportError(Exception):
    """The server could not be reached or broke the connection (no HTTP answer)."""


class ResponseError(Exception):
    """A non-2xx/3xx answer; ``str()`` is the Go client's multi-line text."""

    def __init__(self, method: str, url: str, status: int, errors: list[str], raw: bool, body: Any) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.errors = errors
        self.raw = raw
        self.body = body
        kind = "Raw Message" if raw else "Errors"
        text = f"Error making API request.\n\nURL: {method} {url}\nCode: {status}. {kind}:\n\n"
        text += errors[0] if raw and errors else "".join(f"* {e}" for e in errors)
        super().__init__(text)


@dataclass
class RawResponse:
    """One HTTP answer as received."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return ""

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body.strip() else None


def _root_cause(exc: BaseException) -> BaseException:
    """The OS or TLS error beneath httpx's, httpcore's and anyio's wrappers (or ``exc`` itself)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, BaseExceptionGroup):
            seen = seen.exceptions[0]
            continue
        if isinstance(seen, ssl.SSLError) or (isinstance(seen, OSError) and seen.errno):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def _transport_text(exc: BaseException, host: str, port: int) -> str:
    addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
        return f"dial tcp {addr}: i/o timeout"
    cause = _root_cause(exc)
    if isinstance(cause, ConnectionRefusedError):
        return f"dial tcp {addr}: connect: connection refused"
    if isinstance(cause, ConnectionResetError):
        return f"read tcp {addr}: read: connection reset by peer"
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"tls: failed to verify certificate: x509: {cause.verify_message or cause}"
    if isinstance(cause, httpx.RemoteProtocolError) and "without sending" in str(cause):
        return "EOF"
    if isinstance(cause, OSError) and cause.strerror:
        return f"dial tcp {addr}: connect: {cause.strerror.lower()}"
    return str(cause) or type(cause).__name__


class Client:
    """Connection settings for one Vault address, and a connection pool per event loop."""

    def __init__(
        self, address: str, tls: TLSSettings | None = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.tls = tls or TLSSettings()
        self.address = (address or "https://127.0.0.1:8200").rstrip("/")
        parts = urllib.parse.urlsplit(self.address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"invalid address {address!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.netloc = parts.netloc
        self.base_path = parts.path.rstrip("/")
        self.timeout = timeout
        self._ssl = self.tls.ssl_context() if self.scheme == "https" else None
        self._extensions = {"sni_hostname": self.tls.tls_server_name} if self.tls.tls_server_name else {}
        self._http: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def with_tls(self, *, ca_cert: str = "", client_cert: str = "", client_key: str = "") -> Client:
        """The same server with other TLS files (a login method's own client certificate)."""
        tls = dataclasses.replace(
            self.tls,
            ca_cert=ca_cert or self.tls.ca_cert,
            client_cert=client_cert or self.tls.client_cert,
            client_key=client_key or self.tls.client_key,
        )
        return Client(self.address, tls, timeout=self.timeout)

    def url(self, target: str) -> str:
        return f"{self.scheme}://{self.netloc}{self.base_path}{target}"

    def _pool(self) -> httpx.AsyncClient:
        """The connection pool of the running event loop (connections cannot cross loops)."""
        loop = asyncio.get_running_loop()
        if self._http is None or self._loop is not loop:
            self._http = httpx.AsyncClient(
                verify=self._ssl or False, timeout=None, trust_env=False, follow_redirects=False
            )
            for name in _HTTPX_DEFAULTS:
                del self._http.headers[name]
            self._loop = loop
        return self._http

    async def aclose(self) -> None:
        """Close the pooled connections (at shutdown)."""
        if self._http is not None and self._loop is asyncio.get_running_loop():
            await self._http.aclose()
        self._http = self._loop = None

    async def send(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
        *,
        timeout: float | None = None,
    ) -> RawResponse:
        """One raw exchange; ``target`` is the path and query (``/v1/...``)."""
        try:
            async with asyncio.timeout(timeout or self.timeout):
                return await self._exchange(method, self.url(target), headers or [], body)
        except (OSError, TimeoutError, ValueError, ssl.SSLError, httpx.TransportError) as exc:
            raise TransportError(
                f'{go_op(method)} "{self.url(target)}": {_transport_text(exc, self.host, self.port)}'
            ) from None

    async def _exchange(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> RawResponse:
        pool = self._pool()
        clean = [(n, v.replace("\r", "").replace("\n", "")) for n, v in headers if not _framing(n)]
        request = pool.build_request(method, url, headers=clean, content=body, extensions=self._extensions)
        response = await pool.send(request, stream=True)
        try:
            out = bytearray()
            async for chunk in response.aiter_raw():
                out += chunk
                if len(out) > MAX_RESPONSE:
                    raise ValueError("response too large")
        finally:
            await response.aclose()
        decoded = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw]
        return RawResponse(response.status_code, decoded, bytes(out))

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str = "",
        data: Any = None,
        wrap_ttl: str = "",
        headers: list[tuple[str, str]] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """A JSON API call (``path`` without ``/v1/``); raises ResponseError on HTTP errors."""
        target = "/v1/" + urllib.parse.quote(path.lstrip("/"), safe="/-_.~:@")
        if params:
            target += "?" + urllib.parse.urlencode(sorted(params.items()))
        hdrs = [("X-Vault-Request", "true"), ("User-Agent", USER_AGENT)]
        if token:
            hdrs.append(("X-Vault-Token", token))
        if wrap_ttl:
            hdrs.append(("X-Vault-Wrap-TTL", wrap_ttl))
        hdrs.extend(headers or [])
        body = None
        if data is not None:
            body = orjson.dumps(data)
            hdrs.append(("Content-Type", "application/json"))
        resp = await self.send(method, target, hdrs, body)
        return _decode(method, self.url(target), resp)


def _framing(name: str) -> bool:
    """Headers httpx sets itself from the URL and the body."""
    return name.lower() in ("host", "connection", "content-length", "transfer-encoding")


def _decode(method: str, url: str, resp: RawResponse) -> dict[str, Any] | None:
    """The JSON object of a 2xx/3xx answer; ResponseError (Go's text) for any other status."""
    decoded: Any = None
    try:
        decoded = resp.json()
    except orjson.JSONDecodeError:
        if 200 <= resp.status < 400:
            raise TransportError(f'{go_op(method)} "{url}": invalid JSON in response') from None
    if 200 <= resp.status < 400:
        return decoded if isinstance(decoded, dict) else None
    if isinstance(decoded, dict) and isinstance(decoded.get("errors"), list):
        raise ResponseError(method, url, resp.status, [str(e) for e in decoded["errors"]], False, decoded)
    raise ResponseError(method, url, resp.status, [resp.body.decode("utf-8", "replace")], True, decoded)
