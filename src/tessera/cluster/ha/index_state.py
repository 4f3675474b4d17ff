"""Vault's ``X-Vault-Index``: where the cluster stood after a client's write, signed.

Every answer the active node gives to a request that wrote carries one: the PostgreSQL
transaction ID of the request's last write (``PostgreSQLPhysical.last_commit``), in Vault's form
(base64 of ``v1:<cluster id>:<index>:0:<hmac>``) and HMAC-SHA256-signed with a key derived from
the cluster CA's private key, which lives behind the barrier (``node_tls.py``): clients cannot
forge one, and every unsealed node of the cluster can check it. A performance standby given one
serves the request once its change feed has read that commit (``role.py``); the value is opaque
to clients, as Vault's is.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization

from ...barrier.keyed_hash import KeyedSha256
from ...core.core import Core
from ...storage.postgresql import PostgreSQLPhysical
from .node_tls import NodeCertificates

INDEX_HEADER = "x-vault-index"
MISSING_STATE = "required index state not present"  # Vault's words, with 412
_VERSION = "v1"
_LABEL = b"tessera x-vault-index v1\0"


class IndexStates:
    """Signs the index of a request's writes, and checks the ones clients present."""

    def __init__(self, core: Core, tls: NodeCertificates, physical: PostgreSQLPhysical) -> None:
        self.core = core
        self.tls = tls
        self.physical = physical
        self._keyed: tuple[object, KeyedSha256] | None = None  # (the CA it came from, the HMAC)

    def _mac(self) -> KeyedSha256 | None:
        """The HMAC under the key derived from the cluster CA's key (None: sealed, no CA yet)."""
        ca = self.tls.ca()
        if ca is None:
            return None
        keyed = self._keyed
        if keyed is None or keyed[0] is not ca:
            secret = ca.key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            keyed = self._keyed = (ca, KeyedSha256(hashlib.sha256(_LABEL + secret).digest()))
        return keyed[1]

    def sign(self, xid: int) -> str | None:
        mac = self._mac()
        if mac is None:
            return None
        state = f"{_VERSION}:{self.core.cluster_id}:{xid}:0"
        return base64.b64encode(f"{state}:{mac.hexdigest(state.encode())}".encode()).decode()

    def required(self, values: str) -> int | None:
        """The index the presented header(s) ask for (the highest of several); None when any is
        malformed or not signed by this cluster."""
        mac = self._mac()
        if mac is None:
            return None
        wanted = -1
        for value in values.split(","):
            try:
                raw = base64.b64decode(value.strip(), validate=True).decode("ascii")
            except (binascii.Error, UnicodeDecodeError):
                return None
            state, _, signature = raw.rpartition(":")
            if not hmac.compare_digest(mac.hexdigest(state.encode()), signature):
                return None
            parts = state.split(":")
            if len(parts) != 4 or parts[0] != _VERSION or not parts[2].isdigit():
                return None
            wanted = max(wanted, int(parts[2]))
        return wanted if wanted >= 0 else None

    def serve(self, serve: Callable[..., int], args: Sequence[Any]) -> int:
        """Serve on this (active) node: its answer carries the index of what the request wrote;
        a forged index is refused."""
        wanted = args[4].get(INDEX_HEADER)
        if wanted is not None and self.required(wanted) is None:
            return refuse(args)
        self.physical.last_commit(forget=True)
        return serve(_Indexed(args[0], self), *args[1:])


def refuse(args: Sequence[Any]) -> int:
    """412: the required index state is not present here (Vault's clients retry on it)."""
    body = orjson.dumps({"errors": [MISSING_STATE]})
    args[0].response_bytes(412, [("Content-Type", "application/json")], body)
    return 412


class _Indexed:
    """A client's connection whose answer carries the ``X-Vault-Index`` of the request's writes."""

    def __init__(self, proto: Any, states: IndexStates) -> None:
        self.proto = proto
        self.states = states

    def response_bytes(self, status: int, headers: Any, body: bytes) -> None:
        xid = self.states.physical.last_commit(forget=True)
        signed = None if xid is None else self.states.sign(xid)
        if signed is not None:
            headers = [*headers, ("X-Vault-Index", signed)]
        self.proto.response_bytes(status, headers, body)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.proto, name)
