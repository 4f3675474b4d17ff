"""Reading claims as the jwt plugin does: by name or JSON pointer, bound-claim matching (exact or
glob), claim mappings into metadata, and the groups claim. Error texts are the reference's."""

from __future__ import annotations

import functools
import re
from typing import Any

from ...framework import ErrorResponse

_MISSING = object()


def get_claim(claims: dict[str, Any], name: str) -> Any:
    """A claim by name, or by JSON pointer (``/a/b``) when the name starts with a slash.
    (``name[:1]``: 3.11's ``startswith`` parses its arguments, ~0.2k instructions more, and a
    login reads four claims.)"""
    if name[:1] != "/":
        return claims.get(name, _MISSING)
    value: Any = claims
    for part in name[1:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def present(value: Any) -> bool:
    return value is not _MISSING


def as_string(value: Any) -> str | None:
    """Go's loose conversion of a claim to a string: strings, numbers and booleans."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


@functools.lru_cache(maxsize=1024)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Vault's glob as a regex: only ``*`` is special (fnmatch's ``?`` and ``[]`` are literals)."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


class BoundClaims:
    """A role's ``bound_claims``, prepared once per stored role: the claims in the order the
    reference checks them (sorted), each with the values it accepts as a tuple, globs as compiled
    regexes (a login then makes one match per value: no sorting, cache look-up or list per login)."""

    __slots__ = ("rules",)

    def __init__(self, bound: dict[str, Any], use_glob: bool) -> None:
        rules = []
        for name in sorted(bound):
            expected = bound[name]
            wanted = tuple(expected) if isinstance(expected, list) else (expected,)
            if use_glob:  # only strings match a glob (valid_glob_bounds refuses others on write)
                wanted = tuple(_glob_regex(w) for w in wanted if isinstance(w, str))
            rules.append((name, use_glob, wanted))
        self.rules = tuple(rules)

    def check(self, claims: dict[str, Any]) -> None:
        """validateBoundClaims: every bound claim present and one of its values matching."""
        for name, use_glob, wanted in self.rules:
            actual = get_claim(claims, name)
            if actual is _MISSING:
                raise ErrorResponse(f'error validating claims: claim "{name}" is missing')
            got = actual if isinstance(actual, list) else (actual,)
            if not (_glob_matches(wanted, got) if use_glob else _equals(wanted, got)):
                raise ErrorResponse(
                    f'error validating claims: claim "{name}" does not match any associated bound claim values'
                )


def _glob_matches(patterns: tuple[re.Pattern[str], ...], got: Any) -> bool:
    for value in got:
        if isinstance(value, str):
            for pattern in patterns:
                if pattern.fullmatch(value) is not None:
                    return True
    return False


def _equals(wanted: tuple[Any, ...], got: Any) -> bool:
    for value in got:
        for one in wanted:
            if type(one) is type(value) and one == value:
                return True
    return False


def check_bound_claims(claims: dict[str, Any], bound: dict[str, Any], use_glob: bool) -> None:
    """validateBoundClaims with ``bound`` prepared for this one call (a login uses its role's
    prepared ``BoundClaims``)."""
    BoundClaims(bound, use_glob).check(claims)


def valid_glob_bounds(bound: dict[str, Any]) -> None:
    """A glob role's bound claim values must be strings (or lists of strings)."""
    for value in bound.values():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in values):
            raise ErrorResponse(f"claim is not a string or list: {value}")


def mapped_metadata(claims: dict[str, Any], mappings: dict[str, str]) -> dict[str, str]:
    """claim_mappings: claim name → metadata key, for the string claims the token carries."""
    out: dict[str, str] = {}
    for claim, key in mappings.items():
        value = get_claim(claims, claim)
        if value is _MISSING or value is None:
            continue
        if type(value) is not str:  # (JSON decoded: no str subclasses)
            raise ErrorResponse(f"error converting claim '{claim}' to string")
        out[key] = value
    return out


def user_alias(claims: dict[str, Any], user_claim: str) -> str:
    value = get_claim(claims, user_claim)
    if value is _MISSING or value is None:
        raise ErrorResponse(f'claim "{user_claim}" not found in token')
    if type(value) is not str:
        raise ErrorResponse(f'claim "{user_claim}" could not be converted to string')
    return value


def group_names(claims: dict[str, Any], groups_claim: str) -> list[str]:
    """The groups claim as a list of strings (a single string counts as one group)."""
    value = get_claim(claims, groups_claim)
    if not present(value):
        raise ErrorResponse(f'failed to fetch groups: "{groups_claim}" claim not found in token')
    values = value if isinstance(value, list) else [value]
    out = []
    for item in values:
        if not isinstance(item, str):
            shown = as_string(item) if as_string(item) is not None else item
            raise ErrorResponse(f"value {shown} in groups claim could not be parsed as string")
        out.append(item)
    return out
