"""The LifetimeWatcher's schedule: grace, sleep, when it gives up, how it treats refusals and errors.

These drive the watcher with a scripted renew function and sub-second leases (real time); the
end-to-end tests run it against a real server.
"""

from __future__ import annotations

import asyncio
import random
import time

from tessera.agent.client import ResponseError, TransportError
from tessera.agent.lifetime import (
    ExponentialBackoff,
    Lifetime,
    LifetimeWatcher,
    NotRenewableError,
    calculate_grace,
    sleep_duration,
)


def test_grace_is_ten_to_twenty_percent() -> None:
    rng = random.Random(1)
    for _ in range(200):
        grace = calculate_grace(100, 0, rng)
        assert 10 <= grace < 20
    assert 1 <= calculate_grace(100, 10, rng) < 2  # the increment caps the base
    assert calculate_grace(0, 0, rng) == 0


def test_sleep_is_two_thirds_plus_a_third_of_the_grace() -> None:
    assert sleep_duration(30, 3) == 21


def test_error_backoff_doubles_with_jitter() -> None:
    backoff = ExponentialBackoff(10, 300, random.Random(2))
    values = [backoff.next() for _ in range(7)]
    for i, value in enumerate(values):
        base = min(10 * 2**i, 300)
        assert 0.5 * base <= value <= 1.5 * base


def _run(watcher: LifetimeWatcher) -> tuple[BaseException | None, float]:
    start = time.monotonic()
    result = asyncio.run(watcher.run())
    return result, time.monotonic() - start


def test_non_renewable_returns_before_expiry_without_renewing() -> None:
    calls: list[str] = []

    async def renew(cred: str, inc: int) -> tuple[float, bool]:
        calls.append(cred)
        return 1.0, True

    err, elapsed = _run(LifetimeWatcher(Lifetime("hvb.x", 0.6, False), renew))
    assert err is None and calls == []
    assert 0.35 < elapsed < 0.6


def test_renews_until_the_max_ttl_stops_extending_it() -> None:
    remaining = [0.9, 0.6, 0.3, 0.1]
    calls = 0

    async def renew(cred: str, inc: int) -> tuple[float, bool]:
        nonlocal calls
        calls += 1
        return remaining.pop(0) if remaining else 0.05, True

    renewed: list[float] = []
    err, elapsed = _run(LifetimeWatcher(Lifetime("hvs.x", 1.0, True), renew, on_renew=renewed.append))
    assert err is None
    assert renewed[0] == 0.9 and calls == len(renewed) >= 2
    assert elapsed < 1.2


def test_permission_denied_is_treated_as_not_renewable() -> None:
    async def renew(cred: str, inc: int) -> tuple[float, bool]:
        raise ResponseError(
            "PUT", "http://x/v1/auth/token/renew-self", 403, ["permission denied"], False, None
        )

    errors: list[tuple[BaseException, float | None]] = []
    err, elapsed = _run(
        LifetimeWatcher(Lifetime("hvs.x", 0.6, True), renew, on_error=lambda e, r: errors.append((e, r)))
    )
    assert len(errors) == 1 and errors[0][1] is None  # no retry backoff: wait for re-auth time
    assert err is None  # like a batch token: time to re-authenticate, not a failure
    assert 0.35 < elapsed < 0.6


def test_transport_error_on_a_short_lease_gives_up_at_once() -> None:
    async def renew(cred: str, inc: int) -> tuple[float, bool]:
        raise TransportError('Put "http://x": dial tcp 127.0.0.1:1: connect: connection refused')

    err, elapsed = _run(LifetimeWatcher(Lifetime("hvs.x", 4, True), renew))
    assert isinstance(err, TransportError) and elapsed < 0.2  # the 10 s retry would outlive the lease


def test_missing_credential() -> None:
    async def renew(cred: str, inc: int) -> tuple[float, bool]:
        raise AssertionError

    err, _ = _run(LifetimeWatcher(Lifetime("", 10, True), renew))
    assert isinstance(err, NotRenewableError)
