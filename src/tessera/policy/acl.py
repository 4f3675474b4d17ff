"""The compiled ACL of a token: which rule applies to a path and what it allows.

Rules of all the token's policies are merged per pattern string, then split into three
stores the way OpenBao does it: exact patterns, prefix patterns (``foo*``) and segment-wildcard
patterns (``foo/+/bar``). Only the single most specific rule counts; capabilities are never
unioned across different patterns. Every request runs through :meth:`ACL.allow_operation`, so
the lookup is precompiled (dicts, prefix lengths, split wildcard patterns) and memoised per path.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .parser import (
    CAPABILITY_BITS,
    CREATE,
    DELETE,
    DENY,
    LIST,
    PATCH,
    READ,
    SCAN,
    SUDO,
    UPDATE,
    PathRules,
    Policy,
)

# Operation → the capability it needs (renew/revoke/rollback are internal and need update).
OPERATION_BITS: dict[str, int] = {
    "read": READ,
    "list": LIST,
    "update": UPDATE,
    "delete": DELETE,
    "create": CREATE,
    "patch": PATCH,
    "scan": SCAN,
    "renew": UPDATE,
    "revoke": UPDATE,
    "rollback": UPDATE,
}
_PARAM_OPS = frozenset(("read", "update", "create", "patch"))
_LIST_OPS = frozenset(("list", "scan"))
_CACHE_MAX = 8192


def capability_names(bitmap: int) -> frozenset[str]:
    return frozenset(name for name, bit in CAPABILITY_BITS.items() if bitmap & bit)


class Permissions:
    """The merged rule of one pattern (Vault's ACLPermissions)."""

    __slots__ = (
        "allowed",
        "bitmap",
        "caps",
        "check_params",
        "denied",
        "granted_by",
        "list_result",
        "max_wrap",
        "mfa",
        "min_wrap",
        "pagination_limit",
        "required",
        "response_keys_filter_path",
        "result",
        "wrap_limits",
    )

    def __init__(self, rules: PathRules, policy: str = "") -> None:
        self.bitmap = rules.bitmap
        # (policy name, its block's capability bits) in policy order: who grants what here.
        self.granted_by: list[tuple[str, int]] = [(policy, rules.bitmap)]
        self.min_wrap = rules.min_wrapping_ttl
        self.max_wrap = rules.max_wrapping_ttl
        self.allowed = (
            None
            if rules.allowed_parameters is None
            else {k: list(v) for k, v in rules.allowed_parameters.items()}
        )
        self.denied = (
            None
            if rules.denied_parameters is None
            else {k: list(v) for k, v in rules.denied_parameters.items()}
        )
        self.required = list(rules.required_parameters)
        self.mfa = None if rules.mfa_methods is None else list(rules.mfa_methods)
        self.pagination_limit = rules.pagination_limit
        self.response_keys_filter_path = rules.response_keys_filter_path
        self.caps: frozenset[str] = frozenset()
        self.check_params = True
        self.wrap_limits = True
        self.result = DENIED
        self.list_result = DENIED

    def merge(self, rules: PathRules, policy: str = "") -> None:
        """Add another policy's block for the same pattern (deny wipes, TTLs take the smaller)."""
        if self.bitmap & DENY:
            return
        self.granted_by.append((policy, rules.bitmap))
        if rules.bitmap & DENY:
            self.bitmap = DENY
            self.allowed = None
            self.denied = None
            return
        self.bitmap |= rules.bitmap
        if rules.max_wrapping_ttl > 0 and (self.max_wrap == 0 or rules.max_wrapping_ttl < self.max_wrap):
            self.max_wrap = rules.max_wrapping_ttl
        if rules.min_wrapping_ttl > 0 and (self.min_wrap == 0 or rules.min_wrapping_ttl < self.min_wrap):
            self.min_wrap = rules.min_wrapping_ttl
        self.allowed = _merge_params(self.allowed, rules.allowed_parameters)
        self.denied = _merge_params(self.denied, rules.denied_parameters)
        for name in rules.required_parameters:
            if name not in self.required:
                self.required.append(name)
        if rules.mfa_methods:
            merged = (self.mfa or []) + rules.mfa_methods
            self.mfa = list(dict.fromkeys(merged))
        if rules.pagination_limit > 0 and (
            self.pagination_limit <= 0 or rules.pagination_limit < self.pagination_limit
        ):
            self.pagination_limit = rules.pagination_limit
        if rules.response_keys_filter_path and not self.response_keys_filter_path:
            self.response_keys_filter_path = rules.response_keys_filter_path

    def seal(self) -> None:
        """Precompute what every check reads: the answer objects are shared, not rebuilt."""
        self.caps = capability_names(self.bitmap)
        self.check_params = bool(self.required or self.allowed or self.denied)
        self.wrap_limits = bool(self.min_wrap or self.max_wrap)
        sudo = bool(self.bitmap & SUDO)
        mfa = tuple(self.mfa or ())
        grants = tuple(self.granted_by)
        self.result = ACLResult(True, sudo, False, self.caps, mfa, "", grants)
        self.list_result = ACLResult(
            True, sudo, False, self.caps, mfa, self.response_keys_filter_path, grants
        )


def _merge_params(
    existing: dict[str, list[Any]] | None, new: dict[str, list[Any]] | None
) -> dict[str, list[Any]] | None:
    if not new:
        return existing
    if existing is None:
        return {k: list(v) for k, v in new.items()}
    for key, values in new.items():
        if not values or (key in existing and not existing[key]):
            existing[key] = []
        else:
            existing[key] = list(values) + existing.get(key, [])
    return existing


@dataclass(frozen=True, slots=True)
class ACLResult:
    allowed: bool
    root_privs: bool = False
    is_root: bool = False
    capabilities: frozenset[str] = frozenset()
    mfa_methods: tuple[str, ...] = ()
    response_keys_filter_path: str = ""
    # (policy name, capability bits) of every policy block behind the deciding rule.
    granted_by: tuple[tuple[str, int], ...] = ()

    def granting_policies(self, op: str) -> list[str]:
        """The policies whose block of the deciding rule carries ``op``'s capability, in order
        (audit's ``policy_results.granting_policies``; ``["root"]`` for a root token)."""
        if self.is_root:
            return ["root"]
        need = OPERATION_BITS.get(op)
        if need is None or not self.allowed:
            return []
        return list(dict.fromkeys(name for name, bits in self.granted_by if bits & need))


DENIED = ACLResult(False)
_HELP = ACLResult(True)
_ROOT = ACLResult(True, True, True, frozenset(("root",)))


@dataclass(slots=True)
class _Wildcard:
    pattern: str
    parts: list[str]
    is_prefix: bool
    rank: tuple[int, int, int, int, str]
    perms: Permissions = field(repr=False)


class ACL:
    """An ACL built from the token's policies (``root`` must be alone)."""

    def __init__(self, policies: Sequence[Policy], *, now: float | None = None) -> None:
        self._root = False
        self._exact: dict[str, Permissions] = {}
        self._prefix: dict[str, Permissions] = {}
        wildcard_perms: dict[str, Permissions] = {}
        self.valid_until = float("inf")
        now = time.time() if now is None else now
        for policy in policies:
            if policy is None:
                continue
            if policy.name == "root":
                if len(policies) != 1:
                    raise ValueError("other policies present along with root")
                self._root = True
            for rules in policy.paths:
                if rules.expiration:
                    if now > rules.expiration:
                        continue
                    self.valid_until = min(self.valid_until, rules.expiration)
                if rules.has_segment_wildcards:
                    store = wildcard_perms
                else:
                    store = self._prefix if rules.is_prefix else self._exact
                existing = store.get(rules.path)
                if existing is None:
                    store[rules.path] = Permissions(rules, policy.name)
                else:
                    existing.merge(rules, policy.name)
        for perms in (*self._exact.values(), *self._prefix.values(), *wildcard_perms.values()):
            perms.seal()
        self._prefix_trie = _PrefixTrie(self._prefix)
        self._wildcards = [_compile_wildcard(p, perms) for p, perms in wildcard_perms.items() if p]
        self._wildcard_index = _WildcardIndex(self._wildcards)
        self._cache: dict[str, Permissions | None] = {}
        self._list_cache: dict[str, Permissions | None] = {}

    @property
    def is_root(self) -> bool:
        return self._root

    def rule_capabilities(
        self,
    ) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]], dict[str, frozenset[str]]]:
        """(exact, prefix without its ``*``, segment-wildcard) patterns → capability names.

        sys/internal/ui/mounts needs the raw rules to decide whether a token "can reach" a mount.
        """
        return (
            {p: perms.caps for p, perms in self._exact.items()},
            {p: perms.caps for p, perms in self._prefix.items()},
            {wc.pattern: wc.perms.caps for wc in self._wildcards},
        )

    # -- lookup -------------------------------------------------------------------------
    def lookup(self, path: str, listing: bool) -> Permissions | None:
        """The rule that governs ``path`` (LIST/SCAN use the trailing-slash fallbacks)."""
        cache = self._list_cache if listing else self._cache
        try:
            return cache[path]
        except KeyError:
            pass
        perms = self._exact.get(path)
        if perms is None and listing and path.endswith("/"):
            perms = self._exact.get(path[:-1])
        if perms is None:
            perms = self._non_exact(path)
            if perms is None and listing and path.endswith("/"):
                perms = self._non_exact(path[:-1])
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[path] = perms
        return perms

    def _non_exact(self, path: str) -> Permissions | None:
        """CheckAllowedFromNonExactPaths: the longest prefix rule and every matching ``+`` rule,
        the most specific winning."""
        parts = path.split("/")
        found = self._prefix_trie.longest(parts)
        if not self._wildcards:
            return None if found is None else found[1]
        best: Permissions | None = None
        best_rank: tuple[int, int, int, int, str] | None = None
        if found is not None:
            size, best = found
            best_rank = (size, 0, 0, size, path[:size])
        count = len(parts)
        for wc in self._wildcard_index.candidates(parts):
            wparts = wc.parts
            n = len(wparts)
            if count < n or (not wc.is_prefix and n != count):
                continue
            last = n - 1
            for i, part in enumerate(wparts):
                if part == "+" or part == parts[i]:
                    continue
                if wc.is_prefix and i == last and parts[i].startswith(part):
                    continue
                break
            else:
                if best_rank is None or wc.rank > best_rank:
                    best, best_rank = wc.perms, wc.rank
        return best

    # -- checks -------------------------------------------------------------------------
    def allow_operation(
        self,
        op: str,
        path: str,
        data: dict[str, Any] | None = None,
        wrap_ttl: int = 0,
        needs_sudo: bool = False,
    ) -> ACLResult:
        """Whether ``op`` on ``path`` with ``data`` (and wrapping TTL) is allowed.

        ``needs_sudo`` marks a root-protected path: then the rule must also grant sudo.
        List operations with a pagination limit may rewrite ``data["limit"]``.
        """
        if self._root:
            return _ROOT
        if path[:1] == "/":
            path = path.lstrip("/")
        listing = op in _LIST_OPS
        perms = (self._list_cache if listing else self._cache).get(path)
        if perms is None:
            if op == "help":
                return DENIED if needs_sudo else _HELP
            perms = self.lookup(path, listing)
            if perms is None:
                return DENIED
        need = OPERATION_BITS.get(op)
        if need is None:
            return DENIED if op != "help" or needs_sudo else _HELP
        if not perms.bitmap & need:
            return DENIED
        if perms.wrap_limits:
            if perms.max_wrap > 0 and (wrap_ttl <= 0 or wrap_ttl > perms.max_wrap):
                return DENIED
            if perms.min_wrap > 0 and (wrap_ttl <= 0 or wrap_ttl < perms.min_wrap):
                return DENIED
            if perms.min_wrap and perms.max_wrap and perms.max_wrap < perms.min_wrap:
                return DENIED
        if listing:
            if (perms.pagination_limit or data) and not _pagination_allowed(perms, data):
                return DENIED
            result = perms.list_result
        else:
            if perms.check_params and op in _PARAM_OPS and not _params_allowed(perms, data or {}):
                return DENIED
            result = perms.result
        if needs_sudo and not result.root_privs:
            return DENIED
        return result

    def capabilities(self, path: str) -> list[str]:
        """Sorted capability names on ``path`` as sys/capabilities reports them."""
        if self._root:
            return ["root"]
        while path.startswith("/"):
            path = path[1:]
        perms = self.lookup(path, True)
        if perms is None or perms.bitmap & DENY or not perms.bitmap:
            return ["deny"]
        return sorted(perms.caps)


class _PrefixTrie:
    """Longest-prefix search over glob patterns, one dict step per path segment.

    A prefix such as ``secret/data/team1-`` is filed under the node of its whole segments
    (``secret`` → ``data``) with ``team1-`` as a partial last segment; deeper matches are longer.
    """

    __slots__ = ("children", "partials")

    def __init__(self, prefixes: Mapping[str, Permissions] | None = None) -> None:
        self.children: dict[str, _PrefixTrie] = {}
        self.partials: list[tuple[str, int, Permissions]] = []
        for prefix, perms in (prefixes or {}).items():
            node = self
            *whole, tail = prefix.split("/")
            for seg in whole:
                node = node.children.setdefault(seg, _PrefixTrie())
            node.partials.append((tail, len(prefix), perms))
            node.partials.sort(key=lambda item: len(item[0]), reverse=True)

    def longest(self, parts: list[str]) -> tuple[int, Permissions] | None:
        node: _PrefixTrie | None = self
        found = None
        last = len(parts) - 1
        for depth, seg in enumerate(parts):
            assert node is not None
            for tail, size, perms in node.partials:
                if seg.startswith(tail):
                    found = (size, perms)
                    break
            if depth == last:
                break
            node = node.children.get(seg)
            if node is None:
                break
        return found


class _WildcardIndex:
    """Files each ``+`` pattern under its rarest literal segment so a check only tries the
    patterns that can match (100 team policies with ``kv/+/teamN/x`` give one candidate each)."""

    def __init__(self, wildcards: list[_Wildcard]) -> None:
        counts: dict[tuple[int, str], int] = {}
        keyed: list[tuple[_Wildcard, list[tuple[int, str]]]] = []
        for wc in wildcards:
            last = len(wc.parts) - 1
            literals = [
                (i, part)
                for i, part in enumerate(wc.parts)
                if part != "+" and not (wc.is_prefix and i == last)
            ]
            for key in literals:
                counts[key] = counts.get(key, 0) + 1
            keyed.append((wc, literals))
        self.by_segment: dict[tuple[int, str], list[_Wildcard]] = {}
        self.always: list[_Wildcard] = []
        for wc, literals in keyed:
            if literals:
                key = min(literals, key=lambda k: counts[k])
                self.by_segment.setdefault(key, []).append(wc)
            else:
                self.always.append(wc)
        self.positions = sorted({i for i, _ in self.by_segment})

    def candidates(self, parts: list[str]) -> list[_Wildcard]:
        out = list(self.always)
        size = len(parts)
        for i in self.positions:
            if i >= size:
                break
            hits = self.by_segment.get((i, parts[i]))
            if hits:
                out.extend(hits)
        return out


def _compile_wildcard(pattern: str, perms: Permissions) -> _Wildcard:
    is_prefix = pattern.endswith("*")
    wc_path = pattern[:-1] if is_prefix else pattern
    parts = wc_path.split("/")
    wildcards = sum(1 for p in parts if p == "+")
    rank = (pattern.find("+"), 0 if is_prefix else 1, -wildcards, len(wc_path), wc_path)
    return _Wildcard(pattern, parts, is_prefix, rank, perms)


def _params_allowed(perms: Permissions, data: Mapping[str, Any]) -> bool:
    for name in perms.required:
        if name.lower() not in data:
            return False
    if not data:
        return True
    denied = perms.denied
    if denied:
        if "*" in denied:
            return False
        for key, value in data.items():
            values = denied.get(key.lower())
            if values is not None and value_in_list(value, values):
                return False
    allowed = perms.allowed
    if not allowed:
        return True
    allow_all = "*" in allowed
    if allow_all and len(allowed) == 1:
        return True
    for key, value in data.items():
        values = allowed.get(key.lower())
        if values is None:
            if not allow_all:
                return False
        elif not value_in_list(value, values):
            return False
    return True


def _pagination_allowed(perms: Permissions, data: dict[str, Any] | None) -> bool:
    """OpenBao's pagination_limit: cap, require or fill in the ``limit`` of list requests."""
    limit = perms.pagination_limit
    raw = None if data is None else data.get("limit")
    if limit <= 0:
        if raw == "max" and data is not None:
            data["limit"] = "0"
        return True
    if raw is None:
        if any(p.lower() == "limit" for p in perms.required):
            return False
        if data is not None:
            data["limit"] = str(limit)
        return True
    try:
        value = _safe_int(raw)
    except ValueError:
        if raw != "max":
            return False
        data["limit"] = str(limit)  # type: ignore[index]
        return True
    if value > limit or value < 0:
        return False
    if value == 0:
        data["limit"] = str(limit)  # type: ignore[index]
    return True


def _safe_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and raw.strip().lstrip("+-").isdigit():
        return int(raw.strip())
    raise ValueError


def glob_match(pattern: str, value: str) -> bool:
    """strutil.GlobbedStringsMatch: a leading and/or trailing ``*``; a lone ``*`` is literal."""
    if len(pattern) < 2:
        return value == pattern
    head, tail = pattern[0] == "*", pattern[-1] == "*"
    if head and tail:
        return pattern[1:-1] in value
    if head:
        return value.endswith(pattern[1:])
    if tail:
        return value.startswith(pattern[:-1])
    return value == pattern


def value_in_list(value: Any, values: list[Any]) -> bool:
    """valueInParameterList: an empty list allows anything; strings match globs.

    JSON numbers reach Vault as json.Number, which never equals a policy's int or float, so a
    numeric request value only matches an empty list; everything else compares deeply.
    """
    if not values:
        return True
    for item in values:
        if item is None or value is None:
            if item is value:
                return True
        elif isinstance(item, str) and isinstance(value, str):
            if glob_match(item, value):
                return True
        elif _deep_equal(item, value):
            return True
    return False


def _deep_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) or isinstance(b, (int, float)):
        return False
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_deep_equal(a[k], b[k]) for k in a)
    return a is None and b is None
