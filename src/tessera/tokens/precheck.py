"""Checks Vault makes on token-related requests before it even looks at the caller's token.

(request_handling.go handleCancelableRequest): a wrapping token is validated first on
sys/wrapping/{lookup,unwrap,rewrap} (400 when invalid, not 403), and a non-string ``token``
parameter on auth/token/{lookup,renew,revoke,revoke-orphan} is refused as ``invalid token``.
"""

from __future__ import annotations

from ..framework import CodedError, Request
from .host import TokenHost
from .wrapping import validate_wrapping_request

WRAPPING_PATHS = frozenset({"sys/wrapping/lookup", "sys/wrapping/unwrap", "sys/wrapping/rewrap"})
TOKEN_PARAM_PATHS = frozenset(
    {"auth/token/lookup", "auth/token/renew", "auth/token/revoke", "auth/token/revoke-orphan"}
)


def precheck_request(core: TokenHost, req: Request, full_path: str) -> None:
    if full_path in WRAPPING_PATHS:
        validate_wrapping_request(core, req)
    elif full_path in TOKEN_PARAM_PATHS and "token" in req.data and not isinstance(req.data["token"], str):
        raise CodedError(403, "invalid token")
