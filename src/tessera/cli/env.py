"""Environment variables: ``TESSERA_X`` wins, then ``VAULT_X``, then ``BAO_X``.

Vault users export ``VAULT_ADDR``/``VAULT_TOKEN``; OpenBao users ``BAO_*``; Tessera's own names are
``TESSERA_*``. As in OpenBao, a variable that is present (even empty) wins over the later prefixes.
"""

from __future__ import annotations

import os

PREFIXES = ("TESSERA_", "VAULT_", "BAO_")


def lookup_env(name: str) -> str | None:
    """The value of ``VAULT_<name>`` under any accepted prefix (``name`` may carry ``VAULT_``)."""
    base = name.removeprefix("VAULT_")
    for prefix in PREFIXES:
        value = os.environ.get(prefix + base)
        if value is not None:
            return value
    return None


def read_env(name: str) -> str:
    """Like ``lookup_env`` but an absent variable reads as the empty string."""
    return lookup_env(name) or ""
