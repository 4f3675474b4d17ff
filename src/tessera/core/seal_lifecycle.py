"""init, unseal and seal of one core: the barrier opens or closes and the state built on it
comes and goes with it; then the hooks run (the active process tells its workers).

The state itself (stores, mounts, audit devices) is the Core's to build and drop: it hands
``open_state``/``close_state`` in, so this module knows nothing above the barrier.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from time import perf_counter
from typing import Any

from ..barrier.aes_gcm import Barrier
from ..framework import ErrorResponse
from ..telemetry import metrics
from . import shamir
from .seal import SealManager


class SealLifecycle:
    """The seal state machine of one core."""

    def __init__(
        self,
        seal_manager: SealManager,
        barrier: Barrier,
        lock: threading.RLock,
        open_state: Callable[[bool], None],
        close_state: Callable[[], None],
        create_root: Callable[[], str],
    ) -> None:
        self.seal_manager = seal_manager
        self.barrier = barrier
        self.lock = lock
        self.open_state = open_state  # given first_time: lay down the initial state too
        self.close_state = close_state
        self.create_root = create_root
        self.unseal_hooks: list[Callable[[], None]] = []
        self.seal_hooks: list[Callable[[], None]] = []

    def initialized(self) -> bool:
        return self.seal_manager.config() is not None

    def initialize(self, shares: int, threshold: int) -> dict[str, Any]:
        """sys/init: create the barrier, the tables and a root token; the server stays sealed."""
        with self.lock:
            if self.initialized():
                raise ErrorResponse("Vault is already initialized")
            keys = self.seal_manager.initialize(shares, threshold)
            # Unseal briefly to lay down the initial state, then seal again as Vault does.
            self.barrier.unseal(keys[0] if len(keys) == 1 else shamir.combine(keys[:threshold]))
            self.open_state(True)
            root = self.create_root()
            self.seal()
        return {"keys": keys, "root_token": root}

    def unseal(self, share: bytes) -> bool:
        with self.lock:
            if not self.barrier.sealed:
                return True
            start = perf_counter()
            done = self.seal_manager.submit(share)
            if done:
                try:
                    self.open_state(False)
                except BaseException:
                    # Vault seals again when post-unseal fails (e.g. a mount table that no longer
                    # parses): an open barrier serving no mounts would look healthy and be useless.
                    self.seal()
                    raise
                for hook in self.unseal_hooks:
                    hook()
                metrics.CORE_UNSEAL.since(start)
            return done

    def seal(self) -> None:
        with self.lock:
            start = perf_counter()
            self.close_state()
            metrics.CORE_SEAL.since(start)
            self.barrier.seal()
            self.seal_manager.reset()
            for hook in self.seal_hooks:
                hook()
