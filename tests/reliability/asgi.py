"""Tessera in-process: a dev core behind the real ASGI ``App``, driven without sockets.

Fuzzing over HTTP costs a socket round trip per request; calling the ASGI callable directly runs
the very same code (``App`` → ``Core``) about ten times faster, and lets a test capture the
server's log records.
"""

from __future__ import annotations

import asyncio
import json as _json
import logging
from collections.abc import Mapping
from typing import Any

import orjson

from tessera.core.core import Core, CoreConfig
from tessera.routing.mounts import MountEntry
from tessera.server.app import App
from tessera.storage.base import Physical
from tessera.storage.inmem import InmemPhysical
from tessera.tokens.entry import TokenEntry

ROOT = "root"


def dev_core(physical: Physical | None = None, root_token: str = ROOT) -> tuple[Core, bytes]:
    """What ``server -dev`` sets up (one key, unsealed, KV v2 at secret/), without ~/.vault-token."""
    core = Core(physical or InmemPhysical(), CoreConfig(dev=True))
    result = core.initialize(1, 1)
    key: bytes = result["keys"][0]
    core.unseal(key)
    first = core.tokens.lookup(result["root_token"])
    core.tokens.create(
        TokenEntry(id=root_token, policies=["root"], path="auth/token/create", display_name="token")
    )
    core.tokens.revoke_tree(first)
    core.mount(MountEntry.new("secret", "secret/", "kv", description="kv", options={"version": "2"}))
    return core, key


class AsgiClient:
    """Calls an ASGI app as granian would: one ``http`` scope per request, the body in one message."""

    def __init__(self, app: App, client: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        self.app = app
        self.client = client
        self.loop = asyncio.new_event_loop()

    def close(self) -> None:
        self.app.executor.shutdown(wait=True)
        self.loop.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        query: str = "",
        client: tuple[str, int] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """One request; ``path`` is relative to /v1/ unless it starts with '/'. Returns (status, JSON or None, headers)."""
        raw = body if body is not None else (_json.dumps(json).encode() if json is not None else b"")
        all_headers = {
            "content-type": "application/json",
            **{k.lower(): v for k, v in (headers or {}).items()},
        }
        if token is not None:
            all_headers["x-vault-token"] = token
        scope = {
            "type": "http",
            "method": method.upper(),
            "path": path if path.startswith("/") else "/v1/" + path,
            "query_string": query.encode("latin-1"),
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in all_headers.items()],
            "client": client or self.client,
            "scheme": "http",
        }
        return self.loop.run_until_complete(self._call(scope, raw))

    async def _call(self, scope: dict[str, Any], raw: bytes) -> tuple[int, Any, dict[str, str]]:
        sent = False
        out: dict[str, Any] = {"body": b""}

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                out["status"] = message["status"]
                out["headers"] = {
                    k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message["headers"]
                }
            elif message["type"] == "http.response.body":
                out["body"] += message.get("body", b"")

        await self.app(scope, receive, send)
        try:
            parsed = orjson.loads(out["body"]) if out["body"] else None
        except orjson.JSONDecodeError:
            parsed = None
        return out["status"], parsed, out["headers"]


class LogCapture(logging.Handler):
    """Every record the server logs, formatted with its traceback, at every level."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(self.format(r) for r in self.records)

    def __enter__(self) -> LogCapture:
        root = logging.getLogger()
        self._old_level = root.level
        root.addHandler(self)
        root.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._old_level)
