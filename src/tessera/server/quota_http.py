"""The HTTP layer's rate-limit step (Vault's rateLimitQuotaWrapping): a 429 or the headers to add.

The rules and their buckets live in core/quotas.py; this is only how an HTTP request meets them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from ..core.core import Core
from ..core.quotas import QuotaResult


def quota_path(method: str, path: str, query: dict[str, Any]) -> str:
    """buildLogicalPath: a listing's (or scan's) path ends in a slash."""
    listing = method == "LIST"
    if method == "GET":
        for name in ("list", "scan"):
            value = query.get(name)
            text = str(value[0] if isinstance(value, list) and value else value or "")
            listing = listing or text in ("1", "t", "T", "TRUE", "true", "True")
    if listing and not path.endswith("/"):
        return path + "/"
    return path


async def check_http(
    core: Core,
    run: Callable[..., Awaitable[Any]],
    method: str,
    path: str,
    query: dict[str, Any],
    body: bytes,
    client: str,
) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | list[tuple[bytes, bytes]]:
    """The HTTP layer's quota step: a 429 answer to send, or the headers to add to the real one."""
    manager = core.quotas
    if manager is None or not manager.quotas:
        return []
    logical = quota_path(method, path, query)
    result: QuotaResult | None = await run(manager.apply, logical, client, body)
    if result is None:
        return []
    if result.allowed:
        return result.headers
    message = f"request path {orjson.dumps(logical).decode()}: rate limit quota exceeded"
    return 429, orjson.dumps({"errors": [message]}), result.headers
