"""A small asyncio HTTP/1.1 client for the Vault API.

The agent spends its life waiting: on timers, on the server, on its own listener. Doing its HTTP on
asyncio streams (instead of blocking calls in threads) means a SIGTERM cancels an in-flight request
at once, and the proxy needs no thread per request. Errors read like the Go client's, because that
is the text operators search for: ``Error making API request.`` for HTTP errors and Go's
``url.Error`` wording (``Put "http://…": dial tcp 127.0.0.1:1: connect: connection refused``) for
transport failures.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import orjson

from .. import __version__

USER_AGENT = f"Tessera Agent/{__version__}"
DEFAULT_TIMEOUT = 60.0
MAX_RESPONSE = 64 * 1024 * 1024


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


def go_op(method: str) -> str:
    """Go's url.Error prefix: ``Put``, ``Get``…"""
    return method[:1].upper() + method[1:].lower()


def _transport_text(exc: BaseException, host: str, port: int) -> str:
    addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if isinstance(exc, ConnectionRefusedError):
        return f"dial tcp {addr}: connect: connection refused"
    if isinstance(exc, TimeoutError):
        return f"dial tcp {addr}: i/o timeout"
    if isinstance(exc, ConnectionResetError):
        return f"read tcp {addr}: read: connection reset by peer"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "EOF"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"tls: failed to verify certificate: x509: {exc.verify_message or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"dial tcp {addr}: connect: {exc.strerror.lower()}"
    return str(exc) or type(exc).__name__


class Client:
    """Connection settings for one Vault address; every request opens its own connection."""

    def __init__(
        self,
        address: str,
        *,
        ca_cert: str = "",
        ca_path: str = "",
        client_cert: str = "",
        client_key: str = "",
        tls_server_name: str = "",
        tls_skip_verify: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.settings = {
            "ca_cert": ca_cert,
            "ca_path": ca_path,
            "client_cert": client_cert,
            "client_key": client_key,
            "tls_server_name": tls_server_name,
            "tls_skip_verify": tls_skip_verify,
            "timeout": timeout,
        }
        self.address = (address or "https://127.0.0.1:8200").rstrip("/")
        parts = urllib.parse.urlsplit(self.address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"invalid address {address!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.netloc = parts.netloc
        self.base_path = parts.path.rstrip("/")
        self.tls_server_name = tls_server_name
        self.timeout = timeout
        self._ssl: ssl.SSLContext | None = None
        if self.scheme == "https":
            ctx = ssl.create_default_context(cafile=ca_cert or None, capath=ca_path or None)
            if tls_skip_verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if client_cert:
                ctx.load_cert_chain(client_cert, client_key or None)
            self._ssl = ctx

    def with_tls(self, **changes: str) -> Client:
        """The same server with other TLS files (a login method's own client certificate)."""
        settings: dict[str, Any] = dict(self.settings)
        settings.update({k: v for k, v in changes.items() if v})
        return Client(self.address, **settings)

    def url(self, target: str) -> str:
        return f"{self.scheme}://{self.netloc}{self.base_path}{target}"

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
                return await self._exchange(method, self.base_path + target, headers or [], body)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, ssl.SSLError) as exc:
            raise TransportError(
                f'{go_op(method)} "{self.url(target)}": {_transport_text(exc, self.host, self.port)}'
            ) from None

    async def _exchange(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> RawResponse:
        server_name = self.tls_server_name or (self.host if self._ssl else None)
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self._ssl, server_hostname=server_name if self._ssl else None
        )
        try:
            lines = [f"{method} {target} HTTP/1.1", f"Host: {self.netloc}", "Connection: close"]
            for name, value in headers:
                if name.lower() in ("host", "connection", "content-length", "transfer-encoding"):
                    continue
                lines.append(f"{name}: {value}".replace("\r", "").replace("\n", ""))
            if body is not None or method in ("POST", "PUT", "PATCH"):
                lines.append(f"Content-Length: {len(body or b'')}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
            await writer.drain()
            while True:  # skip interim 1xx answers
                status, resp_headers = await _read_head(reader)
                if not 100 <= status < 200:
                    break
            resp = RawResponse(status, resp_headers)
            if method == "HEAD" or status in (204, 304):
                return resp
            if resp.header("transfer-encoding").lower() == "chunked":
                resp.body = await _read_chunked(reader)
            elif resp.header("content-length"):
                resp.body = await reader.readexactly(int(resp.header("content-length")))
            else:
                resp.body = await reader.read(MAX_RESPONSE)
            return resp
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass

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
        decoded: Any = None
        try:
            decoded = resp.json()
        except orjson.JSONDecodeError:
            if 200 <= resp.status < 400:
                raise TransportError(
                    f'{go_op(method)} "{self.url(target)}": invalid JSON in response'
                ) from None
        if 200 <= resp.status < 400:
            return decoded if isinstance(decoded, dict) else None
        if isinstance(decoded, dict) and isinstance(decoded.get("errors"), list):
            raise ResponseError(
                method, self.url(target), resp.status, [str(e) for e in decoded["errors"]], False, decoded
            )
        raise ResponseError(
            method, self.url(target), resp.status, [resp.body.decode("utf-8", "replace")], True, decoded
        )


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, list[tuple[str, str]]]:
    status_line = await reader.readline()
    if not status_line:
        raise asyncio.IncompleteReadError(b"", None)
    parts = status_line.decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"malformed HTTP response {status_line[:40]!r}")
    headers: list[tuple[str, str]] = []
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            return int(parts[1]), headers
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size_line = await reader.readline()
        if not size_line:
            raise asyncio.IncompleteReadError(bytes(out), None)
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            return bytes(out)
        out += await reader.readexactly(size)
        if len(out) > MAX_RESPONSE:
            raise ValueError("response too large")
        await reader.readline()
