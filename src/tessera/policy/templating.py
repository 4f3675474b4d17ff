"""Identity templates in policy paths (``{{identity.entity.id}}`` and friends).

A templated policy is stored as written and re-parsed per request with the token's entity, so
one policy can give every entity its own subtree. The rules (and error texts) follow OpenBao's
sdk/helper/identitytpl in ACL mode: a directive that cannot be filled makes its path disappear.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..gocompat.durations import DurationError, parse_duration_second


class TemplateError(ValueError):
    """A directive that cannot be filled (the path is then dropped) or a malformed template."""


UNBALANCED = "unbalanced templating characters"
NO_ENTITY = "string contains entity template directives but no entity was provided"
NO_GROUPS = "string contains groups template directives but no groups were provided"
NOT_FOUND = "no value could be found for one of the template directives"


def populate(
    text: str,
    *,
    validity_only: bool = False,
    entity: Mapping[str, Any] | None = None,
    groups: Sequence[Mapping[str, Any]] = (),
    blocked: Sequence[str] = ("*", "+"),
    namespace_id: str = "root",
    now: float | None = None,
) -> tuple[bool, str]:
    """(whether ``text`` has directives, the filled-in text); raises TemplateError."""
    if text == "":
        return False, ""
    pieces = text.split("{{")
    if "}}" in pieces[0]:
        raise TemplateError(UNBALANCED)
    if len(pieces) == 1:
        return False, text
    out = [pieces[0]]
    for piece in pieces[1:]:
        parts = piece.split("}}")
        if len(parts) != 2:
            raise TemplateError(UNBALANCED)
        if validity_only:
            continue
        value = _perform(parts[0].strip(), entity, groups, namespace_id, now)
        for bad in blocked:
            if bad in value:
                raise TemplateError(f'template substitution contains forbidden value "{bad}"')
        out.append(value)
        out.append(parts[1])
    return True, "".join(out) if not validity_only else ""


def _acl_value(value: Any, *keys: str) -> str:
    if isinstance(value, str):
        if value == "":
            raise TemplateError(NOT_FOUND)
        return value
    if isinstance(value, Mapping):
        if keys and keys[0] in value:
            return str(value[keys[0]])
        raise TemplateError(NOT_FOUND)
    raise TemplateError(NOT_FOUND)


def _alias_value(alias: Mapping[str, Any], selector: str) -> str:
    if selector in ("id", "name"):
        return _acl_value(alias.get(selector, ""))
    for kind in ("metadata", "custom_metadata"):
        if selector == kind:
            return _acl_value(alias.get(kind) or {})
        if selector.startswith(kind + "."):
            return _acl_value(alias.get(kind) or {}, selector.split(".", 1)[1])
    raise TemplateError(NOT_FOUND)


def _entity_value(entity: Mapping[str, Any], selector: str, groups: Sequence[Mapping[str, Any]]) -> str:
    if selector in ("id", "name"):
        return _acl_value(entity.get(selector, "") or "")
    if selector == "metadata":
        return _acl_value(entity.get("metadata") or {})
    if selector.startswith("metadata."):
        return _acl_value(entity.get("metadata") or {}, selector.split(".", 1)[1])
    if selector in ("groups.names", "groups.ids"):
        raise TemplateError(NOT_FOUND)
    if selector.startswith("aliases."):
        split = selector[len("aliases.") :].split(".", 1)
        if len(split) != 2:
            raise TemplateError("invalid alias selector")
        for alias in entity.get("aliases") or []:
            if alias.get("mount_accessor") == split[0]:
                return _alias_value(alias, split[1])
        raise TemplateError("alias not found")
    raise TemplateError(NOT_FOUND)


def _group_value(selector: str, groups: Sequence[Mapping[str, Any]], namespace_id: str) -> str:
    kind, _, rest = selector.partition(".")
    if not rest or kind not in ("ids", "names"):
        raise TemplateError("invalid groups selector")
    wanted, _, attr = rest.partition(".")
    if not attr:
        raise TemplateError("invalid groups accessor")
    found = None
    for group in groups:
        if kind == "ids":
            compare = group.get("id", "")
        else:
            if namespace_id and group.get("namespace_id", "root") != namespace_id:
                continue
            compare = group.get("name", "")
        if compare == wanted:
            found = group
            break
    if found is None:
        raise TemplateError(f'entity is not a member of group "{wanted}"')
    if attr == "id":
        return str(found.get("id", ""))
    if attr == "name":
        if not found.get("name"):
            raise TemplateError(NOT_FOUND)
        return str(found["name"])
    if attr.startswith("metadata."):
        meta = found.get("metadata") or {}
        key = attr[len("metadata.") :]
        if key not in meta:
            raise TemplateError(NOT_FOUND)
        return str(meta[key])
    raise TemplateError(NOT_FOUND)


def _time_value(selector: str, now: float | None) -> str:
    ops = selector.split(".", 2)
    if ops[0] != "now":
        raise TemplateError(f'invalid time selector "{ops[0]}"')
    result = time.time() if now is None else now
    if len(ops) == 2:
        raise TemplateError("missing time operand")
    if len(ops) == 3:
        try:
            delta = parse_duration_second(ops[2])
        except DurationError as exc:
            raise TemplateError(f"invalid duration: {exc}") from None
        if ops[1] == "plus":
            result += delta
        elif ops[1] == "minus":
            result -= delta
        else:
            raise TemplateError(f'invalid time operator "{ops[1]}"')
    return str(int(result))


def _perform(
    directive: str,
    entity: Mapping[str, Any] | None,
    groups: Sequence[Mapping[str, Any]],
    namespace_id: str,
    now: float | None,
) -> str:
    if directive.startswith("identity.entity."):
        if entity is None:
            raise TemplateError(NO_ENTITY)
        return _entity_value(entity, directive[len("identity.entity.") :], groups)
    if directive.startswith("identity.groups."):
        if not groups:
            raise TemplateError(NO_GROUPS)
        return _group_value(directive[len("identity.groups.") :], groups, namespace_id)
    if directive.startswith("time."):
        return _time_value(directive[len("time.") :], now)
    raise TemplateError(NOT_FOUND)
