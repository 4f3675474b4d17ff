"""Longest-prefix routing from a request path to a mounted backend."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..framework import Backend
from ..storage.base import StorageView
from .mounts import MountEntry


@dataclass
class Route:
    entry: MountEntry
    backend: Backend
    storage: StorageView


class Router:
    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._sorted: list[str] = []
        self._lock = threading.Lock()

    def mount(self, route: Route) -> None:
        with self._lock:
            self._routes[route.entry.route_prefix] = route
            self._sorted = sorted(self._routes, key=len, reverse=True)

    def unmount(self, prefix: str) -> None:
        with self._lock:
            self._routes.pop(prefix, None)
            self._sorted = sorted(self._routes, key=len, reverse=True)

    def clear(self) -> None:
        with self._lock:
            self._routes.clear()
            self._sorted = []

    def match(self, path: str) -> Route | None:
        """The mount whose prefix is the longest prefix of ``path`` (or of ``path + '/'``)."""
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
