"""sys/replication/*: performance and DR replication as Vault Enterprise's API shows it.

The state and the log are ``replication/manager.py``'s; this module declares the paths: the
statuses (``sys/replication/status`` and the DR one need no token), a primary's enable, disable,
demote, secondary tokens (sudo; answered response-wrapped, ``data: null`` and ``wrap_info``) and
revocations, and the performance paths filters.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..core import rootgen
from ..framework import Field, FieldData, FieldType, Operation, Path, Request, Response, WrapInfo
from ..framework.backend import Handler
from ..framework.errors import ErrorResponse, NotFound, PermissionDenied
from ..replication.manager import DEFAULT_TOKEN_TTL, LABELS
from ..replication.state import KINDS

if TYPE_CHECKING:
    from ..core.core import Core

_ENABLE = {
    "primary_cluster_addr": Field(
        FieldType.STRING, "The cluster address secondaries connect to, if not this server's own."
    )
}
_TOKEN = {
    "id": Field(FieldType.STRING, "A unique name for the secondary this token activates."),
    "ttl": Field(FieldType.DURATION, "How long the activation token is valid.", default=DEFAULT_TOKEN_TTL),
    "secondary_public_key": Field(FieldType.STRING, "Not supported: the token is response-wrapped."),
}
_REVOKE = {"id": Field(FieldType.STRING, "The secondary to revoke.")}
_SECONDARY = {
    "token": Field(FieldType.STRING, "The activation token from the primary's secondary-token."),
    "primary_api_addr": Field(FieldType.STRING, "The primary's API address, where the token is unwrapped."),
    "ca_file": Field(FieldType.STRING, "A CA file to verify the primary's API address with."),
    "ca_path": Field(FieldType.STRING, "Not supported: use ca_file."),
}
_UPDATE_PRIMARY = {
    **_SECONDARY,
    "token": Field(FieldType.STRING, "An activation token from the new primary; blank: forget the primary."),
    "update_primary_addrs": Field(
        FieldType.COMMA_STRING_SLICE, "Not supported: give an activation token from the new primary."
    ),
    "dr_operation_token": Field(FieldType.STRING, "A DR operation token (DR secondaries)."),
}
_PROMOTE = {
    "dr_operation_token": Field(FieldType.STRING, "A DR operation token (DR secondaries)."),
    "primary_cluster_addr": Field(FieldType.STRING, "Not supported yet."),
    "force": Field(FieldType.BOOL, "Not needed: promotion does not wait for the old primary."),
}
SEAL_DELAY = 0.5  # seconds: the enable's answer goes out before the server seals
_FILTER = {
    "id": Field(FieldType.STRING, "The secondary the filter applies to."),
    "mode": Field(FieldType.STRING, "allow or deny: what the listed paths are.", default="allow"),
    "paths": Field(FieldType.COMMA_STRING_SLICE, "Mount paths to allow or deny."),
}


def replication_paths(core: Core) -> list[Path]:
    """Every sys/replication path this server answers."""

    def status_all(req: Request, data: FieldData) -> Response:
        rep = core.replication
        return Response(data={kind: rep.status(kind) for kind in KINDS})

    def filter_write(req: Request, data: FieldData) -> Response | None:
        core.replication.set_paths_filter(
            str(data.get("id")), str(data.get("mode")), list(data.get("paths") or [])
        )
        return None

    def filter_read(req: Request, data: FieldData) -> Response:
        found = core.replication.paths_filter(str(data.get("id")))
        if found is None:
            raise NotFound()
        return Response(data={"mode": found.mode, "paths": list(found.paths)})

    def filter_delete(req: Request, data: FieldData) -> Response | None:
        core.replication.delete_paths_filter(str(data.get("id")))
        return None

    paths = [
        Path(
            "replication/status",
            operations={Operation.READ: status_all},
            unauthenticated=True,
            synopsis="The replication status of both kinds, performance and DR.",
        ),
        Path(
            "replication/performance/primary/paths-filter/(?P<id>[^/]+)",
            fields=_FILTER,
            operations={
                Operation.UPDATE: filter_write,
                Operation.READ: filter_read,
                Operation.DELETE: filter_delete,
            },
            synopsis="Which mounts replicate to one performance secondary.",
        ),
    ]
    for kind in KINDS:
        paths += _kind_paths(core, kind)
    return paths


def _kind_paths(core: Core, kind: str) -> list[Path]:
    """One kind's status and primary paths (their URLs differ only by the kind)."""
    base = f"replication/{kind}"
    label = LABELS[kind]

    def status(req: Request, data: FieldData) -> Response:
        return Response(data=core.replication.status(kind))

    def enable(req: Request, data: FieldData) -> Response:
        return Response(warnings=core.replication.enable_primary(kind, str(data.get("primary_cluster_addr"))))

    def disable(req: Request, data: FieldData) -> Response:
        return Response(warnings=core.replication.disable_primary(kind))

    def demote(req: Request, data: FieldData) -> Response:
        return Response(warnings=core.replication.demote(kind))

    def secondary_token(req: Request, data: FieldData) -> Response:
        ttl = int(data.get("ttl")) or DEFAULT_TOKEN_TTL
        bundle = core.replication.secondary_token(kind, str(data.get("id")), ttl)
        # The activation token is this bundle, response-wrapped: the pipeline stores it in a
        # single-use wrapping token's cubbyhole and answers with wrap_info alone.
        wrap = WrapInfo(token="", accessor="", ttl=ttl, creation_time="", creation_path=req.full_path)
        return Response(data=bundle, wrap_info=wrap)

    def revoke(req: Request, data: FieldData) -> Response | None:
        core.replication.revoke_secondary(kind, str(data.get("id")))
        return None

    def secondary_enable(req: Request, data: FieldData) -> Response:
        warnings = core.replication.enable_secondary(
            kind, str(data.get("token")), str(data.get("primary_api_addr")), str(data.get("ca_file"))
        )
        # The storage now holds the primary's keyring: seal, to be unsealed with the primary's keys.
        threading.Timer(SEAL_DELAY, core.seal).start()
        return Response(warnings=warnings)

    def promote(req: Request, data: FieldData) -> Response:
        if kind == "dr":
            check_dr_operation_token(core, str(data.get("dr_operation_token")), req.full_path)
        return Response(warnings=core.replication.promote(kind))

    def delete_operation_token(req: Request, data: FieldData) -> Response | None:
        token = str(data.get("dr_operation_token"))
        check_dr_operation_token(core, token, req.full_path)
        generation = rootgen.generation(core)
        if generation.check_dr_token(token):
            generation.dr_token = ""
        return None

    def update_primary(req: Request, data: FieldData) -> Response:
        if kind == "dr":
            check_dr_operation_token(core, str(data.get("dr_operation_token")), req.full_path)
        token = str(data.get("token"))
        if data.get("update_primary_addrs"):
            if token:
                raise ErrorResponse("only one of token or update_primary_addrs may be given")
            raise ErrorResponse(
                "update_primary_addrs is not supported: give an activation token from the primary"
            )
        warnings = core.replication.update_primary(
            kind, token, str(data.get("primary_api_addr")), str(data.get("ca_file"))
        )
        return Response(warnings=warnings)

    def secondary_disable(req: Request, data: FieldData) -> Response:
        if kind == "dr":
            check_dr_operation_token(core, str(data.get("dr_operation_token")), req.full_path)
        return Response(warnings=core.replication.disable_secondary(kind))

    def post(name: str, handler: Handler, synopsis: str, **extra: Any) -> Path:
        return Path(
            f"{base}/primary/{name}", operations={Operation.UPDATE: handler}, synopsis=synopsis, **extra
        )

    return [
        Path(
            f"{base}/status",
            operations={Operation.READ: status},
            unauthenticated=kind == "dr",
            synopsis=f"The {label} replication status of this cluster.",
        ),
        post("enable", enable, f"Make this cluster a {label} primary.", fields=_ENABLE),
        post("disable", disable, f"Stop {label} replication; secondaries can no longer connect."),
        post("demote", demote, f"Make this {label} primary a secondary with no primary."),
        post(
            "secondary-token",
            secondary_token,
            f"Issue a {label} secondary's activation token.",
            fields=_TOKEN,
            sudo=True,
        ),
        post("revoke-secondary", revoke, f"Disconnect a {label} secondary for good.", fields=_REVOKE),
        Path(
            f"{base}/secondary/enable",
            fields=_SECONDARY,
            operations={Operation.UPDATE: secondary_enable},
            synopsis=f"Make this cluster a {label} secondary of the primary that issued the token.",
        ),
        Path(
            f"{base}/secondary/promote",
            fields=_PROMOTE,
            operations={Operation.UPDATE: promote},
            # A DR secondary has no usable token store: its dr_operation_token is checked instead.
            unauthenticated=kind == "dr",
            synopsis=f"Make this {label} secondary the primary.",
        ),
        *(
            [
                Path(
                    f"{base}/secondary/operation-token/delete",
                    fields={"dr_operation_token": _PROMOTE["dr_operation_token"]},
                    operations={Operation.UPDATE: delete_operation_token},
                    unauthenticated=True,
                    synopsis="Forget the DR operation token generated on this secondary.",
                )
            ]
            if kind == "dr"
            else []
        ),
        Path(
            f"{base}/secondary/update-primary",
            fields=_UPDATE_PRIMARY,
            operations={Operation.UPDATE: update_primary},
            unauthenticated=kind == "dr",
            synopsis="Follow another primary (a promoted DR secondary, say) with its activation token.",
        ),
        Path(
            f"{base}/secondary/disable",
            fields={"dr_operation_token": _PROMOTE["dr_operation_token"]},
            operations={Operation.UPDATE: secondary_disable},
            unauthenticated=kind == "dr",
            synopsis=f"Stop following the primary; this {label} secondary keeps its data.",
        ),
    ]


def check_dr_operation_token(core: Core, token: str, path: str) -> None:
    """A DR operation: ``dr_operation_token`` must be the one generated here from the primary's key
    shares, or a live token (a batch token of the primary's, read with the replicated keyring)
    whose policies allow ``update`` on the operation's path."""
    if rootgen.generation(core).check_dr_token(token):
        return
    entry = core.resolve_token(token) if token else None
    if entry is None:
        raise PermissionDenied()
    if not core.acl_for(entry).allow_operation("update", path, None, 0, False).allowed:
        raise PermissionDenied(acl=True)
