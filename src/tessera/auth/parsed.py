"""Stored documents a login reads every time, parsed once per stored value.

A login reads its role, entry or config from storage on every request (so that a change made by
another process is seen at once: the read itself is served by the barrier's cache), but turning
the JSON into an object is done again only when the stored bytes differ from the last ones. The
objects are shared between logins: callers must not change them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ..storage.base import Storage

MAX_CACHED_DOCS = 1024


class ParsedDocs:
    """One mount's parsed documents by storage key, with the bytes each was parsed from."""

    def __init__(self, limit: int = MAX_CACHED_DOCS) -> None:
        self.limit = limit
        self._docs: dict[str, tuple[bytes, Any]] = {}

    def get(self, storage: Storage, key: str, parse: Callable[[Any], Any]) -> Any:
        """``parse`` of the JSON stored at ``key``, or None when nothing is stored there."""
        raw = storage.get(key)
        if raw is None:
            return None
        cached = self._docs.get(key)
        if cached is not None and cached[0] == raw:
            return cached[1]
        value = parse(orjson.loads(raw))
        if len(self._docs) >= self.limit:
            self._docs.clear()
        self._docs[key] = (raw, value)
        return value
