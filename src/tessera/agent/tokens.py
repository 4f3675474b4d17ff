"""The auto-auth token, handed from the auth handler to sinks, templates and the proxy.

Consumers only ever need the newest token: a subscription keeps the latest value and a flag, so a
slow consumer skips tokens that were already replaced instead of queueing stale ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Subscription:
    """One consumer's view: ``await next()`` returns the newest token not yet seen."""

    def __init__(self) -> None:
        self._token = ""
        self._event = asyncio.Event()

    def push(self, token: str) -> None:
        self._token = token
        self._event.set()

    def pending(self) -> bool:
        return self._event.is_set()

    async def next(self) -> str:
        await self._event.wait()
        self._event.clear()
        return self._token


class TokenBus:
    """The current auto-auth token and who wants to hear about a new one."""

    def __init__(self) -> None:
        self.token = ""
        self._subscriptions: list[Subscription] = []
        self._callbacks: list[Callable[[str], None]] = []

    def subscribe(self) -> Subscription:
        sub = Subscription()
        if self.token:
            sub.push(self.token)
        self._subscriptions.append(sub)
        return sub

    def on_token(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(token)`` synchronously on each publish (the proxy's cache registers it)."""
        self._callbacks.append(callback)

    def publish(self, token: str) -> None:
        self.token = token
        for callback in self._callbacks:
            callback(token)
        for sub in self._subscriptions:
            sub.push(token)
