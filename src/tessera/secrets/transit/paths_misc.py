"""random, hash, export, backup and restore."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ed25519

from ...framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from ...framework.random_api import random_response
from . import consts as C
from .common import NAME, go_error, pem_chain
from .encoding import Base64Error, atoi, b64decode, b64encode
from .errors import GoError, TransitError
from .manager import KeyManager
from .policy import KeyEntry, Policy

S = FieldType.STRING
_GENERIC = r"\w(([\w\-.]+)?\w)?"
_HASHES = {
    "sha2-224": "sha224",
    "sha2-256": "sha256",
    "sha2-384": "sha384",
    "sha2-512": "sha512",
    "sha3-224": "sha3_224",
    "sha3-256": "sha3_256",
    "sha3-384": "sha3_384",
    "sha3-512": "sha3_512",
}


_RANDOM_PATTERN = rf"random(/(?P<source>{_GENERIC}))?(/(?P<urlbytes>.+))?"


class MiscHandlers:
    """The random, hash, export, backup and restore handlers of one mount, over its key manager."""

    def __init__(self, manager: KeyManager) -> None:
        self.manager = manager

    def random_write(self, req: Request, d: FieldData) -> Response | None:
        return random_response(d)

    def hash_write(self, req: Request, d: FieldData) -> Response | None:
        value, given = d.get_ok("input")
        if not given:
            raise ErrorResponse("input missing")
        fmt = d.get("format")
        algorithm = d.get("urlalgorithm") or d.get("algorithm")
        try:
            data = b64decode(value)
        except Base64Error as exc:
            raise ErrorResponse(f"unable to decode input as base64: {exc}") from None
        if fmt not in ("hex", "base64"):
            raise ErrorResponse(f'unsupported encoding format {fmt}; must be "hex" or "base64"')
        name = _HASHES.get(algorithm)
        if name is None:
            raise ErrorResponse(f"unsupported algorithm {algorithm}")
        digest = hashlib.new(name, data).digest()
        return Response(data={"sum": digest.hex() if fmt == "hex" else b64encode(digest)})

    def export_read(self, req: Request, d: FieldData) -> Response | None:
        export_type = d.get("type")
        name = d.get("name")
        version = d.get("version")
        fmt = d.get("format")
        if export_type not in (
            "encryption-key",
            "signing-key",
            "hmac-key",
            "public-key",
            "certificate-chain",
        ):
            raise ErrorResponse(f"invalid export type: {export_type}")
        if fmt not in ("", "raw", "der", "pem"):
            raise ErrorResponse(f"invalid format: {fmt}")
        p = self.manager.get(req.storage, name)
        if p is None:
            return None
        if not p.exportable and export_type not in ("public-key", "certificate-chain"):
            raise ErrorResponse("private key material is not exportable")
        if p.soft_deleted:
            raise go_error(TransitError(C.ERR_SOFT_DELETED))
        if export_type == "encryption-key" and p.type not in C.ENCRYPTION:
            raise ErrorResponse("encryption not supported for the key")
        if export_type == "signing-key" and p.type not in C.SIGNING:
            raise ErrorResponse("signing not supported for the key")
        if export_type == "certificate-chain" and p.type not in C.SIGNING:
            raise ErrorResponse("certificate chain not supported for keys that do not support signing")
        keys: dict[str, str] = {}
        try:
            if version == "":
                for k, entry in p.keys.items():
                    keys[k] = export_key(p, entry, export_type, fmt)
            else:
                if version == "latest":
                    ver = p.latest_version
                else:
                    try:
                        ver = atoi(version.removeprefix("v"))
                    except ValueError:
                        raise ErrorResponse("invalid key version") from None
                if ver < p.min_decryption_version:
                    raise ErrorResponse("version for export is below minimum decryption version")
                entry = p.keys.get(str(ver))
                if entry is None:
                    raise ErrorResponse("version does not exist or cannot be found")
                keys[str(ver)] = export_key(p, entry, export_type, fmt)
        except TransitError as exc:
            raise go_error(exc) from None
        return Response(data={"name": p.name, "type": C.type_name(p.type), "keys": keys})

    def backup_read(self, req: Request, d: FieldData) -> Response | None:
        try:
            blob = self.manager.backup(req.storage, d.get("name"))
        except TransitError as exc:
            raise go_error(exc) from None
        return Response(data={"backup": blob})

    def restore_write(self, req: Request, d: FieldData) -> Response | None:
        backup = d.get("backup")
        force = d.get("force")
        if not backup:
            raise ErrorResponse("'backup' must be supplied")
        name = d.get("name")
        if "/" in name:
            raise go_error(TransitError("key names cannot be paths"))
        try:
            self.manager.restore(req.storage, name, backup, force)
        except TransitError as exc:
            raise go_error(exc) from None
        return None


def build(manager: KeyManager) -> list[Path]:
    """random, hash, export, backup and restore paths."""
    h = MiscHandlers(manager)
    return [
        Path(
            _RANDOM_PATTERN,
            fields={
                "urlbytes": Field(S),
                "bytes": Field(FieldType.INT, default=32),
                "format": Field(S, default="base64"),
                "source": Field(S, default="platform"),
            },
            operations={Operation.UPDATE: h.random_write},
            synopsis="Generate random bytes",
        ),
        Path(
            r"hash(/(?P<urlalgorithm>.+))?",
            fields={
                "input": Field(S),
                "algorithm": Field(S, default="sha2-256"),
                "urlalgorithm": Field(S),
                "format": Field(S, default="hex"),
            },
            operations={Operation.UPDATE: h.hash_write},
            synopsis="Generate a hash sum for input data",
        ),
        Path(
            rf"export/(?P<type>{_GENERIC})/" + NAME + r"(/(?P<version>.+))?",
            fields={"type": Field(S), "name": Field(S), "version": Field(S), "format": Field(S)},
            operations={Operation.READ: h.export_read},
            synopsis="Export named encryption or signing key",
        ),
        Path(
            "backup/" + NAME,
            fields={"name": Field(S)},
            operations={Operation.READ: h.backup_read},
            synopsis="Backup the named key",
        ),
        Path(
            r"restore(/(?P<name>.+))?",
            fields={"backup": Field(S), "name": Field(S), "force": Field(FieldType.BOOL, default=False)},
            operations={Operation.UPDATE: h.restore_write},
            synopsis="Restore the named key",
        ),
    ]


# -- export encodings (path_export.go) ---------------------------------------------------------
def _pem(der: bytes, label: str) -> str:
    body = b64encode(der)
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n"


def export_key(p: Policy, entry: KeyEntry, export_type: str, fmt: str) -> str:
    kt = p.type
    if export_type == "hmac-key":
        src = entry.key if kt == C.HMAC else entry.hmac_key
        if fmt in ("der", "pem"):
            raise GoError("unknown format for HMAC key; supported values are `` or `raw`")
        return b64encode(src or b"")
    if export_type == "encryption-key":
        if kt in C.SYMMETRIC:
            if fmt in ("der", "pem"):
                raise GoError("unknown format for HMAC key; supported values are `` or `raw`")
            return b64encode(entry.key or b"")
        if kt in C.RSA:
            return _rsa_private(entry, fmt)
    elif export_type == "signing-key":
        if kt in C.ECDSA:
            return _ec_private(kt, entry, fmt)
        if kt == C.ED25519:
            if not entry.key:
                return ""
            if fmt in ("", "raw"):
                return b64encode(entry.key)
            der = entry.ed25519_private().private_bytes(
                ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption()
            )
            return b64encode(der) if fmt == "der" else _pem(der, "PRIVATE KEY").strip()
        if kt in C.RSA:
            return _rsa_private(entry, fmt)
    elif export_type == "public-key":
        if kt in C.ECDSA:
            if fmt == "raw":
                raise GoError("unknown key format for ec key; supported values are ``, `der`, or `pem`")
            der = entry.ec_public(kt).public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo)
            return b64encode(der) if fmt == "der" else _pem(der, "PUBLIC KEY").strip()
        if kt == C.ED25519:
            text = entry.public_key.strip()
            if fmt in ("", "raw"):
                return text
            try:
                raw = b64decode(text)
                pub = ed25519.Ed25519PublicKey.from_public_bytes(raw)
            except (Base64Error, ValueError) as exc:
                raise GoError(str(exc)) from None
            der = pub.public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo)
            return b64encode(der) if fmt == "der" else _pem(der, "PUBLIC KEY").strip()
        if kt in C.RSA:
            if fmt == "raw":
                raise GoError("unknown key format for rsa key; supported values are ``, `der`, or `pem`")
            pub_rsa = entry.rsa_public()
            if pub_rsa is None:
                raise GoError("requested to encode an RSA public key with no RSA key present")
            der = pub_rsa.public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo)
            return b64encode(der) if fmt == "der" else _pem(der, "PUBLIC KEY")
    elif export_type == "certificate-chain":
        if not entry.certificate_chain:
            raise GoError("selected key version does not have a certificate chain imported")
        return pem_chain(entry.certificate_chain)
    raise GoError(f"unknown key type {C.type_name(kt)} for export type {export_type}")


def _rsa_private(entry: KeyEntry, fmt: str) -> str:
    if fmt == "raw":
        raise GoError("unknown key format for rsa key; supported values are ``, `der`, or `pem`")
    if entry.private_key_missing():
        return ""
    priv = entry.rsa_private()
    assert priv is not None
    if fmt == "":
        der = priv.private_bytes(ser.Encoding.DER, ser.PrivateFormat.TraditionalOpenSSL, ser.NoEncryption())
        return _pem(der, "RSA PRIVATE KEY")
    der = priv.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    return b64encode(der) if fmt == "der" else _pem(der, "PRIVATE KEY")


def _ec_private(kt: int, entry: KeyEntry, fmt: str) -> str:
    if fmt == "raw":
        raise GoError("unknown key format for ec key; supported values are ``, `der`, or `pem`")
    if entry.private_key_missing():
        return ""
    priv = entry.ec_private(kt)
    if fmt == "":
        der = priv.private_bytes(ser.Encoding.DER, ser.PrivateFormat.TraditionalOpenSSL, ser.NoEncryption())
        return _pem(der, "EC PRIVATE KEY").strip()
    der = priv.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    return b64encode(der) if fmt == "der" else _pem(der, "PRIVATE KEY").strip()
