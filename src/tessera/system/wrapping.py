"""sys/wrapping/wrap, unwrap, lookup and rewrap (the rules live in tessera.tokens.wrapping)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from ..tokens import wrapping

if TYPE_CHECKING:
    from ..core.core import Core

TOKEN = {"token": Field(FieldType.STRING, "The wrapping token ID")}


def wrapping_paths(core: Core) -> list[Path]:
    def wrap(req: Request, data: FieldData) -> Response | None:
        if not req.wrap_ttl:
            raise ErrorResponse("endpoint requires response wrapping to be used")
        return Response(data=dict(req.data))

    def unwrap(req: Request, data: FieldData) -> Response | None:
        return wrapping.unwrap(core, req, data.get("token"))

    def lookup(req: Request, data: FieldData) -> Response | None:
        return wrapping.lookup(core, req, data.get("token"))

    def rewrap(req: Request, data: FieldData) -> Response | None:
        return wrapping.rewrap(core, req, data.get("token"))

    return [
        Path(
            "wrapping/wrap",
            operations={Operation.UPDATE: wrap},
            takes_arbitrary_input=True,
            synopsis="Response-wraps an arbitrary JSON object",
        ),
        Path(
            "wrapping/unwrap",
            fields=TOKEN,
            operations={Operation.UPDATE: unwrap},
            synopsis="Unwraps a response-wrapped token",
        ),
        Path(
            "wrapping/lookup",
            unauthenticated=True,
            fields=TOKEN,
            operations={Operation.UPDATE: lookup, Operation.READ: lookup},
            synopsis="Looks up the properties of a response-wrapped token",
        ),
        Path(
            "wrapping/rewrap",
            fields=TOKEN,
            operations={Operation.UPDATE: rewrap},
            synopsis="Rotates a response-wrapped token",
        ),
    ]
