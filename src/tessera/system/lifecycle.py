"""sys/health, sys/seal-status, sys/leader, sys/init, sys/unseal, sys/seal, sys/step-down.

Raw paths (see ``rawhttp.py``): they answer bare JSON with their own status and work while sealed,
as OpenBao's internal/http/sys_health.go, sys_init.go, sys_seal.go and sys_leader.go.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any

from ..core import pgpkeys
from ..core.ha import HAView
from ..core.seal import seal_config_problem
from ..framework import CodedError, ErrorResponse, Field, FieldType, Path, SealedError
from ..framework.body import parse_go_bool
from ..framework.logical import RawRequest, RawResponse
from ..gocompat.times import rfc3339_nano
from ..version import TESSERA_VERSION, VAULT_VERSION
from .rawhttp import RawHost, decode_struct, decode_unseal_key, parse_logical_body

COMMIT_DATE = "2026-11-23T00:00:00Z"
_INT = re.compile(r"^[+-]?\d+$")
GO_ZERO_TIME = "0001-01-01T00:00:00Z"  # a zero time.Time, as Go's JSON writes it


def seal_status_doc(host: RawHost) -> dict[str, Any]:
    """GetSealStatus: threshold and progress once initialised, cluster identity once unsealed."""
    core = host.core
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
    workers = core.config.extra.get("workers", 1)
    if isinstance(workers, int) and workers > 1:  # Tessera's own: processes serving this node
        doc["tessera_workers"] = workers
    return doc


PERF_STANDBY_CODE = 473  # Vault's performancestandbycode default


def _health_codes(req: RawRequest) -> dict[str, int] | None:
    """The status codes the query asks for (None: a malformed query, a bare 400)."""
    if "standbyok" in req.query and parse_go_bool(req.first("standbyok")) is None:
        return None
    codes = {"uninitcode": 501, "sealedcode": 503, "standbycode": 429, "activecode": 200}
    for key in codes:
        if key in req.query:
            text = req.first(key)
            if not _INT.match(text):
                return None
            codes[key] = int(text)
    return codes


async def health(host: RawHost, req: RawRequest) -> RawResponse:
    """GET/HEAD sys/health: the status code tells the state; query parameters may remap it."""
    codes = _health_codes(req)
    if codes is None:
        return RawResponse(400, b'{"errors":[]}')
    core = host.core
    initialized = core.initialized()
    sealed = core.sealed
    standby = sealed or (core.ha is not None and not core.ha.active)
    perf_standby = not sealed and core.ha is not None and core.ha.performance_standby
    if not initialized:
        status = codes["uninitcode"]
    elif sealed:
        status = codes["sealedcode"]
    elif perf_standby:
        status = (
            codes["activecode"] if parse_go_bool(req.first("perfstandbyok") or "false") else _perf_code(req)
        )
    elif standby and not parse_go_bool(req.first("standbyok") or "false"):
        status = codes["standbycode"]
    else:
        status = codes["activecode"]
    doc: dict[str, Any] = {
        "initialized": initialized,
        "sealed": sealed,
        "standby": standby,
        "replication_performance_mode": "unknown" if sealed else core.replication.mode("performance"),
        "replication_dr_mode": "unknown" if sealed else core.replication.mode("dr"),
        "server_time_utc": int(time.time()),
        "version": VAULT_VERSION,
        "tessera_version": TESSERA_VERSION,
    }
    if perf_standby:  # Vault's field; OpenBao leaves it out while false
        doc["performance_standby"] = True
    if not sealed:
        doc["cluster_name"] = core.cluster_name
        doc["cluster_id"] = core.cluster_id
    return RawResponse.json(doc, status)


def _perf_code(req: RawRequest) -> int:
    """A performance standby's status: 473, or ``performancestandbycode`` (ignored unless a
    number, as the reference ignores it)."""
    text = req.first("performancestandbycode") if "performancestandbycode" in req.query else ""
    return int(text) if _INT.match(text) else PERF_STANDBY_CODE


async def seal_status(host: RawHost, req: RawRequest) -> RawResponse:
    return RawResponse.json(seal_status_doc(host))


async def leader(host: RawHost, req: RawRequest) -> RawResponse:
    """Without HA the same answer sealed or not; with it, the active node as the HA table names
    it (a sealed node knows none: Vault's 503)."""
    core = host.core
    if core.ha is None:
        doc: dict[str, Any] = {"ha_enabled": False}
    elif core.sealed:
        raise SealedError()
    else:
        doc = leader_doc(core.ha)
    # Vault's sys/leader names the replication log's index on an active node or a lone server.
    last_wal = core.replication.last_wal()
    if last_wal and (core.ha is None or core.ha.active):
        doc["last_wal"] = last_wal
    return RawResponse.json(doc)


def leader_doc(ha: HAView) -> dict[str, Any]:
    """Vault's LeaderResponse (no raft indexes)."""
    found = ha.leader()
    is_self = ha.active
    return {
        "ha_enabled": True,
        "is_self": is_self,
        "active_time": rfc3339_nano(found.active_since) if is_self and found else GO_ZERO_TIME,
        "leader_address": found.api_addr if found else "",
        "leader_cluster_address": found.cluster_addr if found else "",
        "performance_standby": ha.performance_standby,
        "performance_standby_last_remote_wal": 0,
    }


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


async def init_status(host: RawHost, req: RawRequest) -> RawResponse:
    return RawResponse.json({"initialized": host.core.initialized()})


def _check_pgp_keys(keys: list[str]) -> None:
    """Vault finds an unusable key only while encrypting: for the shares before anything is stored,
    for the root token after initialisation (leaving a server whose keys nobody got). Tessera
    tries every key first, with the same texts, so a refused init leaves nothing behind."""
    try:
        for key in keys:
            if key:
                pgpkeys.encrypt(b"", key)
    except pgpkeys.PGPKeyError as exc:
        raise ErrorResponse(str(exc)) from None


async def initialize(host: RawHost, req: RawRequest) -> RawResponse:
    """Create the barrier; the answer holds the only copy of the keys."""
    core = host.core
    data = decode_struct(req.body, "InitRequest", _INIT_FIELDS)
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
    _check_pgp_keys([*pgp_keys, root_key])
    result = await host.run(core.initialize, shares, threshold)
    keys: list[bytes] = result["keys"]
    root_token: str = result["root_token"]
    if pgp_keys:
        _, keys = await host.run(pgpkeys.encrypt_shares, keys, pgp_keys)
    if root_key:
        root_token = await host.run(pgpkeys.encrypt_token, root_token, root_key)
    return RawResponse.json(
        {
            "keys": [k.hex() for k in keys],
            "keys_base64": [base64.b64encode(k).decode() for k in keys],
            "root_token": root_token,
        }
    )


async def unseal(host: RawHost, req: RawRequest) -> RawResponse:
    """Submit one key share (or reset the attempt); answers the seal status."""
    core = host.core
    data = decode_struct(req.body, "UnsealRequest", {"key": str, "reset": bool, "migrate": bool})
    if data["reset"]:
        if not core.sealed:
            raise ErrorResponse("vault is unsealed")
        core.seal_manager.reset()
        return RawResponse.json(seal_status_doc(host))
    if not data["key"]:
        raise ErrorResponse("'key' must be specified in request body as JSON, or 'reset' set to true")
    share = decode_unseal_key(data["key"])
    if not core.initialized():
        raise ErrorResponse("Vault is not initialized")
    if core.sealed:
        await host.run(core.unseal, share)
    return RawResponse.json(seal_status_doc(host))


async def seal(host: RawHost, req: RawRequest) -> RawResponse:
    """Needs a token with sudo on sys/seal; sealing a sealed server succeeds without one."""
    parse_logical_body(req)
    core = host.core
    if core.sealed:
        return RawResponse.empty()
    if core.ha is not None and not core.ha.active:
        raise CodedError(500, "vault cannot seal when in standby mode; please restart instead")
    await host.run(core.check_sudo, req.token, "sys/seal", "update")
    await host.run(core.seal)
    return RawResponse.empty()


async def step_down(host: RawHost, req: RawRequest) -> RawResponse:
    """Without HA there is nothing to step down from: Vault answers 204 before checking the token.
    With HA (on the active node: standbys forward it) the token needs sudo; the lock is released
    soon after the answer and another node takes over."""
    parse_logical_body(req)
    ha = host.core.ha
    if ha is not None and ha.active:
        await host.run(host.core.check_sudo, req.token, "sys/step-down", "update")
        ha.step_down()
    return RawResponse.empty()


_INIT_DOC = {
    "secret_shares": Field(FieldType.INT, "Number of key shares to split the root key into."),
    "secret_threshold": Field(FieldType.INT, "Number of key shares required to rebuild the root key."),
    "pgp_keys": Field(FieldType.STRING_SLICE, "PGP keys to encrypt each key share with."),
    "root_token_pgp_key": Field(FieldType.STRING, "PGP key to encrypt the initial root token with."),
}
_UNSEAL_DOC = {
    "key": Field(FieldType.STRING, "An unseal key share, hex or base64."),
    "reset": Field(FieldType.BOOL, "Forget the key shares submitted so far."),
}
_BOTH = ("PUT", "POST")


def lifecycle_paths() -> list[Path]:
    """The raw paths of the server's lifecycle (they need no Core to be declared)."""
    return [
        Path(
            "health",
            raw={"GET": health, "HEAD": health},
            sealed_ok=True,
            unauthenticated=True,
            synopsis="Checks the health of the server.",
        ),
        Path(
            "seal-status",
            raw={"GET": seal_status},
            sealed_ok=True,
            unauthenticated=True,
            synopsis="Returns the seal status of the server.",
        ),
        Path(
            "leader",
            raw={"GET": leader},
            sealed_ok=True,
            unauthenticated=True,
            synopsis="Returns the high availability status and current leader.",
        ),
        Path(
            "init",
            fields=_INIT_DOC,
            raw={"GET": init_status, **dict.fromkeys(_BOTH, initialize)},
            sealed_ok=True,
            unauthenticated=True,
            synopsis="Initializes or reports the initialization status of the server.",
        ),
        Path(
            "unseal",
            fields=_UNSEAL_DOC,
            raw=dict.fromkeys(_BOTH, unseal),
            sealed_ok=True,
            unauthenticated=True,
            synopsis="Submits an unseal key share, or resets the unseal attempt.",
        ),
        Path(
            "seal",
            raw=dict.fromkeys(_BOTH, seal),
            sealed_ok=True,
            synopsis="Seals the server (needs sudo).",
        ),
        Path(
            "step-down",
            raw=dict.fromkeys(_BOTH, step_down),
            sealed_ok=True,
            synopsis="Causes the node to give up active status (needs sudo).",
        ),
    ]
