"""Errors a request can end in, each knowing its HTTP status and Vault's exact wording.

Vault renders some errors as plain strings and others as Go multierror text
(``"1 error occurred:\\n\\t* msg\\n\\n"``); clients and tests compare both, so each
error says which form it takes.
"""

from __future__ import annotations

from typing import Any

from mypy_extensions import mypyc_attr


def multierror(*messages: str) -> str:
    """Render messages the way Go's hashicorp/go-multierror prints them."""
    head = "1 error occurred:" if len(messages) == 1 else f"{len(messages)} errors occurred:"
    body = "".join(f"\n\t* {m}" for m in messages)
    return f"{head}{body}\n\n"


# Every error class is a plain Python class even when this module is compiled (mypyc's
# ``native_class=False``): a subclass's class-level ``status``/``wrapped`` must override the base's,
# an instance's assignment (``PermissionDenied``, ``status=``) must override the class's, and
# uncompiled modules subclass them, all of which a native class's fixed fields would not allow.
@mypyc_attr(native_class=False)
class VaultError(Exception):
    """Base class: an error response with a status code and a list of messages."""

    status: int = 500
    wrapped: bool = False

    def __init__(self, message: str = "", *, status: int | None = None, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.data = data

    def errors(self) -> list[str]:
        if not self.message:
            return []
        return [multierror(self.message) if self.wrapped else self.message]


@mypyc_attr(native_class=False)
class ErrorResponse(VaultError):
    """A handler's logical.ErrorResponse: 400 with the bare message."""

    status = 400


@mypyc_attr(native_class=False)
class InvalidCredentials(ErrorResponse):
    """A login refused for a wrong secret of a known user or role (logical.ErrInvalidCredentials):
    answered as a 400 like any ErrorResponse, and counted by the core towards user lockout."""


@mypyc_attr(native_class=False)
class InvalidRequest(VaultError):
    """logical.ErrInvalidRequest-wrapped errors: 400 rendered as multierror text."""

    status = 400
    wrapped = True


@mypyc_attr(native_class=False)
class PermissionDenied(VaultError):
    """403. ``wrapped`` distinguishes an ACL denial from an unknown token."""

    status = 403

    def __init__(self, *, acl: bool = False, message: str = "permission denied") -> None:
        super().__init__(message)
        self.wrapped = acl


@mypyc_attr(native_class=False)
class UnsupportedPath(VaultError):
    status = 404
    wrapped = True

    def __init__(self) -> None:
        super().__init__("unsupported path")


@mypyc_attr(native_class=False)
class UnsupportedOperation(VaultError):
    status = 405
    wrapped = True

    def __init__(self) -> None:
        super().__init__("unsupported operation")


@mypyc_attr(native_class=False)
class NotFound(VaultError):
    """404 with an empty error list: what Vault answers for a read that found nothing."""

    status = 404

    def __init__(self, message: str = "") -> None:
        super().__init__(message)


@mypyc_attr(native_class=False)
class SealedError(VaultError):
    status = 503

    def __init__(self) -> None:
        super().__init__("Vault is sealed")


@mypyc_attr(native_class=False)
class InternalError(VaultError):
    """A 500 that Vault also answers with (kept where clients depend on it)."""

    status = 500
    wrapped = True


@mypyc_attr(native_class=False)
class CodedError(VaultError):
    """An error with an explicit status and a bare message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, status=status)
