"""sys/token-issuers: the issuance paths of batch tokens and their epochs (tokens/issuers.py).

``LIST`` names every path that can mint batch tokens now (the token-create paths, each token
role, each AppRole role) plus every path ever cut, parents (``auth/token/parent/<accessor>``)
included; ``GET <id>`` reads one's epoch (0 until cut);
``POST <id>/bump`` (sudo) cuts it: every batch token it minted before is refused from then on,
while tokens it mints afterwards work at once.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from ..framework.errors import PermissionDenied
from ..storage.base import StorageView
from ..tokens.common import is_sudo
from ..tokens.roles import RoleStore
from ..tokens.store import TokenStoreError

if TYPE_CHECKING:
    from ..core.core import Core

# An issuer is an auth path: printable, no empty or dot segments.
_VALID_ID = re.compile(r"auth/(?:[A-Za-z0-9_.@=+-]+/)*[A-Za-z0-9_.@=+-]+")
_ID = {"id": Field(FieldType.STRING, "Issuer id, e.g. auth/approle/role/ci")}


def valid_issuer(issuer: str) -> bool:
    return bool(_VALID_ID.fullmatch(issuer)) and ".." not in issuer.split("/")


def known_issuers(core: Core) -> list[str]:
    """Paths that can mint batch tokens now, and every path ever cut."""
    found = {"auth/token/create", "auth/token/create-orphan"}
    found.update(f"auth/token/create/{name}" for name in RoleStore(core.tokens.storage).list())
    for route in core.router.routes():
        issuers = route.backend.batch_token_issuers
        if issuers is not None:
            view = StorageView(core.barrier, route.entry.storage_prefix)
            found.update(route.entry.route_prefix + path for path in issuers(view))
    found.update(core.tokens.issuers.bumped())
    return sorted(found)


def token_issuer_paths(core: Core) -> list[Path]:
    def checked(data: FieldData) -> str:
        issuer = data.get("id")
        if not valid_issuer(issuer):
            raise ErrorResponse(f'invalid issuer id "{issuer}"')
        return str(issuer)

    def list_issuers(req: Request, data: FieldData) -> Response:
        issuers = core.tokens.issuers
        keys = known_issuers(core)
        return Response(data={"keys": keys, "key_info": {k: {"epoch": issuers.epoch(k)} for k in keys}})

    def read_issuer(req: Request, data: FieldData) -> Response:
        issuer = checked(data)
        return Response(data={"id": issuer, "epoch": core.tokens.issuers.epoch(issuer)})

    def bump_issuer(req: Request, data: FieldData) -> Response:
        if not is_sudo(core, req):
            raise PermissionDenied()
        issuer = checked(data)
        try:
            return Response(data={"id": issuer, "epoch": core.tokens.bump_issuer(issuer)})
        except TokenStoreError as exc:
            raise ErrorResponse(str(exc)) from None

    return [
        Path(
            r"token-issuers/?$",
            operations={Operation.LIST: list_issuers},
            synopsis="List batch-token issuance paths and their epochs.",
        ),
        Path(
            r"token-issuers/(?P<id>.+)/bump$",
            fields=_ID,
            operations={Operation.UPDATE: bump_issuer},
            synopsis="Cut an issuance path: refuse every batch token it minted until now.",
        ),
        Path(
            r"token-issuers/(?P<id>.+)$",
            fields=_ID,
            operations={Operation.READ: read_issuer},
            synopsis="Read an issuance path's epoch.",
        ),
    ]
