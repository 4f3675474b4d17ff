"""The two versions a Tessera server has: its own, and the Vault API level it answers as.

Clients read ``version`` from ``sys/seal-status`` and ``sys/health`` to decide which Vault
features they may use (Terraform's Vault provider, hvac's test suite, Vault's UI). Tessera's own
``0.1.0`` there reads as a pre-1.0 Vault and turns those features off, so the servers answer with
``VAULT_VERSION``: the Vault release whose API Tessera implements (``hvs.`` tokens of 1.10+,
``mount_type`` of 1.12+, KV, transit, AppRole, userpass and the token store as in 1.16). Tessera's
own version stays in ``tessera version``, ``tessera status`` and the ``tessera_version`` field.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os

from . import COMPILED_MANIFEST, __version__

TESSERA_VERSION = __version__
VAULT_VERSION = "1.16.3"


def build() -> str:
    """How this installation runs: compiled with mypyc (how many of its modules), or pure Python.
    ``python -m tessera.version`` prints it, for benchmarks to state."""
    if not os.path.exists(COMPILED_MANIFEST):
        return "pure Python"
    with open(COMPILED_MANIFEST, encoding="utf-8") as f:
        modules = json.load(f)["modules"]
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    native = 0
    for name in modules:
        spec = importlib.util.find_spec(name)
        native += bool(spec and spec.origin and spec.origin.endswith(suffixes))
    if native == 0:
        return "pure Python"
    return f"compiled with mypyc: {native} of {len(modules)} modules"


if __name__ == "__main__":
    print(f"tessera {TESSERA_VERSION} ({build()})")
