"""AppRole secret IDs: generate, custom, LIST accessors, lookup/destroy by value or accessor, tidy.

Lookups by value compare HMACs (the storage key is the HMAC of the secret ID under the role's
key), so a secret ID is never held or compared in plain text.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from ...framework import (
    CodedError,
    ErrorResponse,
    Field,
    FieldData,
    FieldType,
    InternalError,
    Operation,
    Path,
    Request,
    Response,
)
from ...gocompat.quote import go_quote_list
from ...storage.base import Storage
from ..tokenutil import cidrs_subset, invalid_cidr, page_fields
from .roles import NAME_FIELD, ROLE
from .store import Role, SecretIDEntry, create_hmac, derive_secret_id_ttl, parse_metadata

if TYPE_CHECKING:
    from .mount import AppRole

TIDY_STARTED = (
    "Tidy operation successfully started. Any information from the operation will be printed to "
    "OpenBao's server logs."
)


def _storage(req: Request) -> Storage:
    assert req.storage is not None
    return req.storage


def verify_cidr_subset(secret_cidrs: list[str], role_cidrs: list[str] | None) -> None:
    """verifyCIDRRoleSecretIDSubset: a secret ID's CIDRs must lie inside the role's."""
    if not secret_cidrs or not role_cidrs:
        return
    blocks = [b if "/" in b else b + "/32" for b in role_cidrs]
    if not cidrs_subset(blocks, secret_cidrs):
        raise InternalError(
            "failed to verify subset relationship between CIDR blocks on the role "
            f"{go_quote_list(blocks)} and CIDR blocks on the secret ID {go_quote_list(secret_cidrs)}: %!w(<nil>)"
        )


class SecretIDHandlers:
    """The secret-id endpoints of one AppRole mount."""

    def __init__(self, app: AppRole) -> None:
        self.app = app
        self.store = app.store

    def _role_or_500(self, req: Request, data: FieldData) -> Role:
        name: str = data.get("role_name")
        if not name:
            raise ErrorResponse("missing role_name")
        role = self.store.role(_storage(req), name)
        if role is None:
            raise InternalError(f'role "{name}" does not exist')
        return role

    # -- generate ------------------------------------------------------------------------
    def generate(self, req: Request, data: FieldData) -> Response:
        return self._issue(req, data, str(uuid.uuid4()))

    def custom(self, req: Request, data: FieldData) -> Response:
        return self._issue(req, data, data.get("secret_id"))

    def _issue(self, req: Request, data: FieldData, secret_id: str) -> Response:
        name: str = data.get("role_name")
        if not name:
            raise ErrorResponse("missing role_name")
        if not secret_id:
            raise ErrorResponse("missing secret_id")
        storage = _storage(req)
        role = self.store.role(storage, name)
        if role is None:
            raise CodedError(404, f'role "{name}" does not exist')
        if not role.bind_secret_id:
            raise ErrorResponse("bind_secret_id is not set on the role")
        cidrs: list[str] = list(data.get("cidr_list"))
        if cidrs:
            bad = invalid_cidr(cidrs)
            if bad is not None:
                raise InternalError(f"failed to validate CIDR blocks: invalid CIDR address: {bad}")
        verify_cidr_subset(cidrs, role.secret_id_bound_cidrs)
        token_cidrs: list[str] = list(data.get("token_bound_cidrs"))
        if token_cidrs:
            bad = invalid_cidr(token_cidrs)
            if bad is not None:
                raise InternalError(f"failed to validate token CIDR blocks: invalid CIDR address: {bad}")
        verify_cidr_subset(token_cidrs, role.token_bound_cidrs)
        num_uses, given = data.get_ok("num_uses")
        if given:
            if num_uses < 0:
                raise ErrorResponse("num_uses cannot be negative")
            if role.secret_id_num_uses > 0 and (num_uses == 0 or num_uses > role.secret_id_num_uses):
                raise ErrorResponse("num_uses cannot be higher than the role's secret_id_num_uses")
        else:
            num_uses = role.secret_id_num_uses
        ttl, given = data.get_ok("ttl")
        if given:
            if role.secret_id_ttl > 0 and (ttl == 0 or ttl > role.secret_id_ttl):
                raise ErrorResponse("ttl cannot be longer than the role's secret_id_ttl")
        else:
            ttl = role.secret_id_ttl
        entry = SecretIDEntry(
            secret_id_num_uses=num_uses,
            secret_id_ttl=ttl,
            metadata=parse_metadata(data.get("metadata")),
            cidr_list=cidrs,
            token_bound_cidrs=token_cidrs,
        )
        _, max_ttl = self.app.mount_ttls()
        entry = self.store.register_secret(storage, role, secret_id, entry, max_ttl)
        return Response(
            data={
                "secret_id": secret_id,
                "secret_id_accessor": entry.secret_id_accessor,
                "secret_id_ttl": derive_secret_id_ttl(entry.secret_id_ttl, max_ttl),
                "secret_id_num_uses": entry.secret_id_num_uses,
            }
        )

    # -- list ----------------------------------------------------------------------------
    def list_accessors(self, req: Request, data: FieldData) -> Response:
        name: str = data.get("role_name")
        if not name:
            raise ErrorResponse("missing role_name")
        storage = _storage(req)
        role = self.store.role(storage, name)
        if role is None:
            raise ErrorResponse(f'role "{name}" does not exist')
        return Response(data={"keys": self.store.secret_accessors(storage, role)})

    # -- by value ------------------------------------------------------------------------
    def _by_value(self, req: Request, data: FieldData, secret_id: str) -> tuple[Storage, Role, str]:
        """Storage, role and the secret ID's HMAC for a call naming the secret ID itself."""
        if not data.get("role_name"):
            raise ErrorResponse("missing role_name")
        if not secret_id:
            raise ErrorResponse("missing secret_id")
        storage = _storage(req)
        role = self._role_or_500(req, data)
        return storage, role, create_hmac(role.hmac_key, secret_id)

    def lookup(self, req: Request, data: FieldData) -> Response | None:
        storage, role, secret_hmac = self._by_value(req, data, data.get("secret_id"))
        with self.store.lock:
            entry = self.store.secret(storage, role, secret_hmac)
            if entry is None:
                return None
            if self.store.accessor_entry(storage, role, entry.secret_id_accessor) is None:
                storage.delete(self.store.secret_key(role, secret_hmac))
                raise ErrorResponse("invalid secret id")
            if entry.expired():
                self.store.delete_secret(storage, role, secret_hmac, entry)
                return None
        return Response(data=entry.response_data())

    def destroy(self, req: Request, data: FieldData) -> None:
        secret_id: str = data.get("secret_id") or str(req.query.get("secret_id", "") or "")
        storage, role, secret_hmac = self._by_value(req, data, secret_id)
        with self.store.lock:
            entry = self.store.secret(storage, role, secret_hmac)
            if entry is not None:
                self.store.delete_secret(storage, role, secret_hmac, entry)
        return None

    # -- by accessor ---------------------------------------------------------------------
    def _accessor(self, req: Request, data: FieldData) -> str:
        name: str = data.get("role_name")
        if not name:
            raise ErrorResponse("missing role_name")
        accessor: str = data.get("secret_id_accessor") or str(req.query.get("secret_id_accessor", "") or "")
        if not accessor:
            raise ErrorResponse("missing secret_id_accessor")
        return accessor

    def accessor_lookup(self, req: Request, data: FieldData) -> Response | None:
        accessor = self._accessor(req, data)
        storage = _storage(req)
        role = self._role_or_500(req, data)
        secret_hmac = self.store.accessor_entry(storage, role, accessor)
        if secret_hmac is None:
            msg = f'failed to find accessor entry for secret_id_accessor: "{accessor}"'
            return Response(data={"error": msg}, status=404, is_error=True)
        entry = self.store.secret(storage, role, secret_hmac)
        if entry is None:
            return None
        return Response(data=entry.response_data())

    def accessor_destroy(self, req: Request, data: FieldData) -> None:
        accessor = self._accessor(req, data)
        storage = _storage(req)
        role = self._role_or_500(req, data)
        with self.store.lock:
            secret_hmac = self.store.accessor_entry(storage, role, accessor)
            if secret_hmac is None:
                raise InternalError(f'failed to find accessor entry for secret_id_accessor: "{accessor}"')
            entry = self.store.secret(storage, role, secret_hmac)
            if entry is None:
                raise CodedError(403, "invalid secret id accessor")
            self.store.delete_secret(storage, role, secret_hmac, entry)
        return None

    # -- tidy ----------------------------------------------------------------------------
    def tidy(self, req: Request, data: FieldData) -> Response:
        if not self.app.tidy_guard.acquire(blocking=False):
            return Response(warnings=["Tidy operation already in progress."])
        try:
            self.store.tidy(_storage(req))
        finally:
            self.app.tidy_guard.release()
        return Response(warnings=[TIDY_STARTED], status=202)


def secret_id_paths(app: AppRole) -> list[Path]:
    h = SecretIDHandlers(app)
    secret_field = {"secret_id": Field(FieldType.STRING, "SecretID attached to the role.")}
    accessor_field = {"secret_id_accessor": Field(FieldType.STRING, "Accessor of the SecretID", query=True)}
    issue_fields = {
        **NAME_FIELD,
        "metadata": Field(
            FieldType.STRING,
            "Metadata to be tied to the SecretID. This should be a JSON formatted string containing the "
            "metadata in key value pairs.",
        ),
        "cidr_list": Field(
            FieldType.COMMA_STRING_SLICE,
            "Comma separated string or list of CIDR blocks enforcing secret IDs to be used from specific "
            "set of IP addresses.",
        ),
        "token_bound_cidrs": Field(
            FieldType.COMMA_STRING_SLICE,
            "Comma separated string or list of CIDR blocks. If set, specifies the blocks of IP addresses "
            "which can use the returned token.",
        ),
        "num_uses": Field(FieldType.INT, "Number of times this SecretID can be used."),
        "ttl": Field(FieldType.DURATION, "Duration in seconds after which this SecretID expires."),
    }
    return [
        Path(
            ROLE + "/secret-id/?$",
            fields={
                **issue_fields,
                **page_fields(),
            },
            operations={Operation.UPDATE: h.generate, Operation.LIST: h.list_accessors},
            synopsis="Generate a SecretID against this role.",
        ),
        Path(
            ROLE + "/secret-id/lookup/?$",
            fields={**NAME_FIELD, **secret_field},
            operations={Operation.UPDATE: h.lookup},
            synopsis="Read the properties of an issued secret_id",
        ),
        Path(
            ROLE + "/secret-id/destroy/?$",
            fields={**NAME_FIELD, "secret_id": Field(FieldType.STRING, "SecretID to destroy.", query=True)},
            operations={Operation.UPDATE: h.destroy, Operation.DELETE: h.destroy},
            synopsis="Invalidate an issued secret_id",
        ),
        Path(
            ROLE + "/secret-id-accessor/lookup/?$",
            fields={**NAME_FIELD, **accessor_field},
            operations={Operation.UPDATE: h.accessor_lookup},
            synopsis="Read an issued secret_id, using its accessor",
        ),
        Path(
            ROLE + "/secret-id-accessor/destroy/?$",
            fields={**NAME_FIELD, **accessor_field},
            operations={Operation.UPDATE: h.accessor_destroy, Operation.DELETE: h.accessor_destroy},
            synopsis="Delete an issued secret_id, using its accessor",
        ),
        Path(
            ROLE + "/custom-secret-id$",
            fields={**issue_fields, **secret_field},
            operations={Operation.UPDATE: h.custom},
            synopsis="Assign a SecretID of choice against the role.",
        ),
        Path(
            "tidy/secret-id$",
            operations={Operation.UPDATE: h.tidy},
            synopsis="Trigger the clean-up of expired SecretID entries.",
        ),
    ]
