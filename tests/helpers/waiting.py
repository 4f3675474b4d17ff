"""Waiting for something another thread, process or node does: poll, bounded, and say what timed out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(
    condition: Callable[[], T], what: str = "the condition", timeout: float = 10.0, interval: float = 0.02
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something true, and return
    that; an AssertionError naming ``what`` once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)
