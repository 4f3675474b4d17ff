"""sys/leases/*: look up, renew, revoke and tidy leases (and the legacy sys/renew, sys/revoke paths)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from ..framework.errors import NotFound

if TYPE_CHECKING:
    from ..core.core import Core

TIDY_WARNING = "Tidy operation successfully started. Any information from the operation will be printed to Tessera's server logs."


class LeaseHandlers:
    """The handlers of sys/leases/* (and their older sys/renew, sys/revoke* names), over one Core."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def manager(self):
        if self.core.lease_manager is None:
            raise ErrorResponse("expiration manager is not running")
        return self.core.lease_manager

    def lookup(self, req: Request, data: FieldData) -> Response:
        lease_id = data.get("lease_id").strip()
        if not lease_id:
            raise ErrorResponse("lease_id must be specified")
        return Response(data=self.manager().lookup(lease_id))

    def list_leases(self, req: Request, data: FieldData) -> Response | None:
        prefix = data.get("prefix")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        keys = self.manager().list_prefix(prefix)
        if not keys:
            raise NotFound()
        return Response(data={"keys": keys})

    def renew(self, req: Request, data: FieldData) -> Response:
        lease_id = (data.get("url_lease_id") or data.get("lease_id")).strip()
        if not lease_id:
            raise ErrorResponse("lease_id must be specified")
        return self.manager().renew(lease_id, data.get("increment"))

    def revoke(self, req: Request, data: FieldData) -> Response | None:
        lease_id = (data.get("url_lease_id") or data.get("lease_id")).strip()
        if not lease_id:
            raise ErrorResponse("lease_id must be specified")
        if data.get("sync"):
            self.manager().revoke(lease_id)
            return None
        mgr = self.manager()
        threading.Thread(target=_quiet(mgr.revoke, lease_id), daemon=True).start()
        return Response(status=202)

    def revoke_prefix(self, req: Request, data: FieldData) -> Response | None:
        prefix = data.get("prefix")
        if data.get("sync"):
            self.manager().revoke_prefix(prefix)
            return None
        mgr = self.manager()
        threading.Thread(target=_quiet(mgr.revoke_prefix, prefix), daemon=True).start()
        return Response(status=202)

    def revoke_force(self, req: Request, data: FieldData) -> Response | None:
        self.manager().revoke_prefix(data.get("prefix"), force=True)
        return None

    def tidy(self, req: Request, data: FieldData) -> Response:
        mgr = self.manager()
        threading.Thread(target=_quiet(mgr.tidy), daemon=True).start()
        return Response(warnings=[TIDY_WARNING], status=202)

    def count(self, req: Request, data: FieldData) -> Response | None:
        if data.get("type") != "irrevocable":
            raise NotFound()
        return Response(data={"counts": {}, "lease_count": 0})

    def irrevocable(self, req: Request, data: FieldData) -> Response | None:
        if data.get("type") != "irrevocable":
            raise NotFound()
        return Response(data={"lease_count": 0, "leases": []})


_LEASE_ID = Field(FieldType.STRING, "The lease identifier.")
_SYNC = Field(FieldType.BOOL, "Wait for the revocation to finish.", default=True)
_INCREMENT = Field(FieldType.DURATION, "The requested amount of time in seconds to extend the lease.")
_PREFIX = Field(FieldType.STRING, "The path prefix to revoke.")


def lease_paths(core: Core) -> list[Path]:
    h = LeaseHandlers(core)
    paths: list[Path] = [
        Path(
            "leases/lookup",
            fields={"lease_id": _LEASE_ID},
            operations={Operation.UPDATE: h.lookup},
            synopsis="View or list lease metadata.",
        ),
        Path(
            "leases/lookup/(?P<prefix>.+?)?",
            sudo=True,
            special=("leases/lookup/*",),
            fields={"prefix": Field(FieldType.STRING, "The path prefix to list.")},
            operations={Operation.LIST: h.list_leases},
            synopsis="List leases under a prefix.",
        ),
        Path("leases/count", fields={"type": Field(FieldType.STRING)}, operations={Operation.READ: h.count}),
        Path(
            "leases",
            fields={"type": Field(FieldType.STRING)},
            operations={Operation.READ: h.irrevocable},
            sudo=True,
        ),
        Path(
            "leases/tidy", operations={Operation.UPDATE: h.tidy}, synopsis="Clean up dangling lease indexes."
        ),
    ]
    for base in ("leases/renew", "renew"):
        paths.append(
            Path(
                base + "(/(?P<url_lease_id>.+))?",
                fields={"lease_id": _LEASE_ID, "url_lease_id": _LEASE_ID, "increment": _INCREMENT},
                operations={Operation.UPDATE: h.renew},
                synopsis="Renew a lease on a secret.",
            )
        )
    for base in ("leases/revoke", "revoke"):
        paths.append(
            Path(
                base + "(/(?P<url_lease_id>.+))?",
                fields={"lease_id": _LEASE_ID, "url_lease_id": _LEASE_ID, "sync": _SYNC},
                operations={Operation.UPDATE: h.revoke},
                synopsis="Revoke a leased secret immediately.",
            )
        )
    for base in ("leases/revoke-prefix", "revoke-prefix"):
        paths.append(
            Path(
                base + "/(?P<prefix>.+)",
                fields={"prefix": _PREFIX, "sync": _SYNC},
                sudo=True,
                operations={Operation.UPDATE: h.revoke_prefix},
                synopsis="Revoke all secrets generated under a prefix.",
            )
        )
    for base in ("leases/revoke-force", "revoke-force"):
        paths.append(
            Path(
                base + "/(?P<prefix>.+)",
                fields={"prefix": _PREFIX},
                sudo=True,
                operations={Operation.UPDATE: h.revoke_force},
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
