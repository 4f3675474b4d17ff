"""Typed request fields, coerced the way Vault's sdk/framework (mapstructure, weak decode) does."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..gocompat.durations import DurationError, parse_duration_second
from ..gocompat.types import go_type


class FieldType(enum.Enum):
    STRING = "string"
    LOWERCASE_STRING = "lowercase_string"
    NAME = "name"
    INT = "int"
    BOOL = "bool"
    FLOAT = "float"
    MAP = "map"
    KV_PAIRS = "kvpairs"
    DURATION = "duration"  # TypeDurationSecond: seconds, negative refused
    SIGNED_DURATION = "signed_duration"  # TypeSignedDurationSecond
    STRING_SLICE = "string_slice"
    COMMA_STRING_SLICE = "comma_string_slice"
    COMMA_INT_SLICE = "comma_int_slice"
    SLICE = "slice"
    HEADER = "header"
    ANY = "any"

    # Members are singletons compared by identity, so identity hashing is exact; Enum's own
    # __hash__ runs Python code, and every converted field looks its type up in a dict.
    __hash__ = object.__hash__


_OPENAPI_TYPES = {
    FieldType.STRING: ("string", None),
    FieldType.LOWERCASE_STRING: ("string", None),
    FieldType.NAME: ("string", None),
    FieldType.INT: ("integer", None),
    FieldType.BOOL: ("boolean", None),
    FieldType.FLOAT: ("number", None),
    FieldType.MAP: ("object", None),
    FieldType.KV_PAIRS: ("object", None),
    FieldType.DURATION: ("string", "duration"),
    FieldType.SIGNED_DURATION: ("string", "duration"),
    FieldType.STRING_SLICE: ("array", None),
    FieldType.COMMA_STRING_SLICE: ("array", None),
    FieldType.COMMA_INT_SLICE: ("array", None),
    FieldType.SLICE: ("array", None),
    FieldType.HEADER: ("object", None),
    FieldType.ANY: ("string", None),
}


_NO_SCALAR = object()
_MUTABLE = (list, dict)


class FieldError(ValueError):
    """A value that cannot be converted; the message is Vault's conversion text."""


@dataclass
class Field:
    type: FieldType = FieldType.STRING
    description: str = ""
    default: Any = None
    required: bool = False
    allowed_values: list[Any] | None = None
    deprecated: bool = False
    # OpenBao lets query parameters feed fields on read; on by default.
    query: bool = False

    def __post_init__(self) -> None:
        zero = zero_value(self.type)
        # An immutable zero is shared; a list one is made afresh per request (get_ok).
        self.scalar_zero: Any = _NO_SCALAR if isinstance(zero, list) else zero

    def openapi(self) -> dict[str, Any]:
        kind, fmt = _OPENAPI_TYPES[self.type]
        out: dict[str, Any] = {"type": kind}
        if fmt:
            out["format"] = fmt
        if kind == "array":
            out["items"] = {"type": "integer" if self.type == FieldType.COMMA_INT_SLICE else "string"}
        if self.description:
            out["description"] = self.description
        if self.default is not None:
            out["default"] = self.default
        if self.allowed_values:
            out["enum"] = self.allowed_values
        if self.deprecated:
            out["deprecated"] = True
        return out


def zero_value(ftype: FieldType) -> Any:
    if ftype in (FieldType.STRING, FieldType.LOWERCASE_STRING, FieldType.NAME):
        return ""
    if ftype in (FieldType.INT, FieldType.DURATION, FieldType.SIGNED_DURATION):
        return 0
    if ftype == FieldType.FLOAT:
        return 0.0
    if ftype == FieldType.BOOL:
        return False
    if ftype in (
        FieldType.STRING_SLICE,
        FieldType.COMMA_STRING_SLICE,
        FieldType.COMMA_INT_SLICE,
        FieldType.SLICE,
    ):
        return []
    return None


def weak_text(value: Any) -> str | None:
    """mapstructure's weak string conversion of null, strings, booleans and integers; None for
    anything else, whose handling (floats above all) differs between its callers."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return None


def to_string(value: Any) -> str:
    """mapstructure's weak string conversion."""
    text = weak_text(value)
    if text is not None:
        return text
    if isinstance(value, float):
        return repr(value)[:-2] if value.is_integer() else repr(value)
    raise FieldError(
        f"'' expected type 'string', got unconvertible type '{go_type(value, json_number=False)}'"
    )


def to_int(value: Any) -> int:
    """mapstructure's weak int, limited to Go's int64 (a bigger number is ParseInt's range error)."""
    result = _to_int(value)
    if not _INT64_MIN <= result <= _INT64_MAX:
        raise FieldError("'' cannot parse value as 'int': strconv.ParseInt: value out of range")
    return result


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        return int(value)
    if isinstance(value, str):
        s = value.strip()
        if s == "":
            return 0
        try:
            return int(s, 10)
        except ValueError:
            raise FieldError("'' cannot parse value as 'int': strconv.ParseInt: invalid syntax") from None
    raise FieldError(f"'' expected type 'int', got unconvertible type '{go_type(value, json_number=False)}'")


def _parse_float(text: str) -> float:
    """strconv.ParseFloat after mapstructure's weak decode: "" is 0, junk is Vault's conversion error."""
    if text == "":
        return 0.0
    try:
        if "_" in text or text != text.strip():
            raise ValueError(text)  # Python accepts these, Go does not
        return float(text)
    except ValueError:
        raise FieldError("'' cannot parse value as 'float64': strconv.ParseFloat: invalid syntax") from None


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        if value in _TRUE:
            return True
        if value in _FALSE or value == "":
            return False
        raise FieldError("'' cannot parse value as 'bool': strconv.ParseBool: invalid syntax")
    raise FieldError(f"'' expected type 'bool', got unconvertible type '{go_type(value, json_number=False)}'")


def parse_comma_string_slice(value: Any) -> list[str]:
    """strutil.ParseArbitraryStringSlice: JSON list in a string, or comma-separated; trimmed."""
    if value is None:
        return []
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            try:
                parsed = json.loads(s)
                if isinstance(parsed, list):
                    return [to_string(v).strip() for v in parsed if to_string(v).strip() != ""]
            except ValueError:
                pass
        return [p.strip() for p in s.split(",") if p.strip() != ""]
    if isinstance(value, list):
        return [to_string(v).strip() for v in value if to_string(v).strip() != ""]
    return [to_string(value)]


def to_string_slice(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [to_string(v) for v in value]
    return [to_string(value)]


def to_kv_pairs(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): to_string(v) for k, v in value.items()}
    items: Iterable[Any] = value if isinstance(value, list) else [value]
    out: dict[str, str] = {}
    for idx, item in enumerate(items):
        text = to_string(item)
        if "=" not in text:
            raise FieldError(f"invalid key pair at index {idx}")
        k, v = text.split("=", 1)
        out[k] = v
    return out


def _to_lowercase(value: Any) -> str:
    return to_string(value).lower()


def _to_float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return _parse_float(to_string(value))


def _to_map(value: Any) -> Any:
    if isinstance(value, dict):
        return value
    # Vault refuses a JSON string here ({"data": "{...}"}): no parsing.
    raise FieldError(
        f"'' expected type 'map[string]interface {{}}', got unconvertible type '{go_type(value, json_number=False)}'"
    )


def _to_duration(value: Any) -> int:
    secs = parse_duration_second(value)
    if secs < 0:
        raise FieldError(f"cannot provide negative value '{secs}'")  # Go prints the seconds
    return secs


def _to_int_slice(value: Any) -> list[int]:
    out = []
    for idx, item in enumerate(parse_comma_string_slice(value)):
        try:
            out.append(to_int(item))
        except FieldError:
            raise FieldError(
                "decoding failed due to the following error(s):\n\n"
                f"'[{idx}]' cannot parse value as 'int': strconv.ParseInt: invalid syntax"
            ) from None
    return out


def _to_slice(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _as_is(value: Any) -> Any:
    return value


# One converter per type: a field's value takes one dict look-up to its conversion.
_CONVERTERS: dict[FieldType, Any] = {
    FieldType.STRING: to_string,
    FieldType.NAME: to_string,
    FieldType.LOWERCASE_STRING: _to_lowercase,
    FieldType.INT: to_int,
    FieldType.FLOAT: _to_float,
    FieldType.BOOL: to_bool,
    FieldType.MAP: _to_map,
    FieldType.HEADER: _to_map,
    FieldType.KV_PAIRS: to_kv_pairs,
    FieldType.DURATION: _to_duration,
    FieldType.SIGNED_DURATION: parse_duration_second,
    FieldType.STRING_SLICE: to_string_slice,
    FieldType.COMMA_STRING_SLICE: parse_comma_string_slice,
    FieldType.COMMA_INT_SLICE: _to_int_slice,
    FieldType.SLICE: _to_slice,
}


def coerce(ftype: FieldType, value: Any) -> Any:
    """Convert a raw JSON/form/query value to the field's type or raise FieldError."""
    if value is None:
        return zero_value(ftype)
    try:
        return _CONVERTERS.get(ftype, _as_is)(value)
    except DurationError as exc:
        raise FieldError(str(exc)) from None


@dataclass
class FieldData:
    """The request's raw data seen through a path's field schema."""

    raw: dict[str, Any]
    schema: dict[str, Field] = field(default_factory=dict)
    # Values converted by validate(), so a handler's get() does not convert them again.
    _typed: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def get(self, name: str) -> Any:
        """The typed value: the caller's, else the field's default or zero value.

        Handlers call this a dozen times a request, so it does the work itself (no tuple)."""
        spec = self.schema.get(name)
        if spec is None:
            raise KeyError(f"field {name!r} is not in the path's schema")
        if name in self.raw:
            typed = self._typed
            if name in typed:
                value = typed[name]
                # Each get() hands out its own list or dict, as a fresh conversion would.
                return value.copy() if type(value) in _MUTABLE else value
            return self._convert(name, spec, self.raw[name])
        if spec.default is not None:
            return spec.default
        zero = spec.scalar_zero
        if zero is not _NO_SCALAR:
            return zero
        return zero_value(spec.type)  # a fresh list each time

    def get_ok(self, name: str) -> tuple[Any, bool]:
        """The typed value and whether the caller supplied it."""
        value = self.get(name)
        return value, name in self.raw

    def set_raw(self, name: str, value: Any) -> None:
        """Replace a supplied value (a handler adjusting input), dropping its converted form."""
        self.raw[name] = value
        self._typed.pop(name, None)

    def get_raw(self, name: str, default: Any = None) -> Any:
        return self.raw.get(name, default)

    def has(self, name: str) -> bool:
        return name in self.raw

    def _convert(self, name: str, spec: Field, value: Any) -> Any:
        try:
            return coerce(spec.type, value)
        except FieldError as exc:
            detail = str(exc)
            if detail.startswith("invalid key pair at index"):
                detail += f' in field "{name}"'  # Go names the field twice here
            raise FieldError(f'error converting input for field "{name}": {detail}') from None

    def validate(self) -> None:
        """Convert every supplied, declared field once so bad input fails before the handler."""
        schema, typed = self.schema, self._typed
        for name, value in self.raw.items():
            spec = schema.get(name)
            if spec is not None:
                typed[name] = self._convert(name, spec, value)
