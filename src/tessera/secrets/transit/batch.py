"""Decoding ``batch_input`` the way each reference endpoint does, with its error texts.

encrypt and decrypt use a hand-written fast decoder; rewrap, hmac, sign and verify use mapstructure
(into a struct or into map[string]string). The server decodes JSON numbers as json.Number, a string
kind, so numbers are accepted where strings are expected and keep their text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...framework import InternalError
from ...gocompat.types import go_type

_MAPSTRUCTURE = "failed to parse batch input: decoding failed due to the following error(s):\n\n"


@dataclass(slots=True)
class Item:
    """One BatchRequestItem."""

    context: str = ""
    plaintext: str = ""
    ciphertext: str = ""
    key_version: int = 0
    associated_data: str = ""
    reference: str = ""
    decoded_context: bytes = b""


def _kind(value: Any) -> str:
    """reflect.Kind name of a JSON-decoded value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, str)):
        return "string"
    if isinstance(value, list):
        return "slice"
    if isinstance(value, dict):
        return "map"
    return "invalid"


def _number_text(value: int | float) -> str:
    return str(value) if isinstance(value, int) else repr(value)


def _fail(message: str) -> InternalError:
    return InternalError("failed to parse batch input: " + message)


# A float where an int belongs, in each decoder's words ({i}: the item, {v}: the value's text).
_JSON_NUMBER_ERROR = (
    'error decoding json.Number into [{i}].key_version: strconv.ParseInt: parsing "{v}": invalid syntax'
)
_MAPSTRUCTURE_INT_ERROR = (
    "'[{i}].key_version' cannot parse value as 'int': strconv.ParseInt: parsing \"{v}\": invalid syntax"
)


def _key_version(it: Item, v: Any, i: int, errs: list[str], float_error: str) -> None:
    """Decode an item's key_version: an int, nothing, or an error in the decoder's words."""
    if v is None:
        return
    if isinstance(v, int) and not isinstance(v, bool):
        it.key_version = v
    elif isinstance(v, float):
        errs.append(float_error.format(i=i, v=repr(v)))
    else:
        errs.append(f"'[{i}].key_version' expected type 'int', got unconvertible type '{go_type(v)}'")


def fast_items(src: Any, *, require_plaintext: bool, require_ciphertext: bool) -> list[Item]:
    """decodeBatchRequestItems (encrypt, decrypt): strings must be JSON strings."""
    if not isinstance(src, list):
        raise _fail(f"source data must be an array or slice, got {go_type(src)}")
    items: list[Item] = []
    errs: list[str] = []
    simple = "ciphertext" if require_ciphertext else "plaintext"
    for i, raw in enumerate(src):
        if type(raw) is dict and len(raw) == 1:
            # The common item: just a plaintext (encrypt) or a ciphertext (decrypt).
            value = raw.get(simple)
            if type(value) is str:
                items.append(Item(plaintext=value) if simple == "plaintext" else Item(ciphertext=value))
                continue
        if not isinstance(raw, dict):
            raise _fail(f"[{i}] expected a map, got '{go_type(raw)}'")
        it = Item()
        for name in ("context", "ciphertext", "associated_data", "reference"):
            if name in raw:
                v = raw[name]
                if v is None:
                    continue
                if isinstance(v, str):
                    setattr(it, name, v)
                else:
                    errs.append(
                        f"'[{i}].{name}' expected type 'string', got unconvertible type '{go_type(v)}'"
                    )
            elif name == "ciphertext" and require_ciphertext:
                errs.append(f"'[{i}].ciphertext' missing ciphertext to decrypt")
        if "plaintext" in raw:
            v = raw["plaintext"]
            if isinstance(v, str):
                it.plaintext = v
            else:
                errs.append(
                    f"'[{i}].plaintext' expected type 'string', got unconvertible type '{go_type(v)}'"
                )
        elif require_plaintext:
            errs.append(f"'[{i}].plaintext' missing plaintext to encrypt")
        if "key_version" in raw:
            _key_version(it, raw["key_version"], i, errs, _JSON_NUMBER_ERROR)
        items.append(it)
    if errs:
        raise _fail("\n".join(errs))
    return items


def struct_items(src: Any) -> list[Item]:
    """mapstructure.Decode into []BatchRequestItem (rewrap)."""
    if not isinstance(src, list):
        raise _fail(f"source data must be an array or slice, got {go_type(src)}")
    items: list[Item] = []
    errs: list[str] = []
    for i, raw in enumerate(src):
        if not isinstance(raw, dict):
            errs.append(f"'[{i}]' expected a map or struct, got \"{_kind(raw)}\"")
            continue
        it = Item()
        lowered = {str(k).lower(): v for k, v in raw.items()}
        for name in ("context", "plaintext", "ciphertext", "associated_data", "reference"):
            v = lowered.get(name)
            if v is None:
                continue
            if isinstance(v, str):
                setattr(it, name, v)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                setattr(it, name, _number_text(v))
            else:
                errs.append(f"'[{i}].{name}' expected type 'string', got unconvertible type '{go_type(v)}'")
        _key_version(it, lowered.get("key_version"), i, errs, _MAPSTRUCTURE_INT_ERROR)
        items.append(it)
    if errs:
        raise InternalError(_MAPSTRUCTURE + "\n".join(errs))
    return items


def string_map_items(src: Any, go_name: str) -> list[dict[str, str]]:
    """mapstructure.Decode into []map[string]string (hmac, sign, verify)."""
    if not isinstance(src, list):
        raise _fail(f"source data must be an array or slice, got {go_type(src)}")
    items: list[dict[str, str]] = []
    errs: list[str] = []
    for i, raw in enumerate(src):
        if not isinstance(raw, dict):
            errs.append(f"'[{i}]' expected type '{go_name}', got unconvertible type '{go_type(raw)}'")
            continue
        item: dict[str, str] = {}
        for k, v in raw.items():
            if isinstance(v, str):
                item[str(k)] = v
            elif v is None:
                item[str(k)] = ""
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                item[str(k)] = _number_text(v)
            else:
                errs.append(f"'[{i}][{k}]' expected type 'string', got unconvertible type '{go_type(v)}'")
        items.append(item)
    if errs:
        raise InternalError(_MAPSTRUCTURE + "\n".join(errs))
    return items
