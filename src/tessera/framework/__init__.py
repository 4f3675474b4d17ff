"""Declarative paths and typed fields: the sdk/framework of Tessera."""

from .backend import Backend, Path, SecretType, generic_name, match_all
from .errors import (
    CodedError,
    ErrorResponse,
    InternalError,
    InvalidCredentials,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    SealedError,
    UnsupportedOperation,
    UnsupportedPath,
    VaultError,
    multierror,
)
from .fields import Field, FieldData, FieldError, FieldType
from .logical import OPERATION_TEXT, Auth, Operation, Request, Response, Secret, WrapInfo

__all__ = [
    "OPERATION_TEXT",
    "Auth",
    "Backend",
    "CodedError",
    "ErrorResponse",
    "Field",
    "FieldData",
    "FieldError",
    "FieldType",
    "InternalError",
    "InvalidCredentials",
    "InvalidRequest",
    "NotFound",
    "Operation",
    "Path",
    "PermissionDenied",
    "Request",
    "Response",
    "SealedError",
    "Secret",
    "SecretType",
    "UnsupportedOperation",
    "UnsupportedPath",
    "VaultError",
    "WrapInfo",
    "generic_name",
    "match_all",
    "multierror",
]
