"""A rebuild of in-memory state from storage after an unseal, which a seal or a shutdown may stop.

The lease manager and the token store each rebuild their expiry schedule this way: in a thread of
its own (the unseal does not wait for every entry to be read), or in the caller's thread when told
to (tests, a node that needs the schedule at once). The rebuild polls :attr:`Rebuild.stopped`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Rebuild:
    """``start`` runs ``target``; ``stop`` asks it to end and waits for its thread (bounded)."""

    def __init__(self, target: Callable[[], None], name: str) -> None:
        self.target = target
        self.name = name
        self.stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, *, background: bool = True) -> None:
        self.stopped.clear()
        if not background:
            self.target()
            return
        self._thread = threading.Thread(target=self.target, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a rebuild still under way (the server seals or shuts down)."""
        self.stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout)
        self._thread = None
