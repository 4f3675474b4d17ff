"""KV version 2: versioned keys, assembled from the data and metadata path modules.

Building the backend also brings the mount's storage into the v2 layout, which is how a
mount tuned from version 1 to 2 upgrades its existing keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...framework import Backend, FieldData, Operation, Path, Request, Response
from ...storage.base import StorageView
from .common import guard_writes, locks_for_mount
from .store import V2Store
from .v2_data import V2Context, data_paths
from .v2_meta import metadata_paths

if TYPE_CHECKING:
    from ...core.core import Core
    from ...routing.mounts import MountEntry

HELP = (
    "This backend provides a versioned key-value store. The kv backend reads and\n"
    "writes arbitrary secrets to the storage backend. The secrets are\n"
    "encrypted/decrypted by Vault: they are never stored unencrypted in the backend\n"
    "and the backend never has an opportunity to see the unencrypted value. Each key\n"
    "can have a configured number of versions, and versions can be retrieved based on\n"
    "their version numbers."
)

ROOT_WARNING = "Non-listing operations on the root of a K/V v2 mount are not supported."
INVALID_WARNING = (
    "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API "
    "endpoints to use. If using the OpenBao CLI, use 'bao kv {}' for this operation."
)
_SUBCOMMANDS = {
    Operation.CREATE: "put",
    Operation.UPDATE: "put",
    Operation.PATCH: "patch",
    Operation.READ: "get",
    Operation.LIST: "list",
    Operation.SCAN: "scan",
    Operation.DELETE: "delete",
}


def invalid_path(req: Request, data: FieldData) -> Response:
    """Anything else on a v2 mount: a 404 whose warning points at the right ``bao kv`` command."""
    if req.path in ("metadata", "data", "delete", "undelete", "destroy"):
        return Response(warnings=[ROOT_WARNING], status=404)
    return Response(warnings=[INVALID_WARNING.format(_SUBCOMMANDS.get(req.operation, ""))], status=404)


def build(core: Core, entry: MountEntry) -> Backend:
    store = V2Store(prefix=entry.uuid + "/")
    store.ensure_layout(StorageView(core.barrier, entry.storage_prefix))
    ctx = V2Context(store=store, locks=locks_for_mount(entry.uuid))
    catch_all = Path(
        ".*",
        operations={op: invalid_path for op in _SUBCOMMANDS},
        # Vault renders this answer before it would list ignored parameters.
        takes_arbitrary_input=True,
        synopsis="Catches paths that are not part of the versioned K/V API.",
    )
    paths = [*metadata_paths(ctx), *data_paths(ctx), catch_all]
    return Backend(
        paths=guard_writes(paths),
        help=HELP,
        backend_type="kv",
        kind="logical",
        invalidate=Backend.keeps_nothing,
    )
