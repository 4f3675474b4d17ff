"""Says so when expiry falls behind: the backlog figures ``sys/metrics`` reports, and a warning.

Expired tokens are refused at once whatever the backlog (lookups check the expiry time); the
backlog is what storage still holds, and an operator needs to know when it grows.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("tessera.expiry")

# Seconds between looks, and how late the oldest due item may be before a warning is logged.
EVERY = 10.0
LATE_AFTER = 30.0


@dataclass
class Backlog:
    tokens: int = 0
    leases: int = 0
    late_seconds: float = 0.0  # how long ago the oldest of them was due


class ExpiryWatch:
    def __init__(self, every: float = EVERY, late_after: float = LATE_AFTER) -> None:
        self.every = every
        self.late_after = late_after
        self._last = 0.0

    def check(self, core: Any, now: float | None = None) -> Backlog | None:
        """Measure the backlog at most every ``every`` seconds; store it on ``core`` and warn."""
        now = now if now is not None else time.time()
        if now - self._last < self.every:
            return None
        self._last = now
        backlog = measure(core, now)
        core.expiry_backlog = backlog
        if backlog.late_seconds > self.late_after:
            log.warning(
                "expiry is behind: %d tokens and %d leases past their expiry, the oldest %.0fs late",
                backlog.tokens,
                backlog.leases,
                backlog.late_seconds,
            )
        return backlog


def measure(core: Any, now: float | None = None) -> Backlog:
    now = now if now is not None else time.time()
    tokens, token_late = core.tokens.expiry_backlog(now) if core.tokens is not None else (0, 0.0)
    manager = core.lease_manager
    leases, lease_late = manager.backlog(now) if manager is not None else (0, 0.0)
    return Backlog(tokens, leases, max(token_late, lease_late))
