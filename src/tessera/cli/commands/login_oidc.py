"""``login -method=oidc``: the browser flow from a terminal, as Vault's CLI runs it.

A listener on ``localhost:8250`` (``listenaddress``/``port``) waits for the provider to send the
browser back to ``/oidc/callback``; the CLI asks the server for the provider's URL (with that
redirect URI and a client nonce), opens a browser on it (or just prints it: ``skip_browser=true``),
then hands the code and state it receives to ``auth/<mount>/oidc/callback`` and gets the token.
"""

from __future__ import annotations

import secrets
import sys
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..api import APIError
from ..flags import parse_bool

WAIT_SECONDS = 120.0
SUCCESS_PAGE = b"<!DOCTYPE html><html><body><h1>Signed in</h1><p>You can close this window.</p></body></html>"


def oidc_login(command: Any, config: dict[str, str]) -> Any:
    """The token of a completed browser login (a ``Secret``), or raise ``APIError``."""
    mount = (config.get("mount") or "oidc").strip("/")
    listen = config.get("listenaddress", "localhost")
    port = config.get("port", "8250")
    host = config.get("callbackhost", "localhost")
    scheme = config.get("callbackmethod", "http")
    callback_port = config.get("callbackport", port)
    skip_browser = parse_bool(config["skip_browser"]) if "skip_browser" in config else False
    redirect_uri = f"{scheme}://{host}:{callback_port}/oidc/callback"
    nonce = secrets.token_urlsafe(20)
    received: dict[str, Any] = {}
    done = threading.Event()

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/oidc/callback":
                self.send_error(404)
                return
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            try:
                received["secret"] = command.request_secret(
                    "GET",
                    f"auth/{mount}/oidc/callback",
                    params=sorted({**query, "client_nonce": nonce}.items()),
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(SUCCESS_PAGE)
            except APIError as exc:
                received["error"] = exc
                self.send_error(400, "Login failed")
            done.set()

        def log_message(self, *args: Any) -> None:
            return

    try:
        server = HTTPServer((listen, int(port)), Callback)
    except (OSError, ValueError) as exc:
        raise APIError(f"failed to start listener on {listen}:{port}: {exc}") from None
    try:
        secret = command.request_secret(
            "PUT",
            f"auth/{mount}/oidc/auth_url",
            body={"role": config.get("role", ""), "redirect_uri": redirect_uri, "client_nonce": nonce},
        )
        url = str(((secret.data if secret else None) or {}).get("auth_url") or "")
        if not url:
            raise APIError(
                f'Unable to authorize role "{config.get("role", "")}" with redirect_uri "{redirect_uri}". '
                "Check Vault logs for more information."
            )
        if skip_browser:
            print(
                f"Complete the login via your OIDC provider. Open the following link in your browser:\n\n    {url}\n\n",
                file=sys.stderr,
            )
        else:
            print(
                f"Complete the login via your OIDC provider. Launching browser to:\n\n    {url}\n\n",
                file=sys.stderr,
            )
            webbrowser.open(url)
        print("Waiting for OIDC authentication to complete...", file=sys.stderr, flush=True)
        worker = threading.Thread(target=server.serve_forever, daemon=True)
        worker.start()
        try:
            if not done.wait(WAIT_SECONDS):
                raise APIError("Timed out waiting for response from provider")
        finally:
            server.shutdown()
    finally:
        server.server_close()
    if "error" in received:
        raise received["error"]
    return received.get("secret")
