"""Becoming a secondary: unwrap the activation token, spend its credential, copy the primary.

The activation token is a response-wrapped bundle (``manager.secondary_token``): unwrapped at the
primary's API address, it gives the replication CA, this secondary's client certificate and the
one-time credential, which the primary's replication listener takes over mutual TLS. The copy then
replaces everything stored here, as Vault's secondary enable wipes the secondary: the primary's
keyring and seal configuration come with it, so this server unseals with the primary's keys.
"""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass
from typing import Any

from ..framework.errors import ErrorResponse
from ..storage.base import TxnOp
from ..storage.tap import TappedPhysical
from .ca import KeyPair
from .channel import ChannelError, client_context, request_json

CHUNK = 256  # ops per storage transaction while the copy is written


@dataclass
class Activation:
    kind: str
    bundle: dict[str, Any]
    context: ssl.SSLContext
    cluster_id: str


def connection_of(bundle: dict[str, Any], primary_api_addr: str) -> dict[str, Any]:
    """What a secondary keeps of its activation to reconnect after a restart."""
    keys = ("secondary_id", "primary_cluster_addr", "ca_cert", "client_cert", "client_key")
    return {**{k: bundle[k] for k in keys}, "primary_api_addr": primary_api_addr}


def mtls_context(connection: dict[str, Any]) -> ssl.SSLContext:
    return client_context(connection["ca_cert"], KeyPair(connection["client_cert"], connection["client_key"]))


def activate(kind: str, token: str, primary_api_addr: str, ca_file: str, own_api_addr: str) -> Activation:
    """Unwrap ``token`` at the primary and spend its credential there; 400s say what went wrong."""
    api_context = (
        ssl.create_default_context(cafile=ca_file or None) if primary_api_addr.startswith("https") else None
    )
    try:
        unwrapped = request_json(
            primary_api_addr,
            "POST",
            "/v1/sys/wrapping/unwrap",
            context=api_context,
            headers={"X-Vault-Token": token},
        )
    except ChannelError as exc:
        raise ErrorResponse(f"error unwrapping the activation token at {primary_api_addr}: {exc}") from None
    bundle = unwrapped.get("data") if isinstance(unwrapped, dict) else None
    needed = (
        "type",
        "secondary_id",
        "primary_cluster_addr",
        "ca_cert",
        "client_cert",
        "client_key",
        "credential",
    )
    if not isinstance(bundle, dict) or any(not isinstance(bundle.get(k), str) for k in needed):
        raise ErrorResponse("the token is not a replication activation token")
    if bundle["type"] != kind:
        raise ErrorResponse(f"the activation token is for a {bundle['type']} secondary, not a {kind} one")
    context = mtls_context(bundle)
    body = {"kind": kind, "credential": bundle["credential"], "api_address": own_api_addr}
    try:
        answer = request_json(
            bundle["primary_cluster_addr"], "POST", "/v1/replication/activate", context=context, body=body
        )
    except ChannelError as exc:
        raise ErrorResponse(
            f"error activating with the primary at {bundle['primary_cluster_addr']}: {exc}"
        ) from None
    return Activation(kind, bundle, context, str(answer.get("cluster_id", "")))


def fetch_snapshot(base: str, kind: str, context: ssl.SSLContext) -> tuple[int, list[tuple[str, bytes]]]:
    """The primary's keyspace for ``kind``, page by page, and the log index it is current to."""
    entries: list[tuple[str, bytes]] = []
    after, wal = "", -1
    while True:
        query = {"kind": kind, "after": after}
        page = request_json(base, "GET", "/v1/replication/snapshot", context=context, query=query)
        if wal < 0:
            wal = int(page["wal"])
        entries += [(key, base64.b64decode(value)) for key, value in page["entries"]]
        if page["next"] is None:
            return wal, entries
        after = str(page["next"])


def install(tap: TappedPhysical, entries: list[tuple[str, bytes]], replaced: list[str]) -> list[TxnOp]:
    """Delete ``replaced`` keys the copy lacks, write the copy (below the tap); the ops written."""
    present = {key for key, _ in entries}
    ops = [TxnOp(key, None) for key in replaced if key not in present]
    ops += [TxnOp(key, value) for key, value in entries]
    for i in range(0, len(ops), CHUNK):
        tap.inner.transaction(ops[i : i + CHUNK])
    return ops


def copy_primary(activation: Activation, tap: TappedPhysical) -> int:
    """Replace this server's storage with the primary's keyspace; the log index it is current to."""
    try:
        wal, entries = fetch_snapshot(
            activation.bundle["primary_cluster_addr"], activation.kind, activation.context
        )
    except ChannelError as exc:
        raise ErrorResponse(f"error copying the primary's data: {exc}") from None
    install(tap, entries, tap.list_all(""))
    return wal
