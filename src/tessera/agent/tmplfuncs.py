"""Values and functions of the template language (Go text/template builtins + Consul Template's).

Values print the way Go's ``fmt`` prints them (``map[k:v]``, ``[a b]``, ``<nil>``, ``<no value>``),
and numbers read from the server keep their literal text (Vault's client decodes JSON with
``UseNumber``), so ``{{ .Data.port }}`` renders ``8080``, not ``8080.0``. No function touches the
filesystem or runs anything: templates are data, never code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
import urllib.parse
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import yaml

from ..gocompat.json import go_json_exact
from ..gocompat.quote import go_quote


class TemplateError(Exception):
    """A parse or execution error, worded like Go's ``template: name:line: …``."""


class Missing:
    """A map key that is not there: prints ``<no value>`` (Go's missingkey=default)."""

    _instance: Missing | None = None

    def __new__(cls) -> Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"


MISSING = Missing()


class Number(str):
    """A JSON number kept as its literal text (Go's json.Number)."""

    def value(self) -> int | float:
        try:
            return int(self)
        except ValueError:
            return float(self)


def loads(data: bytes | str) -> Any:
    """JSON with numbers as ``Number``."""
    return json.loads(data, parse_int=Number, parse_float=Number, parse_constant=Number)


class Secret:
    """Consul Template's ``*dependency.Secret``: the fields a template may read."""

    FIELDS = ("RequestID", "LeaseID", "LeaseDuration", "Renewable", "Data", "Warnings", "Auth", "WrapInfo")

    def __init__(self, body: dict[str, Any]) -> None:
        self.RequestID = body.get("request_id", "")
        self.LeaseID = body.get("lease_id", "")
        self.LeaseDuration = body.get("lease_duration", 0)
        self.Renewable = body.get("renewable", False)
        self.Data = body.get("data")
        self.Warnings = body.get("warnings")
        self.Auth = body.get("auth")
        self.WrapInfo = body.get("wrap_info")

    def field(self, name: str) -> Any:
        if name not in self.FIELDS:
            raise TemplateError(f"can't evaluate field {name} in type *dependency.Secret")
        return getattr(self, name)


def go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64), as ``%v`` prints a float64: ``123456``, ``1e+06``."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if str(value).startswith("-") else "0"
    sign, digit_tuple, exponent = Decimal(repr(float(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    stripped = digits.rstrip("0")
    exp = len(digits) - 1 + int(exponent)
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:
        body = stripped[0] + ("." + stripped[1:] if len(stripped) > 1 else "")
        return f"{prefix}{body}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    return prefix + format(Decimal(f"0.{stripped}") * (Decimal(10) ** (exp + 1)), "f").rstrip("0").rstrip(".")


def fmt_value(value: Any) -> str:
    """fmt ``%v``."""
    if value is MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(fmt_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "map[" + " ".join(f"{fmt_value(k)}:{fmt_value(value[k])}" for k in sorted(value, key=str)) + "]"
        )
    if isinstance(value, Secret):
        return "&{" + " ".join(fmt_value(getattr(value, f)) for f in Secret.FIELDS) + "}"
    return str(value)


def truth(value: Any) -> bool:
    """text/template's notion of true: non-zero, non-empty, non-nil."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, (bool, int, float, str, list, tuple, dict)):
        return bool(value)
    return True


def _to_plain(value: Any) -> Any:
    if value is MISSING:
        return None
    if isinstance(value, Secret):
        return {f: _to_plain(getattr(value, f)) for f in Secret.FIELDS}
    if isinstance(value, dict):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def _json_numbers(value: Any, marker: str) -> Any:
    """Numbers kept as literal text must come out bare: swap them for marked strings first."""
    if isinstance(value, Number):
        return marker + str.__str__(value)
    if isinstance(value, dict):
        return {k: _json_numbers(v, marker) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_numbers(v, marker) for v in value]
    return value


def to_json(value: Any, indent: int | None = None) -> str:
    """encoding/json: sorted map keys, HTML characters escaped (\\u003c…), numbers as received."""
    nonce = os.urandom(6).hex()
    plain = _json_numbers(_to_plain(value), f"\x00{nonce}:")
    text = go_json_exact(plain, sort_keys=True, indent=indent, default=str).decode()
    return re.sub('"\\\\u0000' + nonce + ':([-+.0-9eE]+)"', lambda m: m.group(1), text)


_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*))?([a-zA-Z%])")


def go_sprintf(fmt: str, *args: Any) -> str:
    """fmt.Sprintf for the common verbs: %s %v %d %q %f %t %x %X %%."""
    queue = list(args)
    out: list[str] = []
    pos = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        if not queue:
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = queue.pop(0)
        if isinstance(arg, Number):
            arg = arg.value()
        if verb in "sv":
            text = fmt_value(arg)
            if prec is not None and verb == "s":
                text = text[: int(prec)]
        elif verb == "q":
            text = go_quote(fmt_value(arg))
        elif verb == "t":
            text = fmt_value(arg) if isinstance(arg, bool) else f"%!t({fmt_value(arg)})"
        elif verb in "dxXob" and isinstance(arg, int) and not isinstance(arg, bool):
            text = format(arg, {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[verb])
        elif verb in "xX" and isinstance(arg, str):
            text = arg.encode().hex()
            text = text.upper() if verb == "X" else text
        elif verb in "feEgG" and isinstance(arg, (int, float)) and not isinstance(arg, bool):
            text = format(float(arg), f".{prec or 6}{verb}") if verb != "g" else go_float(float(arg))
        else:
            text = f"%!{verb}({fmt_value(arg)})"
        if width and width != "*":
            text = (
                text.ljust(int(width))
                if "-" in flags
                else text.rjust(int(width), "0" if "0" in flags else " ")
            )
        out.append(text)
    out.append(fmt[pos:])
    if queue:
        out.append("%!(EXTRA " + ", ".join(fmt_value(a) for a in queue) + ")")
    return "".join(out)


def go_sprint(*args: Any) -> str:
    """fmt.Sprint: a space between operands when neither side is a string."""
    out = ""
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += fmt_value(arg)
    return out


def _num(value: Any) -> Any:
    return value.value() if isinstance(value, Number) else value


def _cmp(op: str) -> Callable[..., bool]:
    def compare(a: Any, b: Any) -> bool:
        a, b = _num(a), _num(b)
        if a is MISSING or b is MISSING:
            raise TemplateError(f"error calling {op}: incompatible types for comparison")
        try:
            return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]
        except TypeError:
            raise TemplateError(f"error calling {op}: incompatible types for comparison") from None

    return compare


def _eq(a: Any, *others: Any) -> bool:
    if not others:
        raise TemplateError("error calling eq: missing argument for comparison")
    return any(_num(a) == _num(b) for b in others)


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        key = _num(key)
        if isinstance(item, dict):
            item = item.get(key, MISSING) if key in item else MISSING
        elif isinstance(item, (list, tuple, str)):
            if not isinstance(key, int) or not 0 <= key < len(item):
                raise TemplateError(f"error calling index: index out of range: {fmt_value(key)}")
            item = item[key]
        else:
            raise TemplateError(f"error calling index: can't index item of type {type(item).__name__}")
    return item


def _length(item: Any) -> int:
    if isinstance(item, (str, list, tuple, dict)):
        return len(item)
    raise TemplateError(f"error calling len: len of type {type(item).__name__}")


def _b64decode(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except ValueError as exc:
        raise TemplateError(f"error calling base64Decode: {exc}") from None


def _to_yaml(value: Any) -> str:
    return str(yaml.safe_dump(_to_plain(value), default_flow_style=False, sort_keys=True)).rstrip("\n")


def _parse_bool(text: str) -> bool:
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False", ""):
        return False
    raise TemplateError(f'error calling parseBool: strconv.ParseBool: parsing "{text}": invalid syntax')


def _contains(needle: Any, haystack: Any) -> bool:
    if isinstance(haystack, str):
        return str(needle) in haystack
    if isinstance(haystack, dict):
        return needle in haystack
    if isinstance(haystack, (list, tuple)):
        return any(_num(needle) == _num(x) for x in haystack)
    raise TemplateError("error calling contains: unsupported type")


def _timestamp(*args: Any) -> str:
    if args and args[0] == "unix":
        return str(int(time.time()))
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def pure_functions() -> dict[str, Callable[..., Any]]:
    """The functions that need no server (``secret``/``secrets`` are added by the renderer)."""
    return {
        "eq": _eq,
        "ne": lambda a, b: not _eq(a, b),
        "lt": _cmp("lt"),
        "le": _cmp("le"),
        "gt": _cmp("gt"),
        "ge": _cmp("ge"),
        "not": lambda v: not truth(v),
        "len": _length,
        "index": _index,
        "print": go_sprint,
        "printf": go_sprintf,
        "println": lambda *a: " ".join(fmt_value(x) for x in a) + "\n",
        "urlquery": lambda *a: urllib.parse.quote_plus(go_sprint(*a)),
        "toJSON": lambda v: to_json(v),
        "toJSONPretty": lambda v: to_json(v, indent=2),
        "toYAML": _to_yaml,
        "parseJSON": lambda s: loads(str(s)) if str(s).strip() else MISSING,
        "parseBool": lambda s: _parse_bool(str(s)),
        "parseInt": lambda s: int(str(s), 0),
        "parseFloat": lambda s: float(str(s)),
        "base64Encode": lambda s: base64.b64encode(str(s).encode()).decode(),
        "base64Decode": lambda s: _b64decode(str(s)),
        "base64URLEncode": lambda s: base64.urlsafe_b64encode(str(s).encode()).decode(),
        "base64URLDecode": lambda s: base64.urlsafe_b64decode(str(s).encode()).decode("utf-8", "replace"),
        "sha256Hex": lambda s: hashlib.sha256(str(s).encode()).hexdigest(),
        "md5sum": lambda s: hashlib.md5(str(s).encode()).hexdigest(),
        "env": lambda name: os.environ.get(str(name), ""),
        "toLower": lambda s: str(s).lower(),
        "toUpper": lambda s: str(s).upper(),
        "toTitle": lambda s: str(s).title(),
        "trimSpace": lambda s: str(s).strip(),
        "trim": lambda s, cut: str(s).strip(str(cut)),
        "trimPrefix": lambda s, p: str(s).removeprefix(str(p)),
        "trimSuffix": lambda s, p: str(s).removesuffix(str(p)),
        "split": lambda sep, s: str(s).split(str(sep)) if sep != "" else list(str(s)),
        "join": lambda sep, items: str(sep).join(fmt_value(i) for i in items),
        "replaceAll": lambda old, new, s: str(s).replace(str(old), str(new)),
        "contains": _contains,
        "in": lambda haystack, needle: _contains(needle, haystack),
        "timestamp": _timestamp,
        "indent": lambda n, s: "\n".join(" " * int(_num(n)) + line for line in str(s).split("\n")),
    }
