"""The sys endpoints Vault serves outside the logical router: health, init, seal, unseal, leader.

They answer bare JSON (no envelope) and work while sealed, so they are handled before the Core's
pipeline. Each follows OpenBao's internal/http/sys_*.go, including its status codes and texts.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from ..core import pgpkeys
from ..core.seal import seal_config_problem
from ..framework import ErrorResponse
from ..version import TESSERA_VERSION, VAULT_VERSION
from .body import parse_body, parse_go_bool

if TYPE_CHECKING:
    from .app import App

COMMIT_DATE = "2026-11-23T00:00:00Z"
# Unseal key shares: the 32-byte key, or a Shamir share of it (one more byte).
KEY_MIN, KEY_MAX = 16, 33

RawHandler = Callable[
    ["App", str, dict[str, Any], bytes, dict[str, str], str], Awaitable[tuple[int, bytes | None]]
]


def _method_not_allowed() -> tuple[int, bytes]:
    return 405, orjson.dumps({"errors": []})


def _first(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return str(value)


# -- strict JSON bodies (Go's json.Unmarshal into a struct) -----------------------------------
_GO_TYPES = {int: "int", str: "string", bool: "bool", list: "[]string"}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def decode_struct(raw: bytes, struct: str, fields: dict[str, type]) -> dict[str, Any]:
    """Decode a JSON body like ``json.Unmarshal(&struct)``: Go's texts for bad JSON and bad types.

    Unknown keys are ignored, keys match case-insensitively, null leaves the zero value.
    """
    out: dict[str, Any] = {name: kind() for name, kind in fields.items()}
    if not raw.strip():
        return out
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parse_body(raw, "application/json")  # raises with Go's wording
        raise
    if parsed is None:
        return out
    if not isinstance(parsed, dict):
        kind = _json_kind(parsed)
        raise ErrorResponse(
            f"failed to decode JSON input: json: cannot unmarshal {kind} into Go value of type http.{struct}"
        )
    by_lower = {name.lower(): name for name in fields}
    for key, value in parsed.items():
        name = by_lower.get(key.lower())
        if name is None or value is None:
            continue
        kind = fields[name]
        ok = (
            (kind is int and isinstance(value, int) and not isinstance(value, bool))
            or (kind is str and isinstance(value, str))
            or (kind is bool and isinstance(value, bool))
            or (kind is list and isinstance(value, list) and all(isinstance(v, str) for v in value))
        )
        if not ok:
            shown = _json_kind(value)
            if kind is int and isinstance(value, float) and not isinstance(value, bool):
                shown = f"number {value!r}"
            raise ErrorResponse(
                f"failed to decode JSON input: json: cannot unmarshal {shown} into Go struct field "
                f"{struct}.{name} of type {_GO_TYPES[kind]}"
            )
        out[name] = value
    return out


# -- documents ---------------------------------------------------------------------------------
def seal_status_doc(app: App) -> dict[str, Any]:
    """GetSealStatus: threshold and progress once initialised, cluster identity once unsealed."""
    core = app.core
    cfg = core.seal_manager.config()
    sealed = core.sealed
    progress = core.seal_manager.progress
    doc: dict[str, Any] = {
        "type": "shamir",
        "initialized": cfg is not None,
        "sealed": sealed,
        "t": cfg.secret_threshold if cfg else 0,
        "n": cfg.secret_shares if cfg else 0,
        "progress": len(progress.shares) if sealed and cfg else 0,
        "nonce": progress.nonce if sealed and cfg else "",
        "recovery_seal": False,
        "version": VAULT_VERSION,
        "commit_date": COMMIT_DATE,
        "migration": False,
    }
    if cfg is not None and not sealed:
        doc["cluster_name"] = core.cluster_name
        doc["cluster_id"] = core.cluster_id
    if core.config.storage_type:
        doc["storage_type"] = core.config.storage_type
    doc["tessera_version"] = TESSERA_VERSION
    return doc


# -- handlers ----------------------------------------------------------------------------------
_INT = re.compile(r"^[+-]?\d+$")


async def health(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> tuple[int, bytes | None]:
    """GET/HEAD sys/health: the status code tells the state; query parameters may remap it."""
    if method not in ("GET", "HEAD"):
        return _method_not_allowed()
    core = app.core
    if "standbyok" in query and parse_go_bool(_first(query["standbyok"])) is None:
        return 400, orjson.dumps({"errors": []})
    codes = {"uninitcode": 501, "sealedcode": 503, "standbycode": 429, "activecode": 200}
    for key in codes:
        if key in query:
            text = _first(query[key])
            if not _INT.match(text):
                return 400, orjson.dumps({"errors": []})
            codes[key] = int(text)
    initialized = core.initialized()
    sealed = core.sealed
    if not initialized:
        status = codes["uninitcode"]
    elif sealed:
        status = codes["sealedcode"]
    else:
        status = codes["activecode"]
    doc: dict[str, Any] = {
        "initialized": initialized,
        "sealed": sealed,
        "standby": sealed,
        "replication_performance_mode": "unknown" if sealed else "disabled",
        "replication_dr_mode": "unknown" if sealed else "disabled",
        "server_time_utc": int(time.time()),
        "version": VAULT_VERSION,
        "tessera_version": TESSERA_VERSION,
    }
    if not sealed:
        doc["cluster_name"] = core.cluster_name
        doc["cluster_id"] = core.cluster_id
    return status, orjson.dumps(doc)


async def seal_status(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> tuple[int, bytes | None]:
    if method != "GET":
        return _method_not_allowed()
    return 200, orjson.dumps(seal_status_doc(app))


async def leader(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> tuple[int, bytes | None]:
    """No HA: the same answer sealed or not."""
    if method != "GET":
        return _method_not_allowed()
    return 200, orjson.dumps({"ha_enabled": False})


_INIT_FIELDS: dict[str, type] = {
    "secret_shares": int,
    "secret_threshold": int,
    "pgp_keys": list,
    "recovery_shares": int,
    "recovery_threshold": int,
    "recovery_pgp_keys": list,
    "root_token_pgp_key": str,
}


def validate_seal_config(shares: int, threshold: int, pgp_keys: list[str] | None = None) -> None:
    """SealConfig.Validate with Vault's texts, as a 400."""
    problem = seal_config_problem(shares, threshold, pgp_keys)
    if problem:
        raise ErrorResponse(f"invalid seal configuration: {problem}")


async def init(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> tuple[int, bytes | None]:
    """GET: whether initialised. PUT/POST: create the barrier; the answer holds the only copy of the keys."""
    core = app.core
    if method == "GET":
        return 200, orjson.dumps({"initialized": core.initialized()})
    if method not in ("PUT", "POST"):
        return _method_not_allowed()
    data = decode_struct(body, "InitRequest", _INIT_FIELDS)
    recovery = [k for k in ("recovery_shares", "recovery_threshold", "recovery_pgp_keys") if data[k]]
    if recovery:
        raise ErrorResponse(f"parameters {','.join(recovery)} not applicable to seal type shamir")
    shares, threshold = data["secret_shares"], data["secret_threshold"]
    # Vault validates the seal configuration before it looks at whether it is initialised.
    pgp_keys = [str(k) for k in data["pgp_keys"] or []]
    validate_seal_config(shares, threshold, pgp_keys)
    if core.initialized():
        raise ErrorResponse("Vault is already initialized")
    root_key = data["root_token_pgp_key"]
    # Vault finds an unusable key only while encrypting: for the shares before anything is stored,
    # for the root token after initialisation (leaving a server whose keys nobody got). Tessera
    # tries every key first, with the same texts, so a refused init leaves nothing behind.
    try:
        for key in (*pgp_keys, root_key):
            if key:
                pgpkeys.encrypt(b"", key)
    except pgpkeys.PGPKeyError as exc:
        raise ErrorResponse(str(exc)) from None
    result = await app.run(core.initialize, shares, threshold)
    keys: list[bytes] = result["keys"]
    root_token: str = result["root_token"]
    if pgp_keys:
        _, keys = await app.run(pgpkeys.encrypt_shares, keys, pgp_keys)
    if root_key:
        root_token = await app.run(pgpkeys.encrypt_token, root_token, root_key)
    return 200, orjson.dumps(
        {
            "keys": [k.hex() for k in keys],
            "keys_base64": [base64.b64encode(k).decode() for k in keys],
            "root_token": root_token,
        }
    )


def decode_unseal_key(text: str) -> bytes:
    """Hex if it decodes to a plausible key length, else standard base64 (as Vault tries them)."""
    try:
        key = bytes.fromhex(text)
        if KEY_MIN <= len(key) <= KEY_MAX:
            return key
    except ValueError:
        pass
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ErrorResponse("'key' must be a valid hex or base64 string") from None


async def unseal(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> tuple[int, bytes | None]:
    """Submit one key share (or reset the attempt); answers the seal status."""
    if method not in ("PUT", "POST"):
        return _method_not_allowed()
    core = app.core
    data = decode_struct(body, "UnsealRequest", {"key": str, "reset": bool, "migrate": bool})
    if data["reset"]:
        if not core.sealed:
            raise ErrorResponse("vault is unsealed")
        core.seal_manager.reset()
        return 200, orjson.dumps(seal_status_doc(app))
    if not data["key"]:
        raise ErrorResponse("'key' must be specified in request body as JSON, or 'reset' set to true")
    share = decode_unseal_key(data["key"])
    if not core.initialized():
        raise ErrorResponse("Vault is not initialized")
    if core.sealed:
        await app.run(core.unseal, share)
    return 200, orjson.dumps(seal_status_doc(app))


def _logical_body(body: bytes, headers: dict[str, str]) -> None:
    """Sealing builds a logical request first: a malformed body fails the same way."""
    parse_body(body, headers.get("content-type", ""))


async def seal(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> tuple[int, bytes | None]:
    """Needs a token with sudo on sys/seal; sealing a sealed server succeeds without one."""
    if method not in ("PUT", "POST"):
        return _method_not_allowed()
    _logical_body(body, headers)
    core = app.core
    if core.sealed:
        return 204, None
    await app.run(core.check_sudo, token, "sys/seal", "update")
    await app.run(core.seal)
    return 204, None


async def step_down(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> tuple[int, bytes | None]:
    """Without HA there is nothing to step down from: Vault answers 204 before checking the token."""
    if method not in ("PUT", "POST"):
        return _method_not_allowed()
    _logical_body(body, headers)
    return 204, None


async def metrics(
    app: App, method: str, query: dict[str, Any], body: bytes, headers: dict[str, str], token: str
) -> tuple[int, bytes | None, list[tuple[bytes, bytes]]] | None:
    """sys/metrics without a token, when the listener allows it; otherwise the logical path's."""
    if not app.unauthenticated_metrics_access:
        return None
    if method not in ("GET", "HEAD"):
        return _method_not_allowed()  # type: ignore[return-value]
    from ..telemetry.service import telemetry_of

    status, content_type, out = await app.run(
        telemetry_of(app.core).render, app.core, _first(query.get("format", ""))
    )
    return status, out, [(b"content-type", content_type.encode())]


RAW_HANDLERS: dict[str, RawHandler] = {
    "sys/health": health,
    "sys/seal-status": seal_status,
    "sys/leader": leader,
    "sys/init": init,
    "sys/unseal": unseal,
    "sys/seal": seal,
    "sys/step-down": step_down,
    "sys/metrics": metrics,  # type: ignore[dict-item]
}

# The key ceremonies (generate-root, rekey) live in their own module, which imports this one.
from .syshttp_keys import KEY_HANDLERS  # noqa: E402

RAW_HANDLERS.update(KEY_HANDLERS)
