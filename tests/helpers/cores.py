"""A core in the test's own process: in memory, initialised with one key share and unsealed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tessera.core.core import Core, CoreConfig
from tessera.storage.inmem import InmemPhysical


@contextmanager
def unsealed_core(config: CoreConfig | None = None) -> Iterator[Core]:
    """The core, shut down afterwards."""
    made = Core(InmemPhysical(), config or CoreConfig())
    made.unseal(made.initialize(1, 1)["keys"][0])
    try:
        yield made
    finally:
        made.shutdown()
