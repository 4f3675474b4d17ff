"""ACL policy documents: HCL or JSON text in, a :class:`Policy` of :class:`PathRules` out.

Vault users see the parser mostly through its error messages, and scripts match on them, so
the decoding below follows hashicorp/hcl's decoder and OpenBao's ``parsePaths`` step by step,
including their order (the first failing field wins) and their prefixes: some errors carry
``path "x": `` once, others twice, exactly as the reference prints them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import hcl
from ..framework.errors import multierror
from ..gocompat.durations import DurationError, parse_go_duration
from ..gocompat.quote import go_quote
from ..gocompat.times import parse_rfc3339
from ..hcl import GO_NODE_NAMES, HCLError, Item, ListNode, Literal, ObjectNode, Pos
from .templating import TemplateError, populate

DENY, CREATE, READ, UPDATE, DELETE, LIST, SUDO, PATCH, SCAN = (1 << i for i in range(9))
CAPABILITY_BITS: dict[str, int] = {
    "deny": DENY,
    "create": CREATE,
    "read": READ,
    "update": UPDATE,
    "delete": DELETE,
    "list": LIST,
    "sudo": SUDO,
    "patch": PATCH,
    "scan": SCAN,
}
_OLD_STYLE = {
    "deny": ["deny"],
    "read": ["read", "list"],
    "write": ["create", "read", "update", "delete", "list"],
    "sudo": ["create", "read", "update", "delete", "list", "sudo"],
}
_TOP_KEYS = ("name", "path")
_PATH_KEYS = (
    "comment",
    "policy",
    "capabilities",
    "allowed_parameters",
    "denied_parameters",
    "required_parameters",
    "min_wrapping_ttl",
    "max_wrapping_ttl",
    "mfa_methods",
    "pagination_limit",
    "expiration",
    "list_scan_response_keys_filter_path",
    "control_group",
)


class PolicyParseError(ValueError):
    """The full text Vault answers with, starting ``failed to parse policy: ``."""


@dataclass
class PathRules:
    """One ``path "..." { ... }`` block after validation."""

    path: str
    key: str = ""
    is_prefix: bool = False
    has_segment_wildcards: bool = False
    capabilities: list[str] = field(default_factory=list)
    bitmap: int = 0
    min_wrapping_ttl: float = 0.0
    max_wrapping_ttl: float = 0.0
    allowed_parameters: dict[str, list[Any]] | None = None
    denied_parameters: dict[str, list[Any]] | None = None
    required_parameters: list[str] = field(default_factory=list)
    mfa_methods: list[str] | None = None
    pagination_limit: int = 0
    response_keys_filter_path: str = ""
    # Absolute expiry (epoch seconds) of this block, 0 = none.
    expiration: float = 0.0


@dataclass
class Policy:
    name: str = ""
    raw: str = ""
    paths: list[PathRules] = field(default_factory=list)
    templated: bool = False


@dataclass
class TemplateInput:
    """What a templated policy is filled with: the entity, its groups and the blocked values."""

    entity: Mapping[str, Any] | None = None
    groups: Sequence[Mapping[str, Any]] = ()
    allow_slashes: bool = False
    allow_wildcards: bool = False

    def blocked(self) -> tuple[str, ...]:
        out: tuple[str, ...] = () if self.allow_slashes else ("/",)
        return out if self.allow_wildcards else (*out, "*", "+")


def _fail(msg: str) -> PolicyParseError:
    return PolicyParseError("failed to parse policy: " + msg)


class _Once(Exception):
    """An error the path loop prefixes with ``path "key": `` once."""


class _Twice(Exception):
    """An error already carrying its own ``path "x": `` (so two prefixes in the end)."""


# -- Go values and durations ---------------------------------------------------------------


def parse_absolute_time(value: Any) -> float:
    """parseutil.ParseAbsoluteTime: RFC 3339 (nanoseconds allowed) or epoch seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value)
    try:
        return float(int(text, 10))
    except ValueError:
        pass
    try:
        return parse_rfc3339(text)
    except ValueError:
        raise ValueError("could not parse string as date and time") from None


def duration_seconds(value: Any) -> float:
    """parseutil.ParseDurationSecond, keeping sub-second precision (wrapping TTLs compare in ns)."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("could not parse duration from input")
    if isinstance(value, int):
        return float(value)
    if isinstance(value, float):
        return float(int(value))
    if value == "":
        return 0.0
    if re.fullmatch(r"[+-]?\d+", value):
        return float(int(value))
    if value.endswith("d"):
        days = value[:-1]
        if re.fullmatch(r"[+-]?\d+", days):
            return float(int(days) * 86400)
        raise ValueError(f'strconv.ParseInt: parsing "{days}": invalid syntax')
    try:
        return parse_go_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from None


# -- hcl decoder ----------------------------------------------------------------------------


def _node_name(node: Any) -> str:
    return GO_NODE_NAMES.get(type(node), "*ast.ObjectList")


def _node_pos(node: Any) -> Pos:
    return node.pos if isinstance(node, (Literal, ListNode, ObjectNode, Item)) else hcl.NOPOS


def _at(node: Any, msg: str) -> str:
    return f"At {_node_pos(node)}: {msg}"


class _ObjList:
    """ast.ObjectList: what ObjectType values become before decoding (no position of its own)."""

    def __init__(self, items: list[Item]) -> None:
        self.items = items


def _matches(items: list[Item], name: str) -> list[Any]:
    """The nodes the hcl decoder feeds a struct field: prefix matches first, then values."""
    found = hcl.filter_items(items, name)
    nodes: list[Any] = []
    prefix = [i for i in found if i.keys]
    if prefix:
        nodes.append(_ObjList(prefix))
    for item in found:
        if not item.keys:
            val = item.val
            nodes.append(_ObjList(val.items) if isinstance(val, ObjectNode) else val)
    return nodes


def _dec_string(name: str, node: Any) -> str:
    if isinstance(node, Literal):
        if node.tok.type == hcl.NUMBER:
            return node.tok.text
        if node.tok.type in (hcl.STRING, hcl.HEREDOC, hcl.NULL):
            return str(node.tok.value() or "")
    raise _Twice(_at(node, f"{name}: unknown type for string {_node_name(node)}"))


def _dec_int(name: str, node: Any) -> int:
    if isinstance(node, Literal) and node.tok.type in (hcl.NUMBER, hcl.STRING):
        text = node.tok.text if node.tok.type == hcl.NUMBER else str(node.tok.value())
        try:
            return hcl.go_parse_int(text)
        except ValueError as exc:
            raise _Twice(str(exc)) from None
    raise _Twice(_at(node, f"{name}: unknown type {_node_name(node)}"))


def _slice_items(node: Any) -> list[Any]:
    if isinstance(node, _ObjList):
        return list(node.items)
    if isinstance(node, ObjectNode):
        return list(node.items)
    if isinstance(node, ListNode):
        return list(node.items)
    raise _Twice(_at(node, f"unknown slice type: {_node_name(node)}"))


def _dec_string_slice(name: str, node: Any) -> list[str]:
    return [_dec_string(f"{name}[{i}]", elem) for i, elem in enumerate(_slice_items(node))]


def _dec_interface(name: str, node: Any) -> Any:
    if isinstance(node, Literal):
        tok = node.tok
        if tok.type == hcl.NUMBER:
            try:
                return hcl.go_parse_int(tok.text)
            except ValueError as exc:
                raise _Twice(str(exc)) from None
        if tok.type in (hcl.BOOL, hcl.FLOAT, hcl.STRING, hcl.HEREDOC, hcl.NULL):
            return tok.value()
        raise _Twice(_at(node, f"{name}: cannot decode into interface: {_node_name(node)}"))
    if isinstance(node, ListNode):
        return [_dec_interface(f"{name}[{i}]", e) for i, e in enumerate(node.items)]
    if isinstance(node, (ObjectNode, _ObjList)):
        out: dict[str, Any] = {}
        for item in node.items:
            if item.keys and item.val is not None:
                out[item.key()] = _dec_interface(f"{name}.{item.key()}", item.val)
        return out
    raise _Twice(f"{name}: cannot decode into interface: {_node_name(node)}")


def _dec_any_slice(name: str, node: Any) -> list[Any]:
    return [_dec_interface(f"{name}[{i}]", elem) for i, elem in enumerate(_slice_items(node))]


def _dec_map(name: str, node: Any, into: dict[str, list[Any]]) -> None:
    if isinstance(node, Item):
        node = _ObjList([node])
    if isinstance(node, ObjectNode):
        node = _ObjList(node.items)
    if not isinstance(node, _ObjList):
        raise _Twice(_at(node, f"{name}: not an object type for map ({_node_name(node)})"))
    done: set[str] = set()
    for item in node.items:
        if item.val is None:
            continue
        if not item.keys:
            raise _Twice(f"At -: {name}: map must have string keys")
        key = item.key()
        if key in done:
            continue
        value: Any = item.val
        if len(item.keys) > 1:
            value = _ObjList(hcl.filter_items(node.items, key))
            done.add(key)
        into[key] = into.get(key, []) + _dec_any_slice(f"{name}.{key}", value)


# -- the policy -----------------------------------------------------------------------------


def _check_keys(node: Any, valid: Sequence[str]) -> None:
    if isinstance(node, ObjectNode):
        items = node.items
    elif isinstance(node, list):
        items = node
    else:
        raise _Once(f"cannot check HCL keys of type {_node_name(node)}")
    bad = [
        f"invalid key {go_quote(item.key())} on line {item.assign.line}"
        for item in items
        if item.keys and item.key() not in valid
    ]
    if bad:
        raise _Once(multierror(*bad))


def parse_policy(raw: str, name: str = "", *, template: TemplateInput | None = None) -> Policy:
    """Parse ``raw`` (HCL or JSON); with ``template`` fill identity templates and drop paths
    that cannot be filled. Raises PolicyParseError with Vault's message."""
    try:
        items = hcl.parse(raw)
    except HCLError as exc:
        raise _fail(str(exc)) from None
    try:
        _check_keys(items, _TOP_KEYS)
        for node in _matches(items, "name"):
            _dec_string("root.name", node)
    except (_Once, _Twice) as refused:
        raise _fail(str(refused)) from None
    policy = Policy(name=name, raw=raw)
    for item in hcl.filter_items(items, "path"):
        key = item.key() if item.keys else "path"
        if template is not None:
            try:
                _, key = populate(
                    key, entity=template.entity, groups=template.groups, blocked=template.blocked()
                )
            except TemplateError:
                continue
        else:
            try:
                has, _ = populate(key, validity_only=True)
            except TemplateError as untemplated:
                raise _fail(
                    f"path {go_quote(key)}: failed to validate policy templating: {untemplated}"
                ) from None
            policy.templated = policy.templated or has
        try:
            rules = _parse_path(key, item.val)
        except _Once as once:
            raise _fail(f"path {go_quote(key)}: {once}") from None
        except _Twice as twice:
            raise _fail(f"path {go_quote(key)}: path {go_quote(key)}: {twice}") from None
        except _Nested as nested:
            raise _fail(f"path {go_quote(key)}: {nested}") from None
        if rules is not None:
            policy.paths.append(rules)
    return policy


class _Nested(Exception):
    """An error whose inner text already names a (possibly different) path."""


def _parse_path(key: str, val: Any) -> PathRules | None:
    _check_keys(val, _PATH_KEYS)
    body: list[Item] = val.items if isinstance(val, ObjectNode) else []
    _check_control_group(body)
    policy_text = ""
    caps: list[str] = []
    expiration_raw = ""
    min_raw: Any = None
    max_raw: Any = None
    allowed: dict[str, list[Any]] | None = None
    denied: dict[str, list[Any]] | None = None
    required: list[str] = []
    mfa: list[str] | None = None
    pagination = 0
    filter_path = ""
    # Struct field order of PathRules: the first failing field is the one reported.
    for node in _matches(body, "policy"):
        policy_text = _dec_string("root.Policy", node)
    for node in _matches(body, "capabilities"):
        caps += _dec_string_slice("root.Capabilities", node)
    for node in _matches(body, "expiration"):
        expiration_raw = _dec_string("root.expiration", node)
    for node in _matches(body, "min_wrapping_ttl"):
        min_raw = _dec_interface("root.min_wrapping_ttl", node)
    for node in _matches(body, "max_wrapping_ttl"):
        max_raw = _dec_interface("root.max_wrapping_ttl", node)
    for node in _matches(body, "allowed_parameters"):
        allowed = {} if allowed is None else allowed
        _dec_map("root.allowed_parameters", node, allowed)
    for node in _matches(body, "denied_parameters"):
        denied = {} if denied is None else denied
        _dec_map("root.denied_parameters", node, denied)
    for node in _matches(body, "required_parameters"):
        required += _dec_string_slice("root.required_parameters", node)
    for node in _matches(body, "mfa_methods"):
        mfa = (mfa or []) + _dec_string_slice("root.mfa_methods", node)
    for node in _matches(body, "pagination_limit"):
        pagination = _dec_int("root.pagination_limit", node)
    for node in _matches(body, "list_scan_response_keys_filter_path"):
        filter_path = _dec_string("root.list_scan_response_keys_filter_path", node)

    rules = PathRules(path=key, key=key)
    if expiration_raw:
        try:
            rules.expiration = parse_absolute_time(expiration_raw)
        except ValueError as exc:
            raise _Twice(f"invalid expiration time: {exc}") from None
        if time.time() > rules.expiration:
            return None
    path = key[1:] if key.startswith("/") else key
    if "+*" in path:
        raise _Nested(f"path {go_quote(path)}: invalid use of wildcards ('+*' is forbidden)")
    rules.has_segment_wildcards = path == "+" or "/+" in path or path.startswith("+/")
    if path.endswith("*") and not rules.has_segment_wildcards:
        path = path[:-1]
        rules.is_prefix = True
    rules.path = path
    if policy_text:
        if policy_text not in _OLD_STYLE:
            raise _Twice(f"invalid policy {go_quote(policy_text)}")
        caps = ["deny"] if policy_text == "deny" else caps + _OLD_STYLE[policy_text]
    for cap in caps:
        if cap == "deny":
            rules.capabilities = ["deny"]
            rules.bitmap = DENY
            return rules
        bit = CAPABILITY_BITS.get(cap)
        if bit is None:
            raise _Twice(f"invalid capability {go_quote(cap)}")
        rules.bitmap |= bit
    rules.capabilities = caps
    if allowed is not None:
        rules.allowed_parameters = {k.lower(): v for k, v in allowed.items()}
    if denied is not None:
        rules.denied_parameters = {k.lower(): v for k, v in denied.items()}
    for label, raw_ttl in (("min_wrapping_ttl", min_raw), ("max_wrapping_ttl", max_raw)):
        try:
            seconds = duration_seconds(raw_ttl)
        except ValueError as exc:
            raise _Once(f"error parsing {label}: {exc}") from None
        setattr(rules, label, seconds)
    rules.mfa_methods = mfa
    if rules.min_wrapping_ttl and rules.max_wrapping_ttl and rules.max_wrapping_ttl < rules.min_wrapping_ttl:
        raise _Once("max_wrapping_ttl cannot be less than min_wrapping_ttl")
    rules.required_parameters = required
    if filter_path:
        if not rules.bitmap & LIST:
            raise _Once(
                "list_scan_response_keys_filter_path needs to be used on a path with the list capability"
            )
        rules.response_keys_filter_path = filter_path
    rules.pagination_limit = pagination
    return rules


def _check_control_group(body: list[Item]) -> None:
    """Control groups are an Enterprise feature; OpenBao still validates their shape."""
    for item in hcl.filter_items(body, "control_group"):
        if item.keys:
            continue
        inner = item.val.items if isinstance(item.val, ObjectNode) else []
        if not any(i.keys and i.key() == "factor" for i in inner):
            raise _Once(
                "error handling control_group: " + multierror("requires at least one factor but had none")
            )
