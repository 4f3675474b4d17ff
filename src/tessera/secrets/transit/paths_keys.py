"""Key management paths: keys/, keys/:name (+config, rotate, trim, soft-delete), config/keys, cache-config."""

from __future__ import annotations

from typing import Any

from ...framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from ...gocompat.json import go_json_exact
from . import consts as C
from .common import NAME, go_error, key_document
from .encoding import Base64Error, b64decode, load_json
from .errors import TransitError
from .manager import KeyManager, PolicyRequest, configured_cache_size

S = FieldType.STRING

# What keys/:name/config may change: restored when the update fails half-way.
_CONFIGURABLE = (
    "min_decryption_version",
    "min_encryption_version",
    "deletion_allowed",
    "exportable",
    "allow_plaintext_backup",
    "auto_rotate_period",
)


class KeyHandlers:
    """The key-management handlers of one mount, over its key manager."""

    def __init__(self, manager: KeyManager) -> None:
        self.manager = manager

    def storage(self, req: Request) -> Any:
        return req.storage

    # -- keys/ (list) ------------------------------------------------------------------------
    def list_keys(self, req: Request, d: FieldData) -> Response | None:
        names = sorted(self.storage(req).list("policy/"))
        after = d.get("after")
        if after:
            names = [n for n in names if n > after]
        limit = d.get("limit")
        if limit and limit > 0:
            names = names[:limit]
        return Response(data={"keys": names})

    # -- keys/:name ------------------------------------------------------------------------
    def write_key(self, req: Request, d: FieldData) -> Response | None:
        name = d.get("name")
        derived = d.get("derived")
        convergent = d.get("convergent_encryption")
        key_type = d.get("type")
        key_size = d.get("key_size")
        period = d.get("auto_rotate_period")
        external_ref = d.get("external_key_ref")
        if period != 0 and period < 3600:
            raise ErrorResponse("auto rotate period must be 0 to disable or at least an hour")
        if not derived and convergent:
            raise ErrorResponse("convergent encryption requires derivation to be enabled")
        kt = C.BY_NAME.get(key_type)
        if kt is None:
            raise ErrorResponse(f"unknown key type {key_type}")
        if key_size != 0:
            if kt not in (C.HMAC, C.EXTERNAL_KEY):
                raise ErrorResponse(f"key_size is not valid for algorithm {C.type_name(kt)}")
            if key_size < C.HMAC_MIN_KEY_SIZE or key_size > C.HMAC_MAX_KEY_SIZE:
                raise ErrorResponse(f"invalid key_size {key_size}")
        if kt == C.EXTERNAL_KEY:
            if not external_ref:
                raise ErrorResponse("must provide external_key_ref to create policy of type external-key")
            if period != 0:
                raise ErrorResponse("cannot enable auto-rotation with external keys")
            raise ErrorResponse(
                "failed to fetch external key: external keys are not supported by this server"
            )
        if external_ref:
            raise ErrorResponse("must provide type=external-key to use external_key_ref")
        preq = PolicyRequest(
            name=name,
            key_type=kt,
            key_size=key_size,
            derived=derived,
            convergent=convergent,
            exportable=d.get("exportable"),
            upsert=True,
            allow_plaintext_backup=d.get("allow_plaintext_backup"),
            auto_rotate_period=period,
        )
        try:
            p = self.manager.get_or_create(self.storage(req), preq)
        except TransitError as exc:
            raise go_error(exc) from None
        if p is None:
            raise go_error(TransitError("error generating key: returned policy was nil"))
        return Response(data=key_document(p))

    def read_key(self, req: Request, d: FieldData) -> Response | None:
        p = self.manager.get(self.storage(req), d.get("name"))
        if p is None:
            return None
        context = None
        raw = d.get("context")
        if raw:
            try:
                context = b64decode(raw)
            except Base64Error:
                raise ErrorResponse("failed to base64-decode context") from None
        return Response(data=key_document(p, context))

    def delete_key(self, req: Request, d: FieldData) -> Response | None:
        name = d.get("name")
        try:
            self.manager.delete(self.storage(req), name)
        except TransitError as exc:
            raise ErrorResponse(f"error deleting policy {name}: {exc}") from None
        return None

    def set_soft_deleted(self, value: bool, warning: str) -> Any:
        def handler(req: Request, d: FieldData) -> Response | None:
            with self.manager.lock:
                p = self.manager.get(self.storage(req), d.get("name"))
                if p is None:
                    return None
                original = p.soft_deleted
                p.soft_deleted = value
                try:
                    p.persist(self.storage(req))
                except TransitError as exc:
                    p.soft_deleted = original
                    raise go_error(exc) from None
                resp = Response(data=key_document(p))
                if original == value:
                    resp.add_warning(warning)
                return resp

        return handler

    # -- keys/:name/rotate ---------------------------------------------------------------
    def rotate(self, req: Request, d: FieldData) -> Response | None:
        with self.manager.lock:
            p = self.manager.get(self.storage(req), d.get("name"))
            if p is None:
                raise ErrorResponse("key not found")
            ref = d.get("external_key_ref")
            if p.type == C.EXTERNAL_KEY:
                if not ref:
                    raise ErrorResponse("must provide external_key_ref to rotate policy of type external-key")
                raise ErrorResponse(
                    "failed to fetch external key: external keys are not supported by this server"
                )
            if ref:
                raise ErrorResponse(f"cannot use external_key_ref on key of type {C.type_name(p.type)}")
            try:
                p.rotate(self.storage(req))
            except TransitError as exc:
                raise go_error(exc) from None
            p.rotate_due = None
            return Response(data=key_document(p))

    # -- keys/:name/config ---------------------------------------------------------------
    def configure(self, req: Request, d: FieldData) -> Response | None:
        name = d.get("name")
        with self.manager.lock:
            p = self.manager.get(self.storage(req), name)
            if p is None:
                raise ErrorResponse(f"no existing key named {name} could be found")
            original = {attr: getattr(p, attr) for attr in _CONFIGURABLE}
            try:
                resp = _configure(p, d, self.storage(req))
            except BaseException:
                for attr, value in original.items():
                    setattr(p, attr, value)
                raise
            p.rotate_due = None
            return resp

    # -- keys/:name/trim -----------------------------------------------------------------
    def trim(self, req: Request, d: FieldData) -> Response | None:
        with self.manager.lock:
            p = self.manager.get(self.storage(req), d.get("name"))
            if p is None:
                raise ErrorResponse("invalid key name")
            value, given = d.get_ok("min_available_version")
            if not given:
                raise ErrorResponse("missing min_available_version")
            if value < p.min_available_version:
                raise ErrorResponse("minimum available version cannot be decremented")
            if p.min_encryption_version == 0:
                raise ErrorResponse(
                    "minimum available version cannot be set when minimum encryption version is not set"
                )
            if p.min_decryption_version == 0:
                raise ErrorResponse(
                    "minimum available version cannot be set when minimum decryption version is not set"
                )
            if value > p.min_encryption_version:
                raise ErrorResponse(
                    "minimum available version cannot be greater than minmum encryption version"
                )
            if value > p.min_decryption_version:
                raise ErrorResponse(
                    "minimum available version cannot be greater than minimum decryption version"
                )
            if value < 0:
                raise ErrorResponse("minimum available version cannot be negative")
            if value == 0:
                raise ErrorResponse("minimum available version should be positive")
            original = p.min_available_version
            p.min_available_version = value
            try:
                p.persist(self.storage(req))
            except TransitError as exc:
                p.min_available_version = original
                raise go_error(exc) from None
            return Response(data=key_document(p))

    # -- config/keys and cache-config ----------------------------------------------------
    def read_config_keys(self, req: Request, d: FieldData) -> Response | None:
        return Response(data={"disable_upsert": disable_upsert(req)})

    def write_config_keys(self, req: Request, d: FieldData) -> Response | None:
        value = d.get("disable_upsert")
        if disable_upsert(req) != value:
            self.storage(req).put("config/keys", go_json_exact({"disable_upsert": value}))
        return Response(data={"disable_upsert": value})

    def read_cache_config(self, req: Request, d: FieldData) -> Response | None:
        size = configured_cache_size(self.storage(req))
        self.manager.cache_size = size
        return Response(data={"size": size})

    def write_cache_config(self, req: Request, d: FieldData) -> Response | None:
        size = d.get("size")
        if size != 0 and size < 10:
            raise ErrorResponse("size must be 0 or a value greater or equal to 10")
        self.storage(req).put("config/cache", go_json_exact({"size": size}))
        self.manager.cache_size = size
        return Response(data={"size": size})


_NAME_FIELD = {"name": Field(S, description="Name of the key")}


def _key_paths(h: KeyHandlers) -> list[Path]:
    return [
        Path(
            r"keys/?",
            fields={"after": Field(S), "limit": Field(FieldType.INT)},
            operations={Operation.LIST: h.list_keys},
            synopsis="Managed named encryption keys",
        ),
        Path(
            "keys/" + NAME,
            fields={
                **_NAME_FIELD,
                "type": Field(S, default="aes256-gcm96", description="The type of key to create."),
                "derived": Field(FieldType.BOOL),
                "convergent_encryption": Field(FieldType.BOOL),
                "exportable": Field(FieldType.BOOL),
                "allow_plaintext_backup": Field(FieldType.BOOL),
                "context": Field(S, description="Base64 encoded context for key derivation."),
                "auto_rotate_period": Field(FieldType.DURATION, default=0),
                "key_size": Field(FieldType.INT, default=0),
                "external_key_ref": Field(S),
            },
            operations={
                Operation.UPDATE: h.write_key,
                Operation.READ: h.read_key,
                Operation.DELETE: h.delete_key,
            },
            synopsis="Managed named encryption keys",
        ),
        Path(
            "keys/" + NAME + "/soft-delete",
            fields=dict(_NAME_FIELD),
            operations={Operation.DELETE: h.set_soft_deleted(True, "key was already marked as soft deleted")},
            synopsis="Soft-delete a named key",
        ),
        Path(
            "keys/" + NAME + "/soft-delete-restore",
            fields=dict(_NAME_FIELD),
            operations={Operation.UPDATE: h.set_soft_deleted(False, "key was already restored")},
            synopsis="Restore a soft-deleted key",
        ),
        Path(
            "keys/" + NAME + "/rotate",
            fields={**_NAME_FIELD, "external_key_ref": Field(S)},
            operations={Operation.UPDATE: h.rotate},
            synopsis="Rotate named encryption key",
        ),
        Path(
            "keys/" + NAME + "/config",
            fields={
                **_NAME_FIELD,
                "min_decryption_version": Field(FieldType.INT),
                "min_encryption_version": Field(FieldType.INT),
                "deletion_allowed": Field(FieldType.BOOL),
                "exportable": Field(FieldType.BOOL),
                "allow_plaintext_backup": Field(FieldType.BOOL),
                "auto_rotate_period": Field(FieldType.DURATION),
            },
            operations={Operation.UPDATE: h.configure},
            synopsis="Configure a named encryption key",
        ),
        Path(
            "keys/" + NAME + "/trim",
            fields={**_NAME_FIELD, "min_available_version": Field(FieldType.INT)},
            operations={Operation.UPDATE: h.trim},
            synopsis="Trim key versions of a named key",
        ),
    ]


def _config_paths(h: KeyHandlers) -> list[Path]:
    return [
        Path(
            "config/keys",
            fields={"disable_upsert": Field(FieldType.BOOL)},
            operations={Operation.READ: h.read_config_keys, Operation.UPDATE: h.write_config_keys},
            synopsis="Configuration common across all keys",
        ),
        Path(
            "cache-config",
            fields={"size": Field(FieldType.INT, default=0)},
            operations={
                Operation.READ: h.read_cache_config,
                Operation.UPDATE: h.write_cache_config,
                Operation.CREATE: h.write_cache_config,
            },
            synopsis="Configure caching strategy",
        ),
    ]


def build(manager: KeyManager) -> list[Path]:
    """The key-management paths of one mount."""
    h = KeyHandlers(manager)
    return _key_paths(h) + _config_paths(h)


def disable_upsert(req: Request) -> bool:
    raw = req.storage.get("config/keys") if req.storage is not None else None
    if raw is None:
        return False
    return bool((load_json(raw) or {}).get("disable_upsert"))


def _configure(p: Any, d: FieldData, storage: Any) -> Response:
    """pathKeysConfigWrite's checks in the reference's order."""
    warning = ""
    persist = False
    value, given = d.get_ok("min_decryption_version")
    if given:
        if value < 0:
            raise ErrorResponse("min decryption version cannot be negative")
        if value == 0:
            value = 1
            warning = "since Vault 0.3 (prior to the OpenBao fork), transit key numbering starts at 1; forcing minimum to 1"
        if value != p.min_decryption_version:
            if value > p.latest_version:
                raise ErrorResponse(
                    f"cannot set min decryption version of {value}, latest key version is {p.latest_version}"
                )
            p.min_decryption_version = value
            persist = True
    value, given = d.get_ok("min_encryption_version")
    if given:
        if value < 0:
            raise ErrorResponse("min encryption version cannot be negative")
        if value != p.min_encryption_version:
            if value > p.latest_version:
                raise ErrorResponse(
                    f"cannot set min encryption version of {value}, latest key version is {p.latest_version}"
                )
            p.min_encryption_version = value
            persist = True
    if 0 < p.min_encryption_version < p.min_decryption_version:
        raise ErrorResponse(
            f"cannot set min encryption/decryption values; min encryption version of {p.min_encryption_version} "
            f"must be greater than or equal to min decryption version of {p.min_decryption_version}"
        )
    value, given = d.get_ok("deletion_allowed")
    if given and value != p.deletion_allowed:
        p.deletion_allowed = value
        persist = True
    if p.min_decryption_version == 0:
        p.min_decryption_version = 1
        persist = True
    value, given = d.get_ok("exportable")
    if given and value and not p.exportable:
        p.exportable = True
        persist = True
    value, given = d.get_ok("allow_plaintext_backup")
    if given and value and not p.allow_plaintext_backup:
        p.allow_plaintext_backup = True
        persist = True
    value, given = d.get_ok("auto_rotate_period")
    if given:
        if value != 0 and value < 3600:
            raise ErrorResponse("auto rotate period must be 0 to disable or at least an hour")
        if value * 1_000_000_000 != p.auto_rotate_period:
            p.auto_rotate_period = value * 1_000_000_000
            persist = True
        if p.type == C.EXTERNAL_KEY and p.auto_rotate_period != 0:
            raise ErrorResponse("auto rotate period must be disabled on external keys")
    if persist:
        if p.min_available_version > p.min_encryption_version:
            raise ErrorResponse("min encryption version should not be less than min available version")
        if p.min_available_version > p.min_decryption_version:
            raise ErrorResponse("min decryption version should not be less then min available version")
        try:
            p.persist(storage)
        except TransitError as exc:
            raise go_error(exc) from None
    resp = Response(data=key_document(p))
    if warning:
        resp.add_warning(warning)
    return resp
