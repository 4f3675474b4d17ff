"""The two versions a Tessera server has: its own, and the Vault API level it answers as.

Clients read ``version`` from ``sys/seal-status`` and ``sys/health`` to decide which Vault
features they may use (Terraform's Vault provider, hvac's test suite, Vault's UI). Tessera's own
``0.1.0`` there reads as a pre-1.0 Vault and turns those features off, so the servers answer with
``VAULT_VERSION``: the Vault release whose API Tessera implements (``hvs.`` tokens of 1.10+,
``mount_type`` of 1.12+, KV, transit, AppRole, userpass and the token store as in 1.16). Tessera's
own version stays in ``tessera version``, ``tessera status`` and the ``tessera_version`` field.
"""

from __future__ import annotations

from . import __version__

TESSERA_VERSION = __version__
VAULT_VERSION = "1.16.3"
