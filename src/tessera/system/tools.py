"""sys/tools/hash and sys/tools/random: general-purpose helpers every token may use (default policy)."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from ..framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from ..framework.backend import generic_name
from ..framework.random_api import random_response
from ..gocompat.base64 import Base64Error, go_b64decode

if TYPE_CHECKING:
    from ..core.core import Core

HASHES = {
    "sha2-224": hashlib.sha224,
    "sha2-256": hashlib.sha256,
    "sha2-384": hashlib.sha384,
    "sha2-512": hashlib.sha512,
    "sha3-224": hashlib.sha3_224,
    "sha3-256": hashlib.sha3_256,
    "sha3-384": hashlib.sha3_384,
    "sha3-512": hashlib.sha3_512,
}


def _encode(data: bytes, fmt: str) -> str:
    return data.hex() if fmt == "hex" else base64.b64encode(data).decode()


def tools_paths(core: Core) -> list[Path]:
    def hash_write(req: Request, data: FieldData) -> Response:
        algorithm = data.get_raw("urlalgorithm") or data.get("algorithm")
        fmt = data.get("format")
        try:
            payload = go_b64decode(data.get("input"))
        except Base64Error as exc:
            raise ErrorResponse(f"unable to decode input as base64: {exc}") from None
        if fmt not in ("hex", "base64"):
            raise ErrorResponse(f'unsupported encoding format {fmt}; must be "hex" or "base64"')
        func = HASHES.get(algorithm)
        if func is None:
            raise ErrorResponse(f"unsupported algorithm {algorithm}")
        return Response(data={"sum": _encode(func(payload).digest(), fmt)})

    def random_write(req: Request, data: FieldData) -> Response:
        return random_response(data)

    hash_fields = {
        "input": Field(FieldType.STRING, "The base64-encoded input data"),
        "algorithm": Field(FieldType.STRING, "Algorithm to use (POST body parameter).", default="sha2-256"),
        "urlalgorithm": Field(FieldType.STRING, "Algorithm to use (POST URL parameter)"),
        "format": Field(FieldType.STRING, 'Encoding format to use. Can be "hex" or "base64".', default="hex"),
    }
    random_fields = {
        "urlbytes": Field(FieldType.STRING, "The number of bytes to generate (POST URL parameter)"),
        "bytes": Field(FieldType.INT, "The number of bytes to generate (POST body parameter).", default=32),
        "format": Field(
            FieldType.STRING, 'Encoding format to use. Can be "hex" or "base64".', default="base64"
        ),
        "source": Field(
            FieldType.STRING, 'Which system to source random data from: "platform", "seal" or "all".'
        ),
    }
    hash_ops = {Operation.UPDATE: hash_write}
    random_ops = {Operation.UPDATE: random_write}
    return [
        Path(
            r"tools/hash$",
            fields=hash_fields,
            operations=hash_ops,
            synopsis="Generate a hash sum for input data",
        ),
        Path(
            r"tools/hash/(?P<urlalgorithm>.+)",
            fields=hash_fields,
            operations=hash_ops,
            synopsis="Generate a hash sum",
        ),
        # Vault's pattern exactly: a segment the source name cannot be ("+8", "8-") is the byte
        # count's place, which HandleRandomAPI then ignores for the body's ``bytes``.
        Path(
            r"tools/random(/" + generic_name("source") + r")?(/(?P<urlbytes>.+))?$",
            fields=random_fields,
            operations=random_ops,
            synopsis="Generate random bytes",
        ),
    ]
