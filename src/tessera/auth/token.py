"""The ``auth/token/`` mount: lookup, renew, revoke, accessors and tidy over the token store.

Creation and roles live in ``token_create.py``; this module assembles the backend. Handlers are
thin: the rules live in ``tessera.tokens`` so the core, logins and wrapping share them.
"""

from __future__ import annotations

from ..framework import (
    Backend,
    CodedError,
    ErrorResponse,
    Field,
    FieldData,
    FieldType,
    InvalidRequest,
    Operation,
    Path,
    Request,
    Response,
)
from ..routing.mounts import MountEntry
from ..tokens.batch import MalformedBatchToken
from ..tokens.common import is_sudo
from ..tokens.entry import BATCH, TokenEntry
from ..tokens.host import TokenHost
from ..tokens.lookup import lookup_data
from ..tokens.renew import renew_token
from ..tokens.revoke_batch import revoke_batch_token
from ..tokens.store import TokenStoreError
from ..tokens.tidy import TIDY_RUNNING, TIDY_STARTED, start_tidy
from .token_create import create_paths, role_paths

# Vault's sudo pattern for revoke-orphan names the token in the path, which this backend does not
# serve (the token comes in the body, and the handler checks root itself, as Vault's does). The
# other sudo paths (spec tokens.md §2.9) are declared.
UNDECLARED_ROOT_PATHS = ["revoke-orphan/*"]


def _lookup(core: TokenHost, token: str, *, tainted: bool = False) -> TokenEntry | None:
    try:
        return core.tokens.lookup(token, tainted=tainted)
    except MalformedBatchToken:
        return None


TOKEN = {"token": Field(FieldType.STRING, "Token to look up (or renew, or revoke)")}
ACCESSOR = {"accessor": Field(FieldType.STRING, "Accessor of the token")}
INCREMENT = {"increment": Field(FieldType.DURATION, "The desired increment in seconds", default=0)}


def _accessor_target(core: TokenHost, data: FieldData) -> str | None:
    """The salted token ID the request's ``accessor`` points at (None: no such accessor)."""
    accessor = data.get("accessor")
    if not accessor:
        raise InvalidRequest("missing accessor")
    return core.tokens.accessor_target(accessor)


def _lookup_paths(core: TokenHost) -> list[Path]:
    """lookup, lookup-accessor and lookup-self."""

    def lookup_response(token: str) -> Response:
        if not token:
            raise ErrorResponse("missing token ID")
        entry = _lookup(core, token, tainted=True)
        if entry is None:
            reason = core.tokens.refusal_of(token)  # a batch token that decrypts: say why
            raise CodedError(403, f"bad token: batch token refused ({reason})" if reason else "bad token")
        return Response(data=lookup_data(core, entry, token))

    def lookup(req: Request, data: FieldData) -> Response | None:
        return lookup_response(data.get("token") or req.client_token)

    def lookup_self(req: Request, data: FieldData) -> Response | None:
        return lookup_response(req.client_token)

    def lookup_accessor(req: Request, data: FieldData) -> Response | None:
        salted = _accessor_target(core, data)
        if salted is None:
            raise InvalidRequest("invalid accessor")
        entry = core.tokens.lookup_salted(salted, tainted=True)
        if entry is None:
            raise CodedError(403, "bad token")
        return Response(data=lookup_data(core, entry, ""))

    return [
        Path(
            "lookup",
            fields=TOKEN,
            operations={Operation.READ: lookup, Operation.UPDATE: lookup},
            synopsis="Look up a token",
        ),
        Path(
            "lookup-accessor",
            fields=ACCESSOR,
            operations={Operation.UPDATE: lookup_accessor},
            synopsis="Look up a token by its accessor",
        ),
        Path(
            "lookup-self",
            fields=TOKEN,
            operations={Operation.READ: lookup_self, Operation.UPDATE: lookup_self},
            synopsis="Look up the calling token",
        ),
    ]


def _revoke_paths(core: TokenHost) -> list[Path]:
    """revoke-accessor, revoke-self, revoke, revoke-orphan and revoke-batch."""

    def revoke_common(token: str) -> None:
        entry = _lookup(core, token)
        if entry is None:
            return None
        if entry.type == BATCH:
            raise ErrorResponse("batch tokens cannot be revoked")
        core.tokens.revoke_tree(entry)
        return None

    def revoke(req: Request, data: FieldData) -> Response | None:
        token = data.get("token")
        if not token:
            raise ErrorResponse("missing token ID")
        revoke_common(token)
        return None

    def revoke_self(req: Request, data: FieldData) -> Response | None:
        revoke_common(req.client_token)
        return None

    def revoke_accessor(req: Request, data: FieldData) -> Response | None:
        salted = _accessor_target(core, data)
        if salted is None:
            return Response(warnings=["No token found with this accessor"])
        entry = core.tokens.lookup_salted(salted)
        if entry is None:
            raise ErrorResponse("token not found")
        core.tokens.revoke_tree(entry)
        return None

    def revoke_orphan(req: Request, data: FieldData) -> Response | None:
        token = data.get("token")
        if not token:
            raise ErrorResponse("missing token ID")
        if not is_sudo(core, req):
            raise ErrorResponse("root or sudo privileges required to revoke and orphan")
        entry = _lookup(core, token)
        if entry is None:
            raise ErrorResponse("token to revoke not found")
        if entry.type == BATCH:
            raise ErrorResponse("batch tokens cannot be revoked")
        try:
            core.tokens.revoke_orphan(entry)
        except TokenStoreError as exc:
            raise ErrorResponse(str(exc)) from None
        return None

    def revoke_batch(req: Request, data: FieldData) -> Response | None:
        return revoke_batch_token(core, data.get("token"), data.get("token_sha256"))

    return [
        Path(
            "revoke-accessor",
            fields=ACCESSOR,
            operations={Operation.UPDATE: revoke_accessor},
            synopsis="Revoke a token and its children by accessor",
        ),
        Path(
            "revoke-self",
            operations={Operation.UPDATE: revoke_self},
            synopsis="Revoke the calling token",
        ),
        Path(
            "revoke",
            fields=TOKEN,
            operations={Operation.UPDATE: revoke},
            synopsis="Revoke a token and all its children",
        ),
        Path(
            "revoke-orphan",
            fields=TOKEN,
            operations={Operation.UPDATE: revoke_orphan},
            synopsis="Revoke a token, orphaning its children",
        ),
        Path(
            "revoke-batch",
            fields={
                **TOKEN,
                "token_sha256": Field(FieldType.STRING, "Hex SHA-256 of the batch token to revoke"),
            },
            operations={Operation.UPDATE: revoke_batch},
            synopsis="Refuse a batch token from now until it expires (sudo)",
            sudo=True,
        ),
    ]


def _renew_paths(core: TokenHost) -> list[Path]:
    """renew-accessor, renew-self and renew."""

    def renew_common(req: Request, token: str, increment: int) -> Response:
        if not token:
            raise ErrorResponse("missing token ID")
        entry = _lookup(core, token)
        if entry is None:
            raise ErrorResponse("token not found")
        if entry.type == BATCH:
            raise ErrorResponse("batch tokens cannot be renewed")
        return renew_token(core, req, entry, increment)

    def renew(req: Request, data: FieldData) -> Response | None:
        return renew_common(req, data.get("token"), data.get("increment"))

    def renew_self(req: Request, data: FieldData) -> Response | None:
        return renew_common(req, req.client_token, data.get("increment"))

    def renew_accessor(req: Request, data: FieldData) -> Response | None:
        salted = _accessor_target(core, data)
        if salted is None:
            raise InvalidRequest("invalid accessor")
        entry = core.tokens.lookup_salted(salted)
        if entry is None:
            raise ErrorResponse("token not found")
        resp = renew_token(core, req, entry, data.get("increment"))
        if resp.auth is not None:
            resp.auth.client_token = ""
        return resp

    return [
        Path(
            "renew-accessor",
            fields={**ACCESSOR, **INCREMENT},
            operations={Operation.UPDATE: renew_accessor},
            synopsis="Renew a token by its accessor",
        ),
        Path(
            "renew-self",
            fields={**TOKEN, **INCREMENT},
            operations={Operation.UPDATE: renew_self},
            synopsis="Renew the calling token",
        ),
        Path(
            "renew",
            fields={**TOKEN, **INCREMENT},
            operations={Operation.UPDATE: renew},
            synopsis="Renew a token",
        ),
    ]


def lifecycle_paths(core: TokenHost) -> list[Path]:
    """lookup*, renew*, revoke*, accessors and tidy."""

    def accessors(req: Request, data: FieldData) -> Response | None:
        return Response(data={"keys": core.tokens.list_accessors()})

    def tidy(req: Request, data: FieldData) -> Response | None:
        if not start_tidy(core):
            return Response(warnings=[TIDY_RUNNING])
        return Response(warnings=[TIDY_STARTED], status=202)

    return [
        Path(
            "accessors/?",
            operations={Operation.LIST: accessors},
            synopsis="List token accessors",
            sudo=True,
            special=("accessors*",),
        ),
        *_lookup_paths(core),
        *_revoke_paths(core),
        *_renew_paths(core),
        Path("tidy", operations={Operation.UPDATE: tidy}, synopsis="Clean up dangling token indexes"),
    ]


def factory(core: TokenHost, entry: MountEntry) -> Backend:
    # Every pattern is anchored, so order only matters for readability.
    return Backend(
        paths=[*create_paths(core), *lifecycle_paths(core), *role_paths(core)],
        help=(
            "The token credential backend is always enabled and builtin to Tessera. Client tokens "
            "are used to identify a client and to allow Tessera to associate policies and ACLs "
            "which are enforced on every request."
        ),
        root_paths=list(UNDECLARED_ROOT_PATHS),
        backend_type="token",
        kind="credential",
    )
