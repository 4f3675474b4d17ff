"""sys/leases/*: look up, renew, revoke and tidy leases (and the legacy sys/renew, sys/revoke paths)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from ..framework.errors import NotFound

if TYPE_CHECKING:
    from ..core.core import Core

TIDY_WARNING = "Tidy operation successfully started. Any information from the operation will be printed to Tessera's server logs."


def lease_paths(core: Core) -> list[Path]:
    def manager():
        if core.lease_manager is None:
            raise ErrorResponse("expiration manager is not running")
        return core.lease_manager

    def lookup(req: Request, data: FieldData) -> Response:
        lease_id = data.get("lease_id").strip()
        if not lease_id:
            raise ErrorResponse("lease_id must be specified")
        return Response(data=manager().lookup(lease_id))

    def list_leases(req: Request, data: FieldData) -> Response | None:
        prefix = data.get("prefix")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        keys = manager().list_prefix(prefix)
        if not keys:
            raise NotFound()
        return Response(data={"keys": keys})

    def renew(req: Request, data: FieldData) -> Response:
        lease_id = (data.get("url_lease_id") or data.get("lease_id")).strip()
        if not lease_id:
            raise ErrorResponse("lease_id must be specified")
        return manager().renew(lease_id, data.get("increment"))

    def revoke(req: Request, data: FieldData) -> Response | None:
        lease_id = (data.get("url_lease_id") or data.get("lease_id")).strip()
        if not lease_id:
            raise ErrorResponse("lease_id must be specified")
        if data.get("sync"):
            manager().revoke(lease_id)
            return None
        mgr = manager()
        threading.Thread(target=_quiet(mgr.revoke, lease_id), daemon=True).start()
        return Response(status=202)

    def revoke_prefix(req: Request, data: FieldData) -> Response | None:
        prefix = data.get("prefix")
        if data.get("sync"):
            manager().revoke_prefix(prefix)
            return None
        mgr = manager()
        threading.Thread(target=_quiet(mgr.revoke_prefix, prefix), daemon=True).start()
        return Response(status=202)

    def revoke_force(req: Request, data: FieldData) -> Response | None:
        manager().revoke_prefix(data.get("prefix"), force=True)
        return None

    def tidy(req: Request, data: FieldData) -> Response:
        mgr = manager()
        threading.Thread(target=_quiet(mgr.tidy), daemon=True).start()
        return Response(warnings=[TIDY_WARNING], status=202)

    def count(req: Request, data: FieldData) -> Response | None:
        if data.get("type") != "irrevocable":
            raise NotFound()
        return Response(data={"counts": {}, "lease_count": 0})

    def irrevocable(req: Request, data: FieldData) -> Response | None:
        if data.get("type") != "irrevocable":
            raise NotFound()
        return Response(data={"lease_count": 0, "leases": []})

    lease_id = Field(FieldType.STRING, "The lease identifier.")
    sync = Field(FieldType.BOOL, "Wait for the revocation to finish.", default=True)
    increment = Field(FieldType.DURATION, "The requested amount of time in seconds to extend the lease.")
    prefix = Field(FieldType.STRING, "The path prefix to revoke.")
    paths: list[Path] = [
        Path(
            "leases/lookup",
            fields={"lease_id": lease_id},
            operations={Operation.UPDATE: lookup},
            synopsis="View or list lease metadata.",
        ),
        Path(
            "leases/lookup/(?P<prefix>.+?)?",
            sudo=True,
            special=("leases/lookup/*",),
            fields={"prefix": Field(FieldType.STRING, "The path prefix to list.")},
            operations={Operation.LIST: list_leases},
            synopsis="List leases under a prefix.",
        ),
        Path("leases/count", fields={"type": Field(FieldType.STRING)}, operations={Operation.READ: count}),
        Path(
            "leases",
            fields={"type": Field(FieldType.STRING)},
            operations={Operation.READ: irrevocable},
            sudo=True,
        ),
        Path("leases/tidy", operations={Operation.UPDATE: tidy}, synopsis="Clean up dangling lease indexes."),
    ]
    for base in ("leases/renew", "renew"):
        paths.append(
            Path(
                base + "(/(?P<url_lease_id>.+))?",
                fields={"lease_id": lease_id, "url_lease_id": lease_id, "increment": increment},
                operations={Operation.UPDATE: renew},
                synopsis="Renew a lease on a secret.",
            )
        )
    for base in ("leases/revoke", "revoke"):
        paths.append(
            Path(
                base + "(/(?P<url_lease_id>.+))?",
                fields={"lease_id": lease_id, "url_lease_id": lease_id, "sync": sync},
                operations={Operation.UPDATE: revoke},
                synopsis="Revoke a leased secret immediately.",
            )
        )
    for base in ("leases/revoke-prefix", "revoke-prefix"):
        paths.append(
            Path(
                base + "/(?P<prefix>.+)",
                fields={"prefix": prefix, "sync": sync},
                sudo=True,
                operations={Operation.UPDATE: revoke_prefix},
                synopsis="Revoke all secrets generated under a prefix.",
            )
        )
    for base in ("leases/revoke-force", "revoke-force"):
        paths.append(
            Path(
                base + "/(?P<prefix>.+)",
                fields={"prefix": prefix},
                sudo=True,
                operations={Operation.UPDATE: revoke_force},
                synopsis="Revoke all secrets under a prefix, ignoring backend errors.",
            )
        )
    return paths


def _quiet(fn, *args):
    def run() -> None:
        try:
            fn(*args)
        except Exception:  # the manager logged it and rescheduled the lease
            pass

    return run
