"""Dev mode: initialise in memory with one unseal key, unseal, and mount KV v2 at secret/."""

from __future__ import annotations

import base64
import os

from ..core.core import Core
from ..routing.mounts import MountEntry
from ..tokens.entry import TokenEntry


def setup_dev(core: Core, root_token_id: str, api_addr: str) -> str:
    result = core.initialize(1, 1)
    key: bytes = result["keys"][0]
    core.unseal(key)
    root = result["root_token"]
    if root_token_id:
        # Vault's dev mode creates the custom root through auth/token/create and revokes the first.
        first = core.tokens.lookup(root)
        core.tokens.create(
            TokenEntry(
                id=root_token_id,
                policies=["root"],
                path="auth/token/create",
                display_name="token",
                renewable=False,
            )
        )
        core.tokens.revoke_tree(first)
        root = root_token_id
    core.mount(
        MountEntry.new(
            "secret", "secret/", "kv", description="key/value secret storage", options={"version": "2"}
        )
    )
    _write_token_helper(root)
    unseal_b64 = base64.b64encode(key).decode()
    return f"""WARNING! dev mode is enabled! In this mode, Tessera runs entirely in-memory
and starts unsealed with a single unseal key. The root token is already
authenticated to the CLI, so you can immediately begin using Tessera.

You may need to set the following environment variables:

    $ export VAULT_ADDR='{api_addr}'

The unseal key and root token are displayed below in case you want to
seal/unseal the Vault or re-authenticate.

Unseal Key: {unseal_b64}
Root Token: {root}

Development mode should NOT be used in production installations!
"""


def _write_token_helper(token: str) -> None:
    """Like Vault's dev mode: the root token is stored for the CLI in ~/.vault-token."""
    home = os.path.expanduser("~")
    path = os.path.join(home, ".vault-token")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token)
    except OSError:
        pass
