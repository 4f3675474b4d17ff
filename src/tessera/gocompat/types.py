"""Names of Go types, as Go's error messages print them for decoded JSON values."""

from __future__ import annotations

from typing import Any

# Python types of struct fields → the Go field type a decoding error names.
GO_FIELD_TYPES: dict[type, str] = {int: "int", str: "string", bool: "bool", list: "[]string"}


def go_type(value: Any, *, json_number: bool = True) -> str:
    """``%T`` of a JSON-decoded value.

    Vault decodes request bodies with UseNumber, so numbers are ``json.Number``; with
    ``json_number=False`` they are named as Go values (``int``, ``float64``).
    """
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        if json_number:
            return "json.Number"
        return "int" if isinstance(value, int) else "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return "interface {}"


def json_kind(value: Any) -> str:
    """The JSON kind json.UnmarshalTypeError names: ``string``, ``number``, ``object``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
