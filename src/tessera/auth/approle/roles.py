"""AppRole role endpoints: ``role/:name`` CRUD and LIST, and the single-field sub-paths.

Each handler follows approle/path_role.go's order of checks so that a request Vault refuses is
refused here with the same status and words.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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
    UnsupportedPath,
    generic_name,
)
from ...gocompat.durations import format_go_duration
from ...storage.base import Storage
from ..tokenutil import (
    invalid_cidr,
    list_page,
    page_fields,
    parse_addrs,
    parse_policies,
    token_fields,
    upgrade_values,
)
from .store import MAX_HMAC_INPUT, SECRET_ID_LOCAL_PREFIX, Role

if TYPE_CHECKING:
    from .mount import AppRole

ROLE = "role/" + generic_name("role_name")
NAME_FIELD = {"role_name": Field(FieldType.STRING, "Name of the role. Must be less than 4096 bytes.")}
BOUND_CIDR_DEPRECATED = 'The "bound_cidr_list" field is deprecated and will be removed. Please use "secret_id_bound_cidrs" instead.'


def _storage(req: Request) -> Storage:
    assert req.storage is not None
    return req.storage


def role_fields() -> dict[str, Field]:
    fields = {
        **NAME_FIELD,
        "bind_secret_id": Field(
            FieldType.BOOL,
            "Impose secret_id to be presented when logging in using this role. Defaults to 'true'.",
            default=True,
        ),
        "bound_cidr_list": Field(
            FieldType.COMMA_STRING_SLICE, "Use 'secret_id_bound_cidrs' instead.", deprecated=True
        ),
        "secret_id_bound_cidrs": Field(
            FieldType.COMMA_STRING_SLICE,
            "Comma separated string or list of CIDR blocks. If set, specifies the blocks of IP addresses "
            "which can perform the login operation.",
        ),
        "policies": Field(FieldType.COMMA_STRING_SLICE, "Use 'token_policies' instead.", deprecated=True),
        "secret_id_num_uses": Field(
            FieldType.INT,
            "Number of times a SecretID can access the role, after which the SecretID will expire.",
        ),
        "secret_id_ttl": Field(
            FieldType.DURATION, "Duration in seconds after which the issued SecretID should expire."
        ),
        "period": Field(FieldType.DURATION, "Use 'token_period' instead.", deprecated=True),
        "role_id": Field(FieldType.STRING, "Identifier of the role. Defaults to a UUID."),
        "local_secret_ids": Field(
            FieldType.BOOL,
            "If set, the secret IDs generated using this role will be cluster local. This can only be set "
            "during role creation and once set, it can't be reset later.",
        ),
    }
    fields.update(token_fields())
    return fields


class RoleHandlers:
    """The role endpoints of one AppRole mount."""

    def __init__(self, app: AppRole) -> None:
        self.app = app
        self.store = app.store

    # -- helpers -----------------------------------------------------------------------
    def _role(self, req: Request, data: FieldData) -> Role | None:
        name: str = data.get("role_name")
        if not name:
            raise ErrorResponse("missing role_name")
        return self.store.role(_storage(req), name)

    def _existing(self, req: Request, data: FieldData) -> Role:
        """The role for an update sub-path; Vault answers a missing one with ``unsupported path``."""
        role = self._role(req, data)
        if role is None:
            raise UnsupportedPath()
        return role

    def _save(self, req: Request, role: Role, previous_role_id: str = "") -> None:
        self.store.save_role(_storage(req), role, previous_role_id)

    # -- role/:name ------------------------------------------------------------------------
    def exists(self, req: Request, data: FieldData) -> bool:
        return self._role(req, data) is not None

    def list_roles(self, req: Request, data: FieldData) -> Response:
        return Response(data={"keys": list_page(self.store.role_names(_storage(req)), data)})

    def create_update(self, req: Request, data: FieldData) -> Response | None:
        name: str = data.get("role_name")
        if not name:
            raise ErrorResponse("missing role_name")
        if len(name) > MAX_HMAC_INPUT:
            raise ErrorResponse(f"role_name is longer than maximum of {MAX_HMAC_INPUT} bytes")
        storage = _storage(req)
        with self.store.lock:
            role = self.store.role(storage, name)
            creating = req.operation == Operation.CREATE
            if role is None:
                if not creating:
                    raise CodedError(404, f'role name "{name}" doesn\'t exist')
                role = Role(name=name.lower(), hmac_key=str(uuid.uuid4()))
            resp = Response()
            raw_type = req.data.get("token_type")
            if raw_type in ("default-service", "default-batch"):
                adjusted = raw_type.removeprefix("default-")
                data.set_raw("token_type", adjusted)
                resp.add_warning(f"{raw_type} has no useful meaning; adjusting to {adjusted}")
            role.parse_token_fields(data)
            local, given = data.get_ok("local_secret_ids")
            if given:
                if not creating:
                    raise ErrorResponse("local_secret_ids can only be modified during role creation")
                if local:
                    role.secret_id_prefix = SECRET_ID_LOCAL_PREFIX
            previous = role.role_id
            role_id, given = data.get_ok("role_id")
            if given:
                role.role_id = role_id
            elif creating:
                role.role_id = str(uuid.uuid4())
            if not role.role_id:
                raise ErrorResponse("invalid role_id supplied, or failed to generate a role_id")
            bind, given = data.get_ok("bind_secret_id")
            if given or creating:
                role.bind_secret_id = bind
            for key in ("secret_id_bound_cidrs", "bound_cidr_list"):
                if data.has(key):
                    role.secret_id_bound_cidrs = list(data.get(key))
                    break
            if role.secret_id_bound_cidrs:
                bad = invalid_cidr(role.secret_id_bound_cidrs)
                if bad is not None:
                    raise InternalError(f"failed to validate CIDR blocks: invalid CIDR address: {bad}")
            uses, given = data.get_ok("secret_id_num_uses")
            if given or creating:
                role.secret_id_num_uses = uses
            if role.secret_id_num_uses < 0:
                raise ErrorResponse("secret_id_num_uses cannot be negative")
            ttl, given = data.get_ok("secret_id_ttl")
            if given or creating:
                role.secret_id_ttl = ttl
            self._upgrade_legacy(data, role)
            _, max_ttl = self.app.mount_ttls()
            if role.period > max_ttl:
                raise ErrorResponse(
                    f'period of "{format_go_duration(role.period)}" is greater than the backend\'s maximum '
                    f'lease TTL of "{format_go_duration(max_ttl)}"'
                )
            if role.token_max_ttl > max_ttl:
                resp.add_warning(
                    "token_max_ttl is greater than the backend mount's maximum TTL value; issued tokens' max "
                    "TTL value will be truncated"
                )
            self._save(req, role, previous)
        return resp if resp.warnings else None

    @staticmethod
    def _upgrade_legacy(data: FieldData, role: Role) -> None:
        """tokenutil.UpgradeValue for ``policies`` and ``period``."""
        upgrade_values(data, role, (("policies", "token_policies"), ("period", "token_period")))

    def read(self, req: Request, data: FieldData) -> Response | None:
        role = self._role(req, data)
        if role is None:
            return None
        out: dict[str, Any] = {
            "bind_secret_id": role.bind_secret_id,
            "secret_id_bound_cidrs": role.secret_id_bound_cidrs,
            "secret_id_num_uses": role.secret_id_num_uses,
            "secret_id_ttl": role.secret_id_ttl,
            "local_secret_ids": role.local,
        }
        role.populate_token_data(out)
        if role.period:
            out["period"] = role.period
        if role.policies:
            out["policies"] = list(role.policies)
        resp = Response(data=out)
        if not role.has_constraint():
            resp.add_warning(
                "Role does not have any constraints set on it. Updates to this role will require a "
                "constraint to be set"
            )
        return resp

    def delete(self, req: Request, data: FieldData) -> None:
        with self.store.lock:
            role = self._role(req, data)
            if role is not None:
                self.store.delete_role(_storage(req), role)
        return None

    # -- single-field sub-paths -----------------------------------------------------------
    def read_field(self, *keys: str) -> Callable[[Request, FieldData], Response | None]:
        def handler(req: Request, data: FieldData) -> Response | None:
            role = self._role(req, data)
            if role is None:
                return None
            full = self.read(req, data)
            assert full is not None and full.data is not None
            out = {k: full.data[k] for k in keys if k in full.data}
            if keys == ("token_bound_cidrs",) and not role.token_bound_cidrs:
                out["token_bound_cidrs"] = None  # the single-field read shows the unset list as null
            return Response(data=out)

        return handler

    def read_local(self, req: Request, data: FieldData) -> Response | None:
        role = self._role(req, data)
        return None if role is None else Response(data={"local_secret_ids": role.local})

    def read_bound_cidr_list(self, req: Request, data: FieldData) -> Response | None:
        role = self._role(req, data)
        if role is None:
            return None
        # Vault reads the pre-upgrade field, which upgraded roles never keep: always null.
        return Response(data={"bound_cidr_list": None}, warnings=[BOUND_CIDR_DEPRECATED])

    def update_policies(self, req: Request, data: FieldData) -> None:
        with self.store.lock:
            role = self._existing(req, data)
            if not data.has("token_policies"):
                if not data.has("policies"):
                    raise ErrorResponse("missing token_policies")
                role.policies = parse_policies(data.get("policies"))
                role.token_policies = list(role.policies)
            else:
                role.token_policies = parse_policies(data.get("token_policies"))
                role.policies = list(role.token_policies) if data.has("policies") else []
            self._save(req, role)

    def update_period(self, req: Request, data: FieldData) -> None:
        with self.store.lock:
            role = self._existing(req, data)
            if not data.has("token_period"):
                if not data.has("period"):
                    raise ErrorResponse("missing period")
                role.period = data.get("period")
                role.token_period = role.period
            else:
                role.token_period = data.get("token_period")
                role.period = role.token_period if data.has("period") else 0
            _, max_ttl = self.app.mount_ttls()
            if role.token_period > max_ttl:
                raise ErrorResponse(
                    f'period of "{format_go_duration(role.period)}" is greater than the backend\'s maximum '
                    f'lease TTL of "{format_go_duration(max_ttl)}"'
                )
            self._save(req, role)

    def update_simple(self, key: str, attr: str) -> Callable[[Request, FieldData], None]:
        """secret-id-num-uses, secret-id-ttl, token-num-uses, token-ttl, token-max-ttl."""

        def handler(req: Request, data: FieldData) -> None:
            with self.store.lock:
                role = self._existing(req, data)
                value, given = data.get_ok(key)
                if not given:
                    raise ErrorResponse(f"missing {key}")
                setattr(role, attr, value)
                if key == "secret_id_num_uses" and value < 0:
                    raise ErrorResponse("secret_id_num_uses cannot be negative")
                if key == "token_ttl" and 0 < role.token_max_ttl < role.token_ttl:
                    raise ErrorResponse("token_ttl should not be greater than token_max_ttl")
                if key == "token_max_ttl" and 0 < role.token_max_ttl < role.token_ttl:
                    raise ErrorResponse("token_max_ttl should be greater than or equal to token_ttl")
                self._save(req, role)

        return handler

    def reset_field(self, *attrs: str) -> Callable[[Request, FieldData], None]:
        """DELETE on a sub-path: the field goes back to its zero value (policies and period: both names)."""

        def handler(req: Request, data: FieldData) -> None:
            with self.store.lock:
                role = self._role(req, data)
                if role is None:
                    return None
                for attr in attrs:
                    setattr(
                        role, attr, None if attr == "secret_id_bound_cidrs" else type(getattr(role, attr))()
                    )
                self._save(req, role)
            return None

        return handler

    def update_cidrs(self, which: str) -> Callable[[Request, FieldData], None]:
        """bound-cidr-list / secret-id-bound-cidrs / token-bound-cidrs updates."""

        def handler(req: Request, data: FieldData) -> None:
            with self.store.lock:
                role = self._existing(req, data)
                names = ("bound_cidr_list",) if which == "bound_cidr_list" else (which,)
                if which == "secret_id_bound_cidrs":
                    names = ("secret_id_bound_cidrs",)
                given = next((n for n in names if data.has(n)), None)
                if given is not None and which != "token_bound_cidrs":
                    cidrs = list(data.get(given))
                    if not cidrs:
                        raise ErrorResponse("missing bound_cidr_list")
                    bad = invalid_cidr(cidrs)
                    if bad is not None:
                        raise ErrorResponse(f"failed to validate CIDR blocks: invalid CIDR address: {bad}")
                    role.secret_id_bound_cidrs = cidrs
                elif which == "token_bound_cidrs" and data.has("token_bound_cidrs"):
                    try:
                        role.token_bound_cidrs = parse_addrs(data.get("token_bound_cidrs"))
                    except ErrorResponse as exc:
                        raise ErrorResponse(f"failed to parse token_bound_cidrs: {exc.message}") from None
                self._save(req, role)

        return handler

    def read_role_id(self, req: Request, data: FieldData) -> Response | None:
        role = self._role(req, data)
        return None if role is None else Response(data={"role_id": role.role_id})

    def update_role_id(self, req: Request, data: FieldData) -> None:
        with self.store.lock:
            role = self._existing(req, data)
            previous = role.role_id
            role.role_id = data.get("role_id")
            if not role.role_id:
                raise ErrorResponse("missing role_id")
            self._save(req, role, previous)


def _field_paths(h: RoleHandlers, all_fields: dict[str, Field]) -> list[Path]:
    """``role/:name/<field>``: read, update and reset one setting of a role."""
    single = [
        ("policies", {"token_policies", "policies"}, h.update_policies, ("token_policies", "policies")),
        ("period", {"token_period", "period"}, h.update_period, ("token_period", "period")),
        ("token-num-uses", {"token_num_uses"}, h.update_simple("token_num_uses", "token_num_uses"), None),
        ("token-ttl", {"token_ttl"}, h.update_simple("token_ttl", "token_ttl"), None),
        ("token-max-ttl", {"token_max_ttl"}, h.update_simple("token_max_ttl", "token_max_ttl"), None),
        (
            "secret-id-num-uses",
            {"secret_id_num_uses"},
            h.update_simple("secret_id_num_uses", "secret_id_num_uses"),
            None,
        ),
        ("secret-id-ttl", {"secret_id_ttl"}, h.update_simple("secret_id_ttl", "secret_id_ttl"), None),
    ]
    paths: list[Path] = []
    for suffix, keys, updater, read_keys in single:
        fields = {**NAME_FIELD, **{k: all_fields[k] for k in keys}}
        paths.append(
            Path(
                f"{ROLE}/{suffix}$",
                fields=fields,
                operations={
                    Operation.UPDATE: updater,
                    Operation.READ: h.read_field(*(read_keys or tuple(keys))),
                    Operation.DELETE: h.reset_field(*(read_keys or tuple(keys))),
                },
                synopsis=f"The {suffix} of the role.",
            )
        )
    return paths


def _cidr_paths(h: RoleHandlers, all_fields: dict[str, Field]) -> list[Path]:
    """``role/:name/<cidr list>``: the role's CIDR restrictions, one list each."""
    paths: list[Path] = []
    for suffix, key in (
        ("bound-cidr-list", "bound_cidr_list"),
        ("secret-id-bound-cidrs", "secret_id_bound_cidrs"),
        ("token-bound-cidrs", "token_bound_cidrs"),
    ):
        reader = h.read_bound_cidr_list if key == "bound_cidr_list" else h.read_field(key)
        paths.append(
            Path(
                f"{ROLE}/{suffix}$",
                fields={**NAME_FIELD, key: all_fields[key]},
                operations={
                    Operation.UPDATE: h.update_cidrs(key),
                    Operation.READ: reader,
                    Operation.DELETE: h.reset_field(
                        "token_bound_cidrs" if key == "token_bound_cidrs" else "secret_id_bound_cidrs"
                    )
                    if key != "bound_cidr_list"
                    else h.reset_field(),
                },
                synopsis=f"The {key} of the role.",
            )
        )
    return paths


def role_paths(app: AppRole) -> list[Path]:
    h = RoleHandlers(app)
    all_fields = role_fields()
    paths = [
        Path(
            "role/?",
            fields=page_fields(),
            operations={Operation.LIST: h.list_roles},
            synopsis="Lists all the roles registered with the backend.",
        ),
        Path(
            ROLE + "/local-secret-ids$",
            fields=dict(NAME_FIELD),
            operations={Operation.READ: h.read_local},
            synopsis="Enables cluster local secret IDs",
        ),
        *_field_paths(h, all_fields),
        *_cidr_paths(h, all_fields),
    ]
    paths.append(
        Path(
            ROLE + "/role-id$",
            fields={**NAME_FIELD, "role_id": all_fields["role_id"]},
            operations={Operation.READ: h.read_role_id, Operation.UPDATE: h.update_role_id},
            synopsis="Returns the 'role_id' of the role.",
        )
    )
    paths.append(
        Path(
            ROLE + "$",
            fields=all_fields,
            operations={
                Operation.CREATE: h.create_update,
                Operation.UPDATE: h.create_update,
                Operation.READ: h.read,
                Operation.DELETE: h.delete,
            },
            existence_check=h.exists,
            synopsis="Register an role with the backend.",
        )
    )
    return paths
