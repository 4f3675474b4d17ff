"""auth/token/create, create-orphan, create/:role and the roles/:name CRUD paths."""

from __future__ import annotations

from ..framework import (
    ErrorResponse,
    Field,
    FieldData,
    FieldError,
    FieldType,
    NotFound,
    Operation,
    Path,
    Request,
    Response,
    generic_name,
)
from ..tokens.common import token_mount
from ..tokens.host import TokenHost
from ..tokens.issue import create_token
from ..tokens.roles import Role, RoleStore, apply_role_update

CREATE_FIELDS: dict[str, Field] = {
    "display_name": Field(FieldType.STRING, "Name to associate with this token"),
    "explicit_max_ttl": Field(FieldType.STRING, "Explicit Max TTL of this token"),
    "entity_alias": Field(FieldType.STRING, "Name of the entity alias to associate with this token"),
    "num_uses": Field(FieldType.INT, "Max number of uses for this token"),
    "period": Field(FieldType.STRING, "Renew period"),
    "renewable": Field(
        FieldType.BOOL,
        "Allow token to be renewed past its initial TTL up to system/mount maximum TTL",
        default=True,
    ),
    "ttl": Field(FieldType.STRING, "Time to live for this token"),
    "lease": Field(FieldType.STRING, "Use 'ttl' instead", deprecated=True),
    "type": Field(FieldType.STRING, "Token type"),
    "no_default_policy": Field(FieldType.BOOL, "Do not include default policy for this token"),
    "id": Field(FieldType.STRING, "Value for the token"),
    "meta": Field(FieldType.KV_PAIRS, "Arbitrary key=value metadata to associate with the token"),
    "no_parent": Field(FieldType.BOOL, "Create the token with no parent"),
    "policies": Field(FieldType.STRING_SLICE, "List of policies for the token"),
}

ROLE_FIELDS: dict[str, Field] = {
    "role_name": Field(FieldType.STRING, "Name of the role"),
    "allowed_policies": Field(
        FieldType.COMMA_STRING_SLICE, "Policies that tokens created via this role may have"
    ),
    "disallowed_policies": Field(
        FieldType.COMMA_STRING_SLICE, "Policies that tokens created via this role cannot have"
    ),
    "allowed_policies_glob": Field(FieldType.COMMA_STRING_SLICE, "Glob patterns of allowed policies"),
    "disallowed_policies_glob": Field(FieldType.COMMA_STRING_SLICE, "Glob patterns of disallowed policies"),
    "orphan": Field(FieldType.BOOL, "If true, tokens created via this role will be orphan tokens"),
    "period": Field(FieldType.SIGNED_DURATION, "Use 'token_period' instead", deprecated=True),
    "path_suffix": Field(FieldType.STRING, "Suffix appended to the token path"),
    "explicit_max_ttl": Field(
        FieldType.SIGNED_DURATION, "Use 'token_explicit_max_ttl' instead", deprecated=True
    ),
    "renewable": Field(FieldType.BOOL, "Tokens created via this role will be renewable or not", default=True),
    "bound_cidrs": Field(FieldType.COMMA_STRING_SLICE, "Use 'token_bound_cidrs' instead", deprecated=True),
    "allowed_entity_aliases": Field(FieldType.COMMA_STRING_SLICE, "Entity aliases tokens may be tied to"),
    "token_bound_cidrs": Field(FieldType.COMMA_STRING_SLICE, "CIDR blocks allowed to use generated tokens"),
    "token_explicit_max_ttl": Field(FieldType.SIGNED_DURATION, "Explicit max TTL of generated tokens"),
    "token_period": Field(FieldType.SIGNED_DURATION, "Period of generated tokens"),
    "token_type": Field(
        FieldType.STRING, "The type of token to generate, service or batch", default="default-service"
    ),
    "token_no_default_policy": Field(FieldType.BOOL, "Do not attach the 'default' policy"),
    "token_num_uses": Field(FieldType.INT, "Maximum uses of generated tokens"),
}


def create_paths(core: TokenHost) -> list[Path]:
    def create(req: Request, data: FieldData) -> Response | None:
        return create_token(core, req, data, orphan=False, role=None)

    def create_orphan(req: Request, data: FieldData) -> Response | None:
        return create_token(core, req, data, orphan=True, role=None)

    def create_role(req: Request, data: FieldData) -> Response | None:
        name = data.get("role_name")
        role = RoleStore(core.tokens.storage).get(name)
        if role is None:
            raise ErrorResponse(f"unknown role {name}")
        return create_token(core, req, data, orphan=False, role=role)

    return [
        Path("create-orphan", fields=CREATE_FIELDS, operations={Operation.UPDATE: create_orphan},
             synopsis="Create an orphan token"),
        Path("create/" + generic_name("role_name"),
             fields={"role_name": Field(FieldType.STRING, "Name of the role"), **CREATE_FIELDS},
             operations={Operation.UPDATE: create_role}, synopsis="Create a token through a role"),
        Path("create", fields=CREATE_FIELDS, operations={Operation.UPDATE: create},
             synopsis="Create a token"),
    ]  # fmt: skip


def role_paths(core: TokenHost) -> list[Path]:
    def roles() -> RoleStore:
        return RoleStore(core.tokens.storage)

    def list_roles(req: Request, data: FieldData) -> Response | None:
        return Response(data={"keys": roles().list()})

    def exists(req: Request, data: FieldData) -> bool:
        # Vault validates the fields during the existence check, so errors carry no prefix.
        try:
            data.validate()
        except FieldError as exc:
            raise ErrorResponse(str(exc)) from None
        name = data.get("role_name")
        if not name:
            raise ErrorResponse("role name cannot be empty")
        return roles().get(name) is not None

    def read_role(req: Request, data: FieldData) -> Response | None:
        role = roles().get(data.get("role_name"))
        if role is None:
            raise NotFound()
        return Response(data=dict(sorted(role.to_api().items())))

    def write_role(req: Request, data: FieldData) -> Response | None:
        name = data.get("role_name")
        if not name:
            raise ErrorResponse("role name cannot be empty")
        store = roles()
        role = store.get(name) or Role(name=name)
        _, max_ttl = core.mount_ttls(token_mount(core))
        warnings = apply_role_update(role, data, req.operation, max_ttl)
        store.put(role)
        return Response(warnings=warnings) if warnings else None

    def delete_role(req: Request, data: FieldData) -> Response | None:
        roles().delete(data.get("role_name"))
        return None

    return [
        Path("roles/?", operations={Operation.LIST: list_roles}, synopsis="List token roles"),
        Path(
            "roles/" + generic_name("role_name"),
            fields=ROLE_FIELDS,
            operations={
                Operation.READ: read_role,
                Operation.CREATE: write_role,
                Operation.UPDATE: write_role,
                Operation.DELETE: delete_role,
            },
            existence_check=exists,
            synopsis="Create, read, update or delete a token role",
        ),
    ]
