"""auth/token/revoke-batch: put a leaked batch token on the deny-list until it would expire.

Given the token, its own expiry bounds the entry, and its GCM tag names it (so neither prefix
spelling gets through). Given only ``token_sha256`` (of the ``hvb.`` spelling; a token one
should not paste), the expiry is unknown, so the entry lasts as long as any token can: the
system maximum TTL from now.
"""

from __future__ import annotations

import re
import time

from ..framework import ErrorResponse, Response
from . import batch
from .entry import is_batch_id
from .host import TokenHost

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def revoke_batch_token(core: TokenHost, token: str, token_sha256: str) -> Response | None:
    if bool(token) == bool(token_sha256):
        raise ErrorResponse('exactly one of "token" or "token_sha256" is required')
    store = core.tokens
    if token_sha256:
        if not _SHA256_HEX.fullmatch(token_sha256):
            raise ErrorResponse('"token_sha256" must be 64 hexadecimal digits')
        _, system_max = core.mount_ttls(None)
        store.revoke_batch(bytes.fromhex(token_sha256), time.time() + system_max)
        return None
    if not is_batch_id(token):
        raise ErrorResponse("not a batch token: revoke service tokens with auth/token/revoke")
    try:
        opened = batch.open_token(store.barrier, token)
    except batch.MalformedBatchToken:
        opened = None
    if opened is None:
        raise ErrorResponse("token to revoke not found")
    entry, tag = opened
    if entry.expired():
        return None  # refused already, nothing to remember
    store.revoke_batch(tag, entry.expire_time)
    return None
