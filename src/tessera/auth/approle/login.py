"""AppRole login (``role_id`` + ``secret_id`` → Auth) and the renewal re-check of the role.

Every refusal a caller could use to probe (unknown role ID, unknown, used-up or expired secret ID)
answers ``invalid role or secret ID`` after the same storage reads and HMAC work, so neither the
answer nor its timing tells whether the role exists. Use counts are checked and consumed under
the store's lock, only once every other check has passed (Vault rolls its transaction back on a
refusal, so a refused login never costs a use).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from ...framework import (
    Auth,
    CodedError,
    ErrorResponse,
    Field,
    FieldData,
    FieldType,
    InternalError,
    InvalidCredentials,
    Operation,
    Path,
    Request,
    Response,
)
from ...framework.backend import PreparedLogin
from ...storage.base import Storage
from ..tokenutil import ip_in_cidrs, login_entity, parse_addrs
from .secret_ids import verify_cidr_subset
from .store import ParsedRole, SecretIDEntry, create_hmac

if TYPE_CHECKING:
    from .mount import AppRole

INVALID = "invalid role or secret ID"
_DUMMY_KEY = secrets.token_hex(16)


def _storage(req: Request) -> Storage:
    assert req.storage is not None
    return req.storage


class LoginHandler:
    def __init__(self, app: AppRole) -> None:
        self.app = app
        self.store = app.store

    def _role_for(self, storage: Storage, role_id: str) -> ParsedRole | None:
        """The role a role ID names, prepared for logins (shared, read-only: see
        ``AppRoleStore.login_role``)."""
        name = self.store.login_role_name(storage, role_id)
        return None if not name else self.store.login_role(storage, name)

    def _decoy(self, storage: Storage, secret_id: str) -> None:
        """The work of a secret ID look-up, for a role ID that matched nothing."""
        digest = create_hmac(_DUMMY_KEY, secret_id[:4096])
        storage.get(f"secret_id/{digest}/{digest}")

    def login(self, req: Request, data: FieldData) -> Response:
        return self.authenticate(req, str(data.get("role_id")), str(data.get("secret_id")))

    def prepared_login(self, req: Request, body: dict[str, str]) -> Response:
        """``login`` of a body of strings (core/prepared.py): the declared fields' defaults
        (``role_id`` none: the empty string; ``secret_id`` "") without a ``FieldData``."""
        return self.authenticate(req, body.get("role_id", ""), body.get("secret_id", ""))

    def authenticate(self, req: Request, role_id: str, secret_id: str) -> Response:
        """The login of ``role_id`` and ``secret_id`` (unstripped, as given): the Auth to issue."""
        role_id = role_id.strip()
        if not role_id:
            # Vault fails this in the alias look-ahead, which answers 500 with the bare message.
            raise CodedError(500, "missing role_id")
        storage = _storage(req)
        secret_id = secret_id.strip()
        parsed = self._role_for(storage, role_id)
        if parsed is None:
            self._decoy(storage, secret_id)
            raise ErrorResponse(INVALID)
        role = parsed.role
        entry: SecretIDEntry | None = None
        if role.bind_secret_id:
            if not secret_id:
                raise ErrorResponse("missing secret_id")
            entry = self._use_secret_id(req, storage, parsed, secret_id)
        if role.secret_id_bound_cidrs and not ip_in_cidrs(req.remote_addr, role.secret_id_bound_cidrs):
            raise ErrorResponse(
                f'source address "{req.remote_addr}" unauthorized by CIDR restrictions on the role: %!w(<nil>)'
            )
        token_cidrs = None
        if entry is not None and entry.token_bound_cidrs:
            token_cidrs = parse_addrs(entry.token_bound_cidrs)
        if entry is not None and entry.metadata:
            metadata = dict(entry.metadata)
            metadata["role_name"] = role.name
            metadata = dict(sorted(metadata.items()))
        else:
            metadata = {"role_name": role.name}
        auth = role.token_auth(
            req,
            metadata=metadata,
            internal_data={"role_name": role.name},
            alias_name=role.role_id,
            bound_cidrs=token_cidrs,
        )
        auth.entity_id = login_entity(self.app.core, req, role.role_id, metadata)
        return Response(auth=auth)

    def _use_secret_id(
        self, req: Request, storage: Storage, parsed: ParsedRole, secret_id: str
    ) -> SecretIDEntry:
        """Validate a secret ID for a login and consume one use; raise the reference's refusals.

        The entry returned may be shared with other logins: it must not be modified. A secret ID
        that is not the role's counts towards the role ID's lockout (InvalidCredentials)."""
        role = parsed.role
        secret_hmac = parsed.secret_hmac(secret_id)
        with self.store.lock:
            found = self.store.login_secret(storage, parsed, secret_hmac)
            if found is None or not hmac.compare_digest(
                found.entry.secret_id_hmac or secret_hmac, secret_hmac
            ):
                raise InvalidCredentials(INVALID)
            entry = found.entry
            accessor = storage.get(found.accessor_key)
            if accessor is None or accessor == b"null":
                storage.delete(parsed.secret_prefix + secret_hmac)
                raise InvalidCredentials(INVALID)
            if entry.expired():
                # The reference keeps an expired secret ID until its next tidy; Tessera refuses at once.
                self.store.delete_secret(storage, role, secret_hmac, entry)
                raise InvalidCredentials(INVALID)
            verify_cidr_subset(entry.cidr_list, role.secret_id_bound_cidrs)
            if entry.cidr_list and not ip_in_cidrs(req.remote_addr, entry.cidr_list):
                how = "through" if entry.secret_id_num_uses == 0 else "by"
                tail = "" if entry.secret_id_num_uses == 0 else ": %!w(<nil>)"
                raise ErrorResponse(
                    f'source address "{req.remote_addr}" unauthorized {how} CIDR restrictions on the secret ID{tail}'
                )
            if role.secret_id_bound_cidrs and not ip_in_cidrs(req.remote_addr, role.secret_id_bound_cidrs):
                return entry  # refused by the caller's role check, without spending a use
            if entry.secret_id_num_uses == 1:
                self.store.delete_secret(storage, role, secret_hmac, entry)
            elif entry.secret_id_num_uses > 1:
                # A changed copy: the parsed entry is shared (the next login parses what is stored).
                entry = replace(
                    entry, secret_id_num_uses=entry.secret_id_num_uses - 1, last_updated_time=time.time()
                )
                self.store.put_secret(storage, role, secret_hmac, entry)
        return entry

    def renew(self, req: Request, auth: Auth) -> Auth:
        """pathLoginRenew: the role must still exist; its current TTLs and period apply."""
        name = str((auth.internal_data or {}).get("role_name", ""))
        if not name:
            raise InternalError("failed to renew entry: failed to fetch role_name during renewal")
        role = self.store.role(_storage(req), name)
        if role is None:
            raise InternalError(f'failed to renew entry: role "{name}" does not exist during renewal')
        return role.renew_auth(auth)


def login_paths(app: AppRole) -> tuple[list[Path], LoginHandler]:
    h = LoginHandler(app)
    path = Path(
        "login$",
        fields={
            "role_id": Field(
                FieldType.STRING,
                "Unique identifier of the Role. Required to be supplied when the 'bind_secret_id' "
                "constraint is set.",
            ),
            "secret_id": Field(FieldType.STRING, "SecretID belong to the App role", default=""),
        },
        operations={Operation.UPDATE: h.login},
        synopsis="Issue a token based on the credentials supplied",
        unauthenticated=True,
    )
    return [path], h


def prepared_login(handler: LoginHandler) -> PreparedLogin:
    """The login's prepared lane (``Backend.prepared_login``): its path and string fields."""
    return PreparedLogin("login", frozenset(("role_id", "secret_id")), handler.prepared_login)
