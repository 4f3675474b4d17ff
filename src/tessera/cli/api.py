"""The HTTP client of the CLI: Vault's request headers, response parsing and error texts.

Errors read exactly like the Go client's, because users paste them into searches and issue trackers:
``Error making API request.`` + URL + ``Code: 403. Errors:`` for HTTP errors, and Go's ``url.Error``
text (``Get "http://…": dial tcp 127.0.0.1:1: connect: connection refused``) for transport errors.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from ..clientutil import TLSSettings, go_op
from ..gocompat.quote import go_quote
from . import gojson
from .args import join_path
from .env import read_env

LAST_CURL: str | None = None


class APIError(Exception):
    """Any failure of a request; ``str()`` is the text the CLI prints after ``Error …: ``."""


class ResponseError(APIError):
    """A non-2xx/3xx answer (api.ResponseError)."""

    def __init__(
        self,
        method: str,
        url: str,
        status: int,
        errors: list[str],
        raw: bool,
        namespace: str = "",
        body: Any = None,
    ):
        self.body = body
        self.method = method
        self.url = url
        self.status = status
        self.errors = errors
        self.raw = raw
        self.namespace = namespace
        super().__init__(self.render())

    def render(self) -> str:
        kind = "Raw Message" if self.raw else "Errors"
        ns = f"Namespace: {self.namespace}\n" if self.namespace and self.namespace != "root/" else ""
        text = f"Error making API request.\n\n{ns}URL: {self.method} {self.url}\nCode: {self.status}. {kind}:\n\n"
        if self.raw and len(self.errors) == 1:
            return text + self.errors[0]
        return text + "".join(f"* {e}" for e in self.errors)


class CurlString(APIError):
    """``-output-curl-string``: the request was rendered instead of being sent."""

    def __init__(self, curl: str) -> None:
        self.curl = curl
        super().__init__("output a string, please")


@dataclass
class Response:
    """A raw HTTP answer."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return gojson.loads(self.body) if self.body.strip() else None


def _nameserver() -> str:
    try:
        with open("/etc/resolv.conf", encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    host = parts[1]
                    return f"[{host}]:53" if ":" in host else f"{host}:53"
    except OSError:
        pass
    return ""


class Client:
    """One CLI invocation's connection settings (address, token, TLS, namespace, wrapping)."""

    def __init__(
        self,
        address: str,
        token: str = "",
        *,
        tls: TLSSettings | None = None,
        namespace: str = "",
        wrap_ttl: str = "",
        output_curl: bool = False,
        headers: dict[str, str] | None = None,
        disable_redirects: bool = False,
        timeout: float = 60.0,
    ) -> None:
        self.address = address.rstrip("/") if address else "https://127.0.0.1:8200"
        self.token = token
        self.tls = tls or TLSSettings()
        self.namespace = namespace
        self.wrap_ttl = wrap_ttl
        self.output_curl = output_curl
        self.extra_headers = headers or {}
        self.disable_redirects = disable_redirects
        self.timeout = timeout

    # -- transport ---------------------------------------------------------------------------------

    def url_for(self, path: str, params: list[tuple[str, str]] | None = None) -> str:
        base = urllib.parse.urlsplit(self.address)
        full = join_path(base.path or "/", "/v1/" + path)
        full = urllib.parse.quote(full, safe="/-_.~!$&'()*+,;=:@")
        query = urllib.parse.urlencode(sorted(params or []), quote_via=urllib.parse.quote)
        return urllib.parse.urlunsplit((base.scheme, base.netloc, full, query, ""))

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        has_body: bool = False,
        params: list[tuple[str, str]] | None = None,
        content_type: str = "",
        wrap: bool = True,
    ) -> Response:
        """Send one request; raise ResponseError for HTTP errors and APIError for transport errors."""
        url = self.url_for(path, params)
        headers = {"X-Vault-Request": "true"}
        headers.update(self.extra_headers)
        if self.namespace:
            headers["X-Vault-Namespace"] = self.namespace
        if self.token:
            headers["X-Vault-Token"] = self.token
        wrap_ttl = self.wrap_ttl if wrap else ""
        if not wrap_ttl and wrap and path.strip("/") == "sys/wrapping/wrap":
            wrap_ttl = "5m"
        if wrap_ttl:
            headers["X-Vault-Wrap-TTL"] = wrap_ttl
        if content_type:
            headers["Content-Type"] = content_type
        data = gojson.dumps_compact(body).encode() if (body is not None or has_body) else None
        if self.output_curl:
            global LAST_CURL
            LAST_CURL = self._curl(method, url, headers, data)
            raise CurlString(LAST_CURL)
        return self._send(method, url, headers, data, redirects=0 if self.disable_redirects else 1)

    def _curl(self, method: str, url: str, headers: dict[str, str], data: bytes | None) -> str:
        out = "curl "
        tls = self.tls
        if tls.skip_verify:
            out += "--insecure "
        if method != "GET":
            out += f"-X {method} "
        for flag, value in (("--cacert", tls.ca_cert), ("--capath", tls.ca_path)):
            if value:
                out += f"{flag} '{value.replace(chr(39), chr(39) + chr(34) + chr(39) + chr(34) + chr(39))}' "
        for flag, value in (("--cert", tls.client_cert), ("--key", tls.client_key)):
            if value:
                out += f"{flag} '{value.replace(chr(39), chr(39) + chr(34) + chr(39) + chr(34) + chr(39))}' "
        for name, value in headers.items():
            shown = "$(tessera print token)" if name.lower() == "x-vault-token" else value
            out += f'-H "{name}: {shown}" '
        if data:
            out += "-d '" + data.decode().replace("'", "'\"'\"'") + "' "
        return out + go_quote(url)

    def _send(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None, redirects: int
    ) -> Response:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            if parts.scheme == "https":
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    host, port, timeout=self.timeout, context=self.tls.ssl_context()
                )
                if self.tls.tls_server_name:
                    conn._tunnel_host = None  # type: ignore[attr-defined]
            else:
                conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
            conn.request(method, target, body=data, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            resp_headers = {k.lower(): v for k, v in resp.getheaders()}
            conn.close()
        except Exception as exc:
            raise APIError(
                f'{go_op(method)} "{url}": {_transport_error(exc, parts.scheme, host, port)}'
            ) from None
        if resp.status in (301, 302, 307) and redirects > 0 and "location" in resp_headers:
            location = urllib.parse.urljoin(url, resp_headers["location"])
            if parts.scheme == "https" and not location.startswith("https"):
                raise APIError("redirect would cause protocol downgrade")
            return self._send(method, location, headers, data, redirects - 1)
        response = Response(resp.status, body, resp_headers)
        if 200 <= resp.status < 400 or (resp.status == 429 and parts.path.endswith("/v1/sys/health")):
            return response
        decoded: Any = None
        try:
            decoded = gojson.loads(body)
            if not isinstance(decoded, dict):
                raise ValueError
            errors = [str(e) for e in (decoded.get("errors") or [])]
            raw = False
        except ValueError:
            errors, raw = [body.decode("utf-8", "replace")], True
        raise ResponseError(
            method, url, resp.status, errors, raw, resp_headers.get("x-vault-namespace", ""), decoded
        )


def _transport_error(exc: BaseException, scheme: str, host: str, port: int) -> str:
    """Go's net/http error text for a failed connection."""
    addr = _addr_text(host, port)
    if isinstance(exc, socket.gaierror):
        ns = _nameserver()
        return (
            f"dial tcp: lookup {host} on {ns}: no such host"
            if ns
            else f"dial tcp: lookup {host}: no such host"
        )
    if isinstance(exc, ConnectionRefusedError):
        return f"dial tcp {addr}: connect: connection refused"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"dial tcp {addr}: i/o timeout"
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or str(exc)
        if "self-signed" in reason or "unable to get local issuer" in reason:
            return "tls: failed to verify certificate: x509: certificate signed by unknown authority"
        if "Hostname mismatch" in reason or "IP address mismatch" in reason:
            return (
                f"tls: failed to verify certificate: x509: certificate is valid for other names, not {host}"
            )
        return f"tls: failed to verify certificate: x509: {reason}"
    if isinstance(exc, ssl.SSLError):
        if "WRONG_VERSION_NUMBER" in str(exc) or "wrong version number" in str(exc):
            return "http: server gave HTTP response to HTTPS client"
        return f"remote error: tls: {exc.reason or exc}"
    if isinstance(exc, ConnectionResetError):
        return f"read tcp {addr}: read: connection reset by peer"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "EOF"
    if isinstance(exc, OSError) and exc.strerror:
        return f"dial tcp {addr}: connect: {exc.strerror.lower()}"
    return str(exc) or type(exc).__name__


def _addr_text(host: str, port: int) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        ip = str(infos[0][4][0])
    except OSError:
        ip = host
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def token_helper_path() -> str:
    """The built-in token helper's file, ``~/.vault-token`` (HOME respected)."""
    return os.path.join(os.path.expanduser("~"), ".vault-token")


def helper_get() -> str:
    """The stored token, or "" when there is none."""
    path = read_env("TOKEN_PATH") or token_helper_path()
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except FileNotFoundError:
        return ""


def helper_store(token: str) -> None:
    """Store the token with mode 0600 and no newline, as Vault's internal helper does."""
    path = read_env("TOKEN_PATH") or token_helper_path()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token)
