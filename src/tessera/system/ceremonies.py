"""The unauthenticated key ceremonies: sys/generate-root/*, sys/generate-recovery-token/*,
sys/rekey/* and sys/rekey-recovery-key/* (OpenBao's internal/http/sys_generate_root.go, sys_rekey.go).

Raw paths like sys/health (see ``rawhttp.py``). Vault serves them to anyone: the unseal key shares
are the credential, so anyone can also cancel an operator's ceremony. OpenBao 2.5+ hides them unless
a listener sets ``disable_unauthed_*_endpoints = false``, and so does Tessera, dev mode included
(:func:`refused_key_endpoints`; hvac and the Vault CLI need them turned back on). As in OpenBao,
every request is first built as a logical request (a malformed body fails there) and refused while
sealed, except the recovery endpoints, which exist to work on a sealed server.
"""

from __future__ import annotations

from typing import Any

from ..core import rekey as rekey_mod
from ..core import rootgen
from ..framework import CodedError, ErrorResponse, Field, FieldType, Path
from ..framework.backend import ANY_METHOD
from ..framework.logical import RawRequest, RawResponse
from .rawhttp import RawHost, decode_struct, required_key


# -- generate-root / generate-recovery-token ---------------------------------------------------
def generate_root_status(host: RawHost, otp: str = "") -> dict[str, Any]:
    """GenerateRootStatusResponse for GET …/attempt (the OTP only right after it was generated)."""
    gen = rootgen.generation(host.core)
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


class RootTokenCeremony:
    """The handlers of one root-token strategy: a root token, or a recovery token."""

    def __init__(self, strategy: str) -> None:
        self.strategy = strategy

    async def status(self, host: RawHost, req: RawRequest) -> RawResponse:
        return RawResponse.json(generate_root_status(host))

    async def start(self, host: RawHost, req: RawRequest) -> RawResponse:
        data = decode_struct(req.body, "GenerateRootInitRequest", {"otp": str, "pgp_key": str})
        otp, generated = data["otp"], ""
        if not otp and not data["pgp_key"]:
            otp = generated = rootgen.generate_otp()
        try:
            await host.run(rootgen.generation(host.core).init, otp, data["pgp_key"], self.strategy)
        except rootgen.GenerateRootError as exc:
            raise ErrorResponse(str(exc)) from None
        return RawResponse.json(generate_root_status(host, generated))

    async def cancel(self, host: RawHost, req: RawRequest) -> RawResponse:
        rootgen.generation(host.core).cancel()
        return RawResponse.empty()

    async def update(self, host: RawHost, req: RawRequest) -> RawResponse:
        data = decode_struct(req.body, "GenerateRootUpdateRequest", {"Nonce": str, "Key": str})
        key = required_key(data)
        gen = rootgen.generation(host.core)
        try:
            result = await host.run(gen.update, key, data["Nonce"], self.strategy)
        except rootgen.GenerateRootError as exc:
            raise ErrorResponse(str(exc)) from None
        return RawResponse.json(
            {
                "nonce": data["Nonce"],
                "started": True,
                "progress": result.progress,
                "required": result.required,
                "complete": result.complete,
                "encoded_token": result.encoded_token,
                "encoded_root_token": result.encoded_token if self.strategy == rootgen.STANDARD else "",
                "pgp_fingerprint": result.pgp_fingerprint,
                "otp": "",
                "otp_length": 0,
            }
        )

    def paths(self, prefix: str, *, sealed_ok: bool) -> list[Path]:
        """``<prefix>/attempt`` and ``<prefix>/update``."""
        attempt = {"GET": self.status, "POST": self.start, "PUT": self.start, "DELETE": self.cancel}
        return [
            Path(
                f"{prefix}/attempt",
                fields={
                    "otp": Field(FieldType.STRING, "A one-time password to encode the token with."),
                    "pgp_key": Field(FieldType.STRING, "A PGP key to encrypt the token with."),
                },
                raw=attempt,  # type: ignore[arg-type]
                sealed_ok=sealed_ok,
                synopsis="Reads, starts or cancels the generation of a token.",
            ),
            Path(
                f"{prefix}/update",
                fields=_UPDATE_FIELDS,
                raw={ANY_METHOD: self.update},
                sealed_ok=sealed_ok,
                synopsis="Submits an unseal key share towards the token.",
            ),
        ]


_UPDATE_FIELDS = {
    "key": Field(FieldType.STRING, "An unseal key share, hex or base64."),
    "nonce": Field(FieldType.STRING, "The nonce of the attempt."),
}
ROOT_TOKEN = RootTokenCeremony(rootgen.STANDARD)
RECOVERY_TOKEN = RootTokenCeremony(rootgen.RECOVERY)
DR_OPERATION_TOKEN = RootTokenCeremony(rootgen.DR)


# -- rekey ------------------------------------------------------------------------------------
def _coded(exc: rekey_mod.RekeyError) -> CodedError:
    return CodedError(exc.status, exc.message)


def _rekey_state(host: RawHost) -> rekey_mod.Rekey:
    """The rekey state of an initialised server."""
    if host.core.seal_manager.config() is None:
        raise ErrorResponse("server is not yet initialized")
    return rekey_mod.rekey(host.core)


def rekey_status(host: RawHost) -> dict[str, Any]:
    """RekeyStatusResponse for GET sys/rekey/init."""
    state = _rekey_state(host)
    try:
        conf = state.current()
        doc: dict[str, Any] = {
            "nonce": "",
            "started": False,
            "t": 0,
            "n": 0,
            "progress": 0,
            "required": state.threshold(),
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


def rekey_verify_status(host: RawHost) -> dict[str, Any]:
    """RekeyVerificationStatusResponse: the *new* shape and the verification progress."""
    state = _rekey_state(host)
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


async def rekey_read(host: RawHost, req: RawRequest) -> RawResponse:
    return RawResponse.json(rekey_status(host))


async def rekey_start(host: RawHost, req: RawRequest) -> RawResponse:
    data = decode_struct(req.body, "RekeyRequest", _REKEY_FIELDS)
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
        rekey_mod.rekey(host.core).init(conf)
    except rekey_mod.RekeyError as exc:
        raise _coded(exc) from None
    return RawResponse.json(rekey_status(host))


async def rekey_cancel(host: RawHost, req: RawRequest) -> RawResponse:
    try:
        rekey_mod.rekey(host.core).cancel()
    except rekey_mod.RekeyError as exc:
        raise _coded(exc) from None
    return RawResponse.empty()


async def rekey_update(host: RawHost, req: RawRequest) -> RawResponse:
    data = decode_struct(req.body, "RekeyUpdateRequest", {"Nonce": str, "Key": str})
    key = required_key(data)
    try:
        result = await host.run(rekey_mod.rekey(host.core).update, key, data["Nonce"])
    except rekey_mod.RekeyError as exc:
        raise _coded(exc) from None
    if result is None:
        return RawResponse.json(rekey_status(host))
    return RawResponse.json(result.to_json())


async def rekey_verify_read(host: RawHost, req: RawRequest) -> RawResponse:
    return RawResponse.json(rekey_verify_status(host))


async def rekey_verify_restart(host: RawHost, req: RawRequest) -> RawResponse:
    try:
        rekey_mod.rekey(host.core).verify_restart()
    except rekey_mod.RekeyError as exc:
        raise _coded(exc) from None
    return RawResponse.json(rekey_verify_status(host))


async def rekey_verify(host: RawHost, req: RawRequest) -> RawResponse:
    data = decode_struct(req.body, "RekeyVerificationUpdateRequest", {"nonce": str, "key": str})
    key = required_key(data, "key")
    try:
        nonce = await host.run(rekey_mod.rekey(host.core).verify, key, data["nonce"])
    except rekey_mod.RekeyError as exc:
        raise _coded(exc) from None
    if nonce is None:
        return RawResponse.json(rekey_verify_status(host))
    return RawResponse.json({"nonce": nonce, "complete": True})


async def rekey_recovery_unsupported(host: RawHost, req: RawRequest) -> RawResponse:
    """sys/rekey-recovery-key/init|verify: the Shamir seal has no recovery keys."""
    raise ErrorResponse("recovery rekeying not supported")


async def rekey_recovery_update(host: RawHost, req: RawRequest) -> RawResponse:
    data = decode_struct(req.body, "RekeyUpdateRequest", {"Nonce": str, "Key": str})
    key = required_key(data)
    if len(key) < rekey_mod.KEY_MIN:
        raise ErrorResponse(f"key is shorter than minimum {rekey_mod.KEY_MIN} bytes")
    if len(key) > rekey_mod.KEY_MAX:
        raise ErrorResponse(f"key is longer than maximum {rekey_mod.KEY_MAX} bytes")
    raise CodedError(500, "failed to fetch existing recovery config: recovery not supported")


_REKEY_DOC = {
    "secret_shares": Field(FieldType.INT, "Number of key shares to split the new root key into."),
    "secret_threshold": Field(FieldType.INT, "Number of key shares required to rebuild it."),
    "pgp_keys": Field(FieldType.STRING_SLICE, "PGP keys to encrypt each new key share with."),
    "backup": Field(FieldType.BOOL, "Keep the PGP-encrypted new key shares in storage."),
    "require_verification": Field(FieldType.BOOL, "Have the new key shares proven before use."),
}


def _rekey_paths() -> list[Path]:
    both = ("POST", "PUT")
    return [
        Path(
            "rekey/init",
            fields=_REKEY_DOC,
            raw={"GET": rekey_read, **dict.fromkeys(both, rekey_start), "DELETE": rekey_cancel},
            synopsis="Reads, starts or cancels a rekey of the root key.",
        ),
        Path(
            "rekey/update",
            fields=_UPDATE_FIELDS,
            raw={ANY_METHOD: rekey_update},
            synopsis="Submits an unseal key share towards the rekey.",
        ),
        Path(
            "rekey/verify",
            fields=_UPDATE_FIELDS,
            raw={
                "GET": rekey_verify_read,
                "DELETE": rekey_verify_restart,
                **dict.fromkeys(both, rekey_verify),
            },
            synopsis="Reads, restarts or advances the verification of the new key shares.",
        ),
        Path(
            "rekey-recovery-key/init",
            raw={ANY_METHOD: rekey_recovery_unsupported},
            synopsis="Recovery keys (not supported by the Shamir seal).",
        ),
        Path(
            "rekey-recovery-key/update",
            fields=_UPDATE_FIELDS,
            raw={ANY_METHOD: rekey_recovery_update},
            synopsis="Recovery keys (not supported by the Shamir seal).",
        ),
        Path(
            "rekey-recovery-key/verify",
            raw={ANY_METHOD: rekey_recovery_unsupported},
            synopsis="Recovery keys (not supported by the Shamir seal).",
        ),
    ]


def ceremony_paths() -> list[Path]:
    """The key ceremonies of a server in normal mode (a DR secondary's operation token among them)."""
    return [
        *ROOT_TOKEN.paths("generate-root", sealed_ok=False),
        *DR_OPERATION_TOKEN.paths("replication/dr/secondary/generate-operation-token", sealed_ok=False),
        *_rekey_paths(),
    ]


def recovery_paths() -> list[Path]:
    """The recovery-mode server's only raw paths (besides sys/raw, a logical one)."""
    return RECOVERY_TOKEN.paths("generate-recovery-token", sealed_ok=True)


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


def hidden_endpoint(host: RawHost, path: str) -> RawResponse:
    """What a hidden ceremony path answers: OpenBao routes it as a logical request, which a sealed
    server refuses first, and which finds no handler (the recovery-key paths no path at all)."""
    if host.core.sealed:
        return RawResponse.json({"errors": ["Vault is sealed"]}, 503)
    if path in RECOVERY_REKEY_PATHS:
        return RawResponse.json({"errors": ["unsupported path"]}, 404)
    return RawResponse.json({"errors": ["unsupported operation"]}, 405)
