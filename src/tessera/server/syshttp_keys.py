"""The unauthenticated key-ceremony endpoints: sys/generate-root/*, sys/generate-recovery-token/*,
sys/rekey/* and sys/rekey-recovery-key/* (OpenBao's internal/http/sys_generate_root.go, sys_rekey.go).

They answer bare JSON like the other raw sys handlers. Vault serves them to anyone: the unseal key
shares are the credential, so anyone can also cancel an operator's ceremony. OpenBao 2.5+ hides them
unless a listener sets ``disable_unauthed_*_endpoints = false``, and so does Tessera, dev mode included
(:func:`refused_key_endpoints`; hvac and the Vault CLI need them turned back on). As in OpenBao, every request is first built
as a logical request (a malformed body fails there) and refused while sealed, except the recovery
endpoints, which exist to work on a sealed server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from ..core import rekey as rekey_mod
from ..core import rootgen
from ..framework import CodedError, ErrorResponse, SealedError
from .body import parse_body, parse_go_bool
from .syshttp import RawHandler, decode_struct, decode_unseal_key

if TYPE_CHECKING:
    from .app import App

Result = tuple[int, bytes | None]
_LOGICAL_METHODS = ("GET", "POST", "PUT", "DELETE", "LIST", "SCAN", "HEAD", "OPTIONS")


def _ok(doc: Any) -> Result:
    return 200, orjson.dumps(doc)


def _method_not_allowed() -> Result:
    return 405, orjson.dumps({"errors": []})


def _first(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


def logical_precheck(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str]
) -> None:
    """buildLogicalRequestNoAuth, then the audit step that refuses a sealed server."""
    if method == "GET":
        flags = []
        for name in ("list", "scan"):
            text = _first(query.get(name))
            value = parse_go_bool(text) if text else False
            if value is None:
                raise CodedError(400, "")
            flags.append(value)
        if all(flags):
            raise CodedError(400, "")
    elif method in ("POST", "PUT"):
        parse_body(body, headers.get("content-type", ""))
    elif method == "PATCH":
        ct = headers.get("content-type", "").split(";", 1)[0].strip()
        if not ct:
            raise ErrorResponse("mime: no media type")
        if ct.lower() != "application/merge-patch+json":
            raise CodedError(
                415, f"PATCH requires Content-Type of application/merge-patch+json, provided {ct}"
            )
        parse_body(body, "application/json")
    elif method not in _LOGICAL_METHODS:
        raise CodedError(405, "")
    if app.core.sealed:
        raise SealedError()


# -- generate-root / generate-recovery-token ---------------------------------------------------
def generate_root_status(app: App, otp: str = "") -> dict[str, Any]:
    """GenerateRootStatusResponse for GET …/attempt (the OTP only right after it was generated)."""
    gen = rootgen.generation(app.core)
    try:
        required = gen.required()
    except rootgen.GenerateRootError as exc:
        raise ErrorResponse(str(exc)) from None
    attempt = gen.attempt
    return {
        "nonce": attempt.nonce if attempt else "",
        "started": attempt is not None,
        "progress": gen.progress(),
        "required": required,
        "complete": False,
        "encoded_token": "",
        "encoded_root_token": "",
        "pgp_fingerprint": attempt.pgp_fingerprint if attempt else "",
        "otp": otp,
        "otp_length": rootgen.OTP_LENGTH,
    }


async def _attempt(app: App, method: str, body: bytes, strategy: str) -> Result:
    gen = rootgen.generation(app.core)
    if method == "GET":
        return _ok(generate_root_status(app))
    if method in ("POST", "PUT"):
        data = decode_struct(body, "GenerateRootInitRequest", {"otp": str, "pgp_key": str})
        otp, generated = data["otp"], ""
        if not otp and not data["pgp_key"]:
            otp = generated = rootgen.generate_otp()
        try:
            await app.run(gen.init, otp, data["pgp_key"], strategy)
        except rootgen.GenerateRootError as exc:
            raise ErrorResponse(str(exc)) from None
        return _ok(generate_root_status(app, generated))
    if method == "DELETE":
        gen.cancel()
        return 204, None
    return _method_not_allowed()


async def _update(app: App, body: bytes, strategy: str) -> Result:
    data = decode_struct(body, "GenerateRootUpdateRequest", {"Nonce": str, "Key": str})
    if not data["Key"]:
        raise ErrorResponse("'key' must be specified in request body as JSON")
    key = decode_unseal_key(data["Key"])
    try:
        result = await app.run(rootgen.generation(app.core).update, key, data["Nonce"], strategy)
    except rootgen.GenerateRootError as exc:
        raise ErrorResponse(str(exc)) from None
    return _ok(
        {
            "nonce": data["Nonce"],
            "started": True,
            "progress": result.progress,
            "required": result.required,
            "complete": result.complete,
            "encoded_token": result.encoded_token,
            "encoded_root_token": result.encoded_token if strategy == rootgen.STANDARD else "",
            "pgp_fingerprint": result.pgp_fingerprint,
            "otp": "",
            "otp_length": 0,
        }
    )


async def generate_root_attempt(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> Result:
    logical_precheck(app, method, query, body, headers)
    return await _attempt(app, method, body, rootgen.STANDARD)


async def generate_root_update(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> Result:
    logical_precheck(app, method, query, body, headers)
    return await _update(app, body, rootgen.STANDARD)


async def recovery_token_attempt(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> Result:
    """Recovery mode only; works on the sealed server (the last share unseals the barrier)."""
    return await _attempt(app, method, body, rootgen.RECOVERY)


async def recovery_token_update(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> Result:
    return await _update(app, body, rootgen.RECOVERY)


# -- rekey ------------------------------------------------------------------------------------
def _coded(exc: rekey_mod.RekeyError) -> CodedError:
    return CodedError(exc.status, exc.message)


def rekey_status(app: App) -> dict[str, Any]:
    """RekeyStatusResponse for GET sys/rekey/init."""
    if app.core.seal_manager.config() is None:
        raise ErrorResponse("server is not yet initialized")
    state = rekey_mod.rekey(app.core)
    try:
        conf = state.current()
        required = state.threshold()
        doc: dict[str, Any] = {
            "nonce": "",
            "started": False,
            "t": 0,
            "n": 0,
            "progress": 0,
            "required": required,
            "pgp_fingerprints": None,
            "backup": False,
            "verification_required": False,
        }
        if conf is not None:
            started, progress = state.progress(False)
            doc.update(
                nonce=conf.nonce,
                started=started,
                t=conf.secret_threshold,
                n=conf.secret_shares,
                progress=progress,
                verification_required=conf.verification_required,
            )
            if conf.pgp_keys:
                doc.update(pgp_fingerprints=list(conf.pgp_fingerprints), backup=conf.backup)
            if conf.verification_nonce:
                doc["verification_nonce"] = conf.verification_nonce
    except rekey_mod.RekeyError as exc:
        raise _coded(exc) from None
    return doc


def rekey_verify_status(app: App) -> dict[str, Any]:
    """RekeyVerificationStatusResponse: the *new* shape and the verification progress."""
    if app.core.seal_manager.config() is None:
        raise ErrorResponse("server is not yet initialized")
    state = rekey_mod.rekey(app.core)
    try:
        conf = state.current()
        if conf is None:
            raise ErrorResponse("no rekey configuration found")
        started, progress = state.progress(True)
    except rekey_mod.RekeyError as exc:
        raise _coded(exc) from None
    return {
        "nonce": conf.verification_nonce,
        "started": started,
        "t": conf.secret_threshold,
        "n": conf.secret_shares,
        "progress": progress,
    }


_REKEY_FIELDS: dict[str, type] = {
    "secret_shares": int,
    "secret_threshold": int,
    "pgp_keys": list,
    "backup": bool,
    "require_verification": bool,
}


async def rekey_init(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> Result:
    logical_precheck(app, method, query, body, headers)
    state = rekey_mod.rekey(app.core)
    if method == "GET":
        return _ok(rekey_status(app))
    if method in ("POST", "PUT"):
        data = decode_struct(body, "RekeyRequest", _REKEY_FIELDS)
        if data["backup"] and not data["pgp_keys"]:
            raise ErrorResponse(
                "cannot request a backup of the new keys without providing PGP keys for encryption"
            )
        if data["pgp_keys"] and len(data["pgp_keys"]) != data["secret_shares"]:
            raise ErrorResponse("incorrect number of PGP keys for rekey")
        conf = rekey_mod.RekeyConfig(
            secret_shares=data["secret_shares"],
            secret_threshold=data["secret_threshold"],
            pgp_keys=[str(k) for k in data["pgp_keys"] or []],
            backup=data["backup"],
            verification_required=data["require_verification"],
        )
        try:
            state.init(conf)
        except rekey_mod.RekeyError as exc:
            raise _coded(exc) from None
        return _ok(rekey_status(app))
    if method == "DELETE":
        try:
            state.cancel()
        except rekey_mod.RekeyError as exc:
            raise _coded(exc) from None
        return 204, None
    return _method_not_allowed()


async def rekey_update(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> Result:
    logical_precheck(app, method, query, body, headers)
    data = decode_struct(body, "RekeyUpdateRequest", {"Nonce": str, "Key": str})
    if not data["Key"]:
        raise ErrorResponse("'key' must be specified in request body as JSON")
    key = decode_unseal_key(data["Key"])
    try:
        result = await app.run(rekey_mod.rekey(app.core).update, key, data["Nonce"])
    except rekey_mod.RekeyError as exc:
        raise _coded(exc) from None
    if result is None:
        return _ok(rekey_status(app))
    return _ok(result.to_json())


async def rekey_verify(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> Result:
    logical_precheck(app, method, query, body, headers)
    state = rekey_mod.rekey(app.core)
    if method == "GET":
        return _ok(rekey_verify_status(app))
    if method == "DELETE":
        try:
            state.verify_restart()
        except rekey_mod.RekeyError as exc:
            raise _coded(exc) from None
        return _ok(rekey_verify_status(app))
    if method not in ("POST", "PUT"):
        return _method_not_allowed()
    data = decode_struct(body, "RekeyVerificationUpdateRequest", {"nonce": str, "key": str})
    if not data["key"]:
        raise ErrorResponse("'key' must be specified in request body as JSON")
    key = decode_unseal_key(data["key"])
    try:
        nonce = await app.run(state.verify, key, data["nonce"])
    except rekey_mod.RekeyError as exc:
        raise _coded(exc) from None
    if nonce is None:
        return _ok(rekey_verify_status(app))
    return _ok({"nonce": nonce, "complete": True})


async def rekey_recovery_unsupported(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> Result:
    """sys/rekey-recovery-key/init|verify: the Shamir seal has no recovery keys."""
    logical_precheck(app, method, query, body, headers)
    raise ErrorResponse("recovery rekeying not supported")


async def rekey_recovery_update(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> Result:
    logical_precheck(app, method, query, body, headers)
    data = decode_struct(body, "RekeyUpdateRequest", {"Nonce": str, "Key": str})
    if not data["Key"]:
        raise ErrorResponse("'key' must be specified in request body as JSON")
    key = decode_unseal_key(data["Key"])
    if len(key) < rekey_mod.KEY_MIN:
        raise ErrorResponse(f"key is shorter than minimum {rekey_mod.KEY_MIN} bytes")
    if len(key) > rekey_mod.KEY_MAX:
        raise ErrorResponse(f"key is longer than maximum {rekey_mod.KEY_MAX} bytes")
    raise CodedError(500, "failed to fetch existing recovery config: recovery not supported")


# Registered into syshttp.RAW_HANDLERS (normal mode).
KEY_HANDLERS: dict[str, RawHandler] = {
    "sys/generate-root/attempt": generate_root_attempt,
    "sys/generate-root/update": generate_root_update,
    "sys/rekey/init": rekey_init,
    "sys/rekey/update": rekey_update,
    "sys/rekey/verify": rekey_verify,
    "sys/rekey-recovery-key/init": rekey_recovery_unsupported,
    "sys/rekey-recovery-key/update": rekey_recovery_update,
    "sys/rekey-recovery-key/verify": rekey_recovery_unsupported,
}

REKEY_PATHS = ("sys/rekey/init", "sys/rekey/update", "sys/rekey/verify")
RECOVERY_REKEY_PATHS = (
    "sys/rekey-recovery-key/init",
    "sys/rekey-recovery-key/update",
    "sys/rekey-recovery-key/verify",
)
GENERATE_ROOT_PATHS = ("sys/generate-root/attempt", "sys/generate-root/update")


def refused_key_endpoints(listener: Any) -> frozenset[str]:
    """The ceremony paths a listener hides (``disable_unauthed_rekey_endpoints`` and
    ``disable_unauthed_generate_root_endpoints``, both true unless set to false)."""
    refused: tuple[str, ...] = ()
    if listener.disable_unauthed_rekey_endpoints:
        refused += REKEY_PATHS + RECOVERY_REKEY_PATHS
    if listener.disable_unauthed_generate_root_endpoints:
        refused += GENERATE_ROOT_PATHS
    return frozenset(refused)


def hidden_endpoint(app: App, path: str) -> Result:
    """What a hidden ceremony path answers: OpenBao routes it as a logical request, which a sealed
    server refuses first, and which finds no handler (the recovery-key paths no path at all)."""
    if app.core.sealed:
        return 503, orjson.dumps({"errors": ["Vault is sealed"]})
    if path in RECOVERY_REKEY_PATHS:
        return 404, orjson.dumps({"errors": ["unsupported path"]})
    return 405, orjson.dumps({"errors": ["unsupported operation"]})


# The recovery-mode server's only handlers besides sys/raw.
RECOVERY_HANDLERS: dict[str, RawHandler] = {
    "sys/generate-recovery-token/attempt": recovery_token_attempt,
    "sys/generate-recovery-token/update": recovery_token_update,
}
