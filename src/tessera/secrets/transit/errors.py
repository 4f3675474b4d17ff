"""The three kinds of error keysutil returns, which decide status codes in the handlers.

``UserError`` (errutil.UserError) is the caller's fault, ``InternalErr`` (errutil.InternalError) the
server's; ``GoError`` is any other Go error. Batch endpoints count them differently (400 vs 500),
and single requests render them either as a bare 400 or a multierror 500, so the kind is kept.
"""

from __future__ import annotations


class TransitError(Exception):
    kind = "go"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UserError(TransitError):
    kind = "user"


class InternalErr(TransitError):
    kind = "internal"


class GoError(TransitError):
    kind = "go"
