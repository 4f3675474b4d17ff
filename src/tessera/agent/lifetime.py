"""Vault's LifetimeWatcher (``api/lifetime_watcher.go``), on asyncio.

It keeps a token or lease alive and says when to give up on it:

* a random grace of 10–20 % of the lease ("let 80–90 % elapse");
* renew at once, then sleep ``2/3 × remaining + grace/3``;
* return (the caller re-authenticates or re-reads) when the remaining time is within the grace, or
  would be after the next sleep: this is how a max TTL ends renewal, and how a non-renewable
  (batch) token gets replaced before it expires;
* on a renewal error, retry on an exponential backoff (10 s initial, ×2, randomised, at most 5 min)
  until the lease runs out — never hammering the server;
* a renewal refused as not permitted or not renewable is treated like a non-renewable secret (Vault
  PR #26844): wait out the lease and let the caller re-authenticate in time, instead of failing at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .client import ResponseError

INITIAL_RETRY_INTERVAL = 10.0
MAX_RETRY_INTERVAL = 300.0


class NotRenewableError(Exception):
    """``secret is not renewable``: nothing to watch (no token or lease id)."""

    def __init__(self) -> None:
        super().__init__("secret is not renewable")


@dataclass
class Lifetime:
    """What the watcher needs to know of a token or a lease."""

    credential: str  # the token (token mode) or the lease id
    lease_duration: float
    renewable: bool


def calculate_grace(lease: float, increment: float, rng: random.Random) -> float:
    """Grace = random in [10 %, 20 %) of min(lease, increment)."""
    base = lease
    if increment > 0 and base > increment:
        base = increment
    if base <= 0:
        return 0.0
    jitter_max = 0.1 * base
    return jitter_max + rng.random() * jitter_max


def sleep_duration(remaining: float, grace: float) -> float:
    """2/3 of the remaining lease plus 1/3 of the grace (which adds the jitter)."""
    return remaining * 2 / 3 + grace / 3


class ExponentialBackoff:
    """cenkalti/backoff's ExponentialBackOff: randomisation 0.5, multiplier 2."""

    def __init__(self, initial: float, maximum: float, rng: random.Random) -> None:
        self.interval = initial
        self.maximum = maximum
        self.rng = rng

    def next(self) -> float:
        delta = 0.5 * self.interval
        value = self.interval - delta + self.rng.random() * (2 * delta)
        self.interval = min(self.interval * 2, self.maximum)
        return value


def refused_as_not_renewable(exc: BaseException) -> bool:
    """A renewal the server will never grant: treat like a non-renewable secret."""
    if not isinstance(exc, ResponseError):
        return False
    if exc.status == 403:
        return True
    text = " ".join(exc.errors).lower()
    return exc.status == 400 and ("not renewable" in text or "cannot be renewed" in text)


RenewFunc = Callable[[str, int], Awaitable[tuple[float, bool]]]


class LifetimeWatcher:
    """Watch one token or lease; ``run`` returns None when it is time to replace it, or the last error.

    ``renew(credential, increment)`` performs one renewal and returns (new lease duration, renewable).
    ``on_renew(duration)`` is told of each successful renewal; ``on_error(exc, retry_in)`` of each failed one.
    """

    def __init__(
        self,
        lifetime: Lifetime,
        renew: RenewFunc,
        *,
        increment: int = 0,
        on_renew: Callable[[float], None] | None = None,
        on_error: Callable[[BaseException, float | None], None] | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lifetime = lifetime
        self.renew = renew
        self.increment = increment
        self.on_renew = on_renew
        self.on_error = on_error
        self.rng = rng or random.Random()
        self.clock = clock
        self.grace = 0.0

    async def run(self) -> BaseException | None:
        lt = self.lifetime
        if not lt.credential:
            return NotRenewableError()
        non_renewable = not lt.renewable
        initial_time = self.clock()
        lease = float(lt.lease_duration)
        prior = lease
        self.grace = calculate_grace(prior, self.increment, self.rng)
        backoff: ExponentialBackoff | None = None
        err: BaseException | None = None
        while True:
            fallback = initial_time + lease - self.clock()
            if non_renewable:
                remaining = fallback
            else:
                try:
                    new_lease, _renewable = await self.renew(lt.credential, self.increment)
                    err = None
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    err = exc
                    if refused_as_not_renewable(exc):
                        non_renewable = True
                        remaining = fallback
                        if self.on_error:
                            self.on_error(exc, None)
                    else:
                        remaining = fallback
                        if backoff is None:
                            backoff = ExponentialBackoff(INITIAL_RETRY_INTERVAL, MAX_RETRY_INTERVAL, self.rng)
                else:
                    backoff = None
                    if self.on_renew:
                        self.on_renew(new_lease)
                    initial_time = self.clock()
                    lease = new_lease
                    remaining = new_lease
            if backoff is not None and err is not None and not non_renewable:
                if remaining < 0:
                    return err
                sleep = backoff.next()
                if self.on_error:
                    self.on_error(err, sleep)
            else:
                if remaining > prior:
                    self.grace = calculate_grace(remaining, self.increment, self.rng)
                sleep = sleep_duration(remaining, self.grace)
            prior = remaining
            if remaining <= self.grace or remaining - sleep <= self.grace:
                return err if backoff is not None else None
            await asyncio.sleep(sleep)


async def renew_token(client: Any, token: str, increment: int) -> tuple[float, bool]:
    """``PUT auth/token/renew-self`` (RenewTokenAsSelf)."""
    resp = await client.request("PUT", "auth/token/renew-self", token=token, data={"increment": increment})
    auth = (resp or {}).get("auth")
    if not isinstance(auth, dict):
        raise ValueError("returned empty secret data")
    return float(auth.get("lease_duration") or 0), bool(auth.get("renewable"))


def lease_renewer(client: Any, token: str) -> RenewFunc:
    """``PUT sys/leases/renew`` with the token that owns the lease."""

    async def renew(lease_id: str, increment: int) -> tuple[float, bool]:
        resp = await client.request(
            "PUT", "sys/leases/renew", token=token, data={"lease_id": lease_id, "increment": increment}
        )
        if not isinstance(resp, dict):
            raise ValueError("returned empty secret data")
        return float(resp.get("lease_duration") or 0), bool(resp.get("renewable"))

    return renew
