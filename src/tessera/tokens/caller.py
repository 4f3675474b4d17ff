"""The token a client presents: resolved to its live entry, and allowed from the client's address."""

from __future__ import annotations

import ipaddress

from .batch import MalformedBatchToken  # at import, not per request (~1 µs each time)
from .entry import TokenEntry
from .store import TokenStore


def resolve_token(tokens: TokenStore, token_id: str) -> TokenEntry | None:
    """The live entry for a token presented by a client, or None."""
    if token_id.startswith(("hvr.", "r.")):
        return None  # recovery tokens live only in a recovery-mode server: a plain 403 here
    try:
        return tokens.lookup(token_id)
    except MalformedBatchToken:
        return None


def cidr_allows(entry: TokenEntry, remote_addr: str) -> bool:
    """Whether the token's bound CIDRs (if any) admit ``remote_addr``."""
    if not entry.bound_cidrs or (entry.type != "batch" and entry.expire_time <= 0):
        return True
    try:
        addr = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    for cidr in entry.bound_cidrs:
        try:
            if addr in ipaddress.ip_network(cidr, strict=False):
                return True
        except ValueError:
            continue
    return False


def resolve_caller(tokens: TokenStore, token_id: str, remote_addr: str) -> TokenEntry | None:
    """The caller's entry: presented, live, and allowed from its address; else None."""
    if not token_id:
        return None
    entry = resolve_token(tokens, token_id)
    if entry is not None and not cidr_allows(entry, remote_addr):
        return None
    return entry
