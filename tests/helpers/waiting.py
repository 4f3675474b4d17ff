"""Waiting for something another thread, process or node does: poll, bounded, and say what timed out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(
    condition: Callable[[], T], what: str = "the condition", timeout: float = 30.0, interval: float = 0.02
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something true, and return
    that; an AssertionError naming ``what`` once ``timeout`` seconds have passed. The default is
    generous: a waiting test costs only what it waits, and CI's two busy cores can take seconds
    over what an idle machine needs (an HA election under a full suite took over 10 s once)."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)
