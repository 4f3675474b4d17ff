"""The background thread of an unsealed core: a pass of expiry work about four times a second."""

from __future__ import annotations

import threading
from collections.abc import Callable

# Seconds one background pass may spend on each kind of expiry before the others get a turn.
TICK_BUDGET = 2.0
TICK_EVERY = 0.25


class Ticker:
    """Runs ``run_pass`` every ``TICK_EVERY`` seconds between ``start`` and ``stop``."""

    def __init__(self, run_pass: Callable[[], None]) -> None:
        self.run_pass = run_pass
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="tessera-expiry", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(TICK_EVERY):
            self.run_pass()
