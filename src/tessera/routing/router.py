"""Longest-prefix routing from a request path to a mounted backend.

Every request matches its path (a worker process twice: once to decide how it holds its state
lock, ``cluster/standby.py``), and the same few paths come back request after request, so each
answer is remembered per path until the mounts change.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..framework import Backend
from ..storage.base import StorageView
from .mounts import MountEntry

_UNKNOWN = object()  # ``Router.match`` has not seen the path since the mounts last changed


@dataclass
class Route:
    entry: MountEntry
    backend: Backend
    storage: StorageView


_MATCHED_PATHS = 4096  # paths remembered at most (then forgotten at once, and learnt again)
_MATCHED_LENGTH = 256  # longer paths are searched each time: the memo stays small whatever clients send


class Router:
    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._sorted: list[str] = []
        self._lock = threading.Lock()
        # Path -> what ``match`` found; a new dict at every change of the mounts (see ``match``).
        self._matched: dict[str, Route | None] = {}

    def mount(self, route: Route) -> None:
        with self._lock:
            self._routes[route.entry.route_prefix] = route
            self._sorted = sorted(self._routes, key=len, reverse=True)
            self._matched = {}

    def unmount(self, prefix: str) -> None:
        with self._lock:
            self._routes.pop(prefix, None)
            self._sorted = sorted(self._routes, key=len, reverse=True)
            self._matched = {}

    def clear(self) -> None:
        with self._lock:
            self._routes.clear()
            self._sorted = []
            self._matched = {}

    def match(self, path: str) -> Route | None:
        """The mount whose prefix is the longest prefix of ``path`` (or of ``path + '/'``).

        Remembered in the dict current when the search began: a change of the mounts replaces
        that dict after changing the prefixes, so an answer found with the old prefixes lands in
        a dict no one reads any more.
        """
        matched = self._matched
        found = matched.get(path, _UNKNOWN)
        if found is not _UNKNOWN:
            return found  # type: ignore[return-value]
        found = self._search(path)
        if len(path) <= _MATCHED_LENGTH:
            if len(matched) >= _MATCHED_PATHS:
                matched.clear()
            matched[path] = found
        return found

    def _search(self, path: str) -> Route | None:
        slashed = path + "/"
        for prefix in self._sorted:
            if path.startswith(prefix) or slashed == prefix:
                return self._routes[prefix]
        return None

    def get(self, prefix: str) -> Route | None:
        return self._routes.get(prefix)

    def routes(self) -> list[Route]:
        return list(self._routes.values())

    def conflicts(self, prefix: str) -> str | None:
        """An existing mount that would overlap ``prefix`` (either is a prefix of the other)."""
        for existing in self._routes:
            if prefix.startswith(existing) or existing.startswith(prefix):
                return existing
        return None
