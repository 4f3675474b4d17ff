"""A local HTTPS server speaking the part of GitHub's REST API that the github auth method calls.

``GET /api/v3/user``, ``/user/orgs``, ``/user/teams`` (with ``Authorization: Bearer <token>``,
paginated ``page_size`` items at a time with ``Link: rel="next"`` as GitHub does) and
``/orgs/:org``. Unknown tokens get GitHub's 401 ``Bad credentials``. Every request is recorded.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from .pki import Pem

PREFIX = "/api/v3/"


@dataclass
class GitHubUser:
    login: str
    orgs: list[str] = field(default_factory=list)
    teams: list[tuple[str, str, str]] = field(default_factory=list)  # (name, slug, org login)


@dataclass
class FakeGitHub:
    """The organizations (login -> id) and users (token -> user) the server knows."""

    orgs: dict[str, int] = field(default_factory=dict)
    users: dict[str, GitHubUser] = field(default_factory=dict)
    page_size: int = 2
    seen: list[tuple[str, str]] = field(default_factory=list)  # (path, Authorization header)
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"https://127.0.0.1:{self.server.server_address[1]}{PREFIX}"

    def start(self, pem: Pem) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.seen.append((self.path, self.headers.get("Authorization", "")))
                status, body, link = fake.answer(self.path, self.headers.get("Authorization", ""))
                payload = orjson.dumps(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if link:
                    self.send_header("Link", f'<{link}>; rel="next"')
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pem.cert, pem.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def answer(self, raw_path: str, authorization: str) -> tuple[int, Any, str | None]:
        parts = urlsplit(raw_path)
        if not parts.path.startswith(PREFIX):
            return 404, {"message": "Not Found"}, None
        path = parts.path[len(PREFIX) :]
        page = int(parse_qs(parts.query).get("page", ["1"])[0])
        if path.startswith("orgs/"):
            name = path[len("orgs/") :]
            if name not in self.orgs:
                return 404, {"message": "Not Found"}, None
            return 200, {"login": name, "id": self.orgs[name]}, None
        user = self.users.get(authorization.removeprefix("Bearer ").strip()) if authorization else None
        if user is None:
            return (
                401,
                {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
                None,
            )
        if path == "user":
            return 200, {"login": user.login, "id": abs(hash(user.login)) % 10**6}, None
        if path == "user/orgs":
            items = [{"login": o, "id": self.orgs[o]} for o in user.orgs]
        elif path == "user/teams":
            items = [
                {"name": n, "slug": s, "organization": {"login": o, "id": self.orgs[o]}}
                for n, s, o in user.teams
            ]
        else:
            return 404, {"message": "Not Found"}, None
        start = (page - 1) * self.page_size
        chunk = items[start : start + self.page_size]
        more = start + self.page_size < len(items)
        link = f"{self.base_url}{path}?per_page=100&page={page + 1}" if more else None
        return 200, chunk, link
