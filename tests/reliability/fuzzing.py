"""Schema-driven fuzzing of every documented endpoint, in-process, with hypothesis.

The operations come from ``sys/internal/specs/openapi`` (generated from the framework's path
declarations, plus the raw sys handlers). Each example picks one operation, fills its path
parameters and a body from its declared fields (often with the wrong types, extra keys, odd
unicode), picks a token (none, garbage, a default-policy token, root) and sends it through the
real ASGI app. What must hold for every request:

* no traceback and no ERROR record in the server's log;
* no 5xx unless it is one of Vault's own deliberate ones (``InternalError`` and the like, which
  the reference also answers with): a 5xx whose body is the generic ``internal error`` of an
  unhandled exception is a failure.

Used by ``tests/reliability/test_fuzz.py`` (scaled down) and ``bench/fuzz_full.py`` (full size).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.server.app import App
from tests.reliability.asgi import ROOT, AsgiClient, LogCapture, dev_core

# Requests that would act outside the process: audit devices write files or open sockets.
SKIP = {("post", "/sys/audit/{path}"), ("put", "/sys/audit/{path}")}
GENERIC_500 = ["internal error"]

NAMES = st.sampled_from(["a", "foo", "my-role", "x.y", "default", "k1", "web", "1", "a/b", "tst_"])
JUNK_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=40
)
PATH_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="?#"),
    min_size=1,
    max_size=24,
)
DURATIONS = st.sampled_from(["1h", "30m", "0", "-5s", "10", "1d", "abc", "9999999999h", "1.5h", ""])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    JUNK_TEXT,
    DURATIONS,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(JUNK_TEXT, inner, max_size=4)),
    max_leaves=10,
)


def _value_for(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Mostly what the field declares, sometimes anything at all."""
    kind = schema.get("type")
    if schema.get("enum"):
        typed: st.SearchStrategy[Any] = st.sampled_from(schema["enum"])
    elif schema.get("format") == "duration":
        typed = st.one_of(DURATIONS, st.integers(min_value=-10, max_value=10**12))
    elif kind == "integer":
        typed = st.one_of(st.integers(min_value=-5, max_value=100), st.integers(), st.just("12"))
    elif kind == "number":
        typed = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.just("1.5"))
    elif kind == "boolean":
        typed = st.one_of(st.booleans(), st.sampled_from(["true", "false", "maybe", 1]))
    elif kind == "array":
        typed = st.one_of(st.lists(st.one_of(NAMES, JUNK_TEXT), max_size=4), st.just("a,b"), NAMES)
    elif kind == "object":
        typed = st.one_of(st.dictionaries(NAMES, st.one_of(NAMES, st.integers()), max_size=3), JUNK_TEXT)
    else:
        typed = st.one_of(NAMES, JUNK_TEXT, st.just("127.0.0.1/32"), st.just("aes256-gcm96"))
    return st.one_of(typed, typed, typed, VALUES)


@dataclass(frozen=True)
class Operation:
    method: str  # get, post, delete, patch, head
    path: str  # the OpenAPI template, e.g. /secret/data/{path}
    params: tuple[str, ...]
    fields: tuple[tuple[str, Any], ...]
    listing: bool

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.path}"


def operations(doc: dict[str, Any]) -> list[Operation]:
    """Every (method, path) the OpenAPI document declares."""
    out = []
    for path, item in sorted(doc["paths"].items()):
        params = tuple(re.findall(r"{(\w+)}", path))
        for method in ("get", "post", "delete", "patch", "head"):
            spec = item.get(method)
            if not isinstance(spec, dict) or (method, path) in SKIP:
                continue
            schema = (
                spec.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            )
            props = tuple(sorted((schema.get("properties") or {}).items()))
            listing = any(p.get("name") == "list" for p in spec.get("parameters", []))
            out.append(Operation(method, path, params, props, listing))
    return out


@dataclass
class Figures:
    """What a run saw: the numbers the README reports."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    deliberate_5xx: Counter[str] = field(default_factory=Counter)
    operations_hit: set[str] = field(default_factory=set)

    def summary(self) -> str:
        fives = sum(n for s, n in self.statuses.items() if s >= 500)
        return (
            f"{self.requests} requests over {len(self.operations_hit)} operations; "
            f"statuses {dict(sorted(self.statuses.items()))}; 5xx {fives} "
            f"(all deliberate: {dict(self.deliberate_5xx.most_common())}); unhandled 0; tracebacks 0"
        )


class Target:
    """A dev core with a few engines mounted, the app in front, and the tokens the fuzzer uses."""

    def __init__(self) -> None:
        self.core, self.key = dev_core()
        self.client = AsgiClient(App(self.core))
        for path, kind in (("approle", "approle"), ("userpass", "userpass")):
            self.ok("POST", f"sys/auth/{path}", {"type": kind})
        self.ok("POST", "sys/mounts/transit", {"type": "transit"})
        self.ok("POST", "sys/mounts/kv1", {"type": "kv", "options": {"version": "1"}})
        self.ok("POST", "transit/keys/k1", {})
        self.ok("POST", "sys/mounts/pki", {"type": "pki"})
        self.ok("POST", "pki/root/generate/internal", {"common_name": "fuzz root", "key_type": "ec"})
        self.ok("POST", "pki/roles/web", {"allow_any_name": True, "key_type": "ec", "ttl": "1h"})
        self.ok("POST", "secret/data/a", {"data": {"v": "1"}})
        self.ok("POST", "auth/approle/role/my-role", {})
        self.ok("POST", "auth/userpass/users/web", {"password": "pw"})
        status, doc, _ = self.client.request("GET", "sys/internal/specs/openapi", token=ROOT)
        assert status == 200
        self.operations = operations(doc)
        default = self.ok("POST", "auth/token/create", {"policies": ["default"]})
        batch = self.ok("POST", "auth/token/create", {"type": "batch", "policies": ["default"]})
        self.tokens = [
            None,
            ROOT,
            ROOT,
            ROOT,
            ROOT,
            "hvs.notarealtoken00000000",
            "hvb.AAAA",
            default["auth"]["client_token"],
            batch["auth"]["client_token"],
        ]
        self.secret_tokens = [t for t in self.tokens if t and len(t) > 20]
        self.figures = Figures()

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer, _ = self.client.request(method, path, token=ROOT, json=body)
        assert status in (200, 204), (method, path, status, answer)
        return answer

    def repair(self) -> None:
        """Undo what a fuzzed request may legitimately break for the next ones (seal, root token, quotas)."""
        core = self.core
        if core.sealed:
            core.unseal(self.key)
        if core.resolve_token(ROOT) is None:
            from tessera.tokens.entry import TokenEntry

            core.tokens.create(TokenEntry(id=ROOT, policies=["root"], path="auth/token/create"))
        if core.quotas is not None and core.quotas.quotas:
            core.quotas.quotas.clear()

    def close(self) -> None:
        self.client.close()
        self.core.shutdown()


def request_strategy(target: Target) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        op = draw(st.sampled_from(target.operations))
        path = op.path
        for name in op.params:
            path = path.replace("{" + name + "}", draw(st.one_of(NAMES, NAMES, PATH_TEXT)), 1)
        method = op.method.upper()
        query = ""
        if op.listing:
            method, query = draw(st.sampled_from([("LIST", ""), ("GET", "list=true")]))
        elif method == "POST":
            method = draw(st.sampled_from(["POST", "PUT"]))
        body: bytes | None = None
        json: Any = None
        if op.method in ("post", "patch"):
            chosen = (
                draw(st.lists(st.sampled_from(op.fields), unique_by=lambda f: f[0], max_size=6))
                if op.fields
                else []
            )
            json = {name: draw(_value_for(schema)) for name, schema in chosen}
            if draw(st.integers(0, 9)) == 0:
                json[draw(JUNK_TEXT)] = draw(VALUES)
            if draw(st.integers(0, 14)) == 0:
                body = draw(st.sampled_from([b"{", b"[1,2]", b"null", b'"x"', b"\xff\xfe", b"{}" * 3]))
        headers = {}
        if op.method == "patch" and draw(st.booleans()):
            headers["content-type"] = "application/merge-patch+json"
        if draw(st.integers(0, 19)) == 0:
            headers["x-vault-wrap-ttl"] = draw(DURATIONS)
        token = draw(st.sampled_from(target.tokens))
        return {
            "op": op.name,
            "method": method,
            "path": "/v1" + path,
            "query": query,
            "json": json,
            "body": body,
            "headers": headers,
            "token": token,
        }

    return build()


def send(target: Target, logs: LogCapture, req: dict[str, Any]) -> None:
    """One fuzzed request and its checks (raises AssertionError so that hypothesis shrinks it)."""
    before = len(logs.records)
    status, answer, _ = target.client.request(
        req["method"],
        req["path"],
        token=req["token"],
        json=req["json"],
        body=req["body"],
        headers=req["headers"],
        query=req["query"],
    )
    figures = target.figures
    figures.requests += 1
    figures.statuses[status] += 1
    figures.operations_hit.add(req["op"])
    new = logs.records[before:]
    bad = [r for r in new if r.exc_info or r.levelno >= logging.ERROR]
    target.repair()
    assert not bad, f"server logged an error for {req!r}:\n{logs.format(bad[0])}"
    for record in new:  # no token ID in any record, at any level
        text = logs.format(record)
        assert not any(t in text for t in target.secret_tokens), f"a token reached the log: {text}"
    if status >= 500:
        errors = answer.get("errors") if isinstance(answer, dict) else None
        assert errors and errors != GENERIC_500, f"unhandled {status} for {req!r}: {answer!r}"
        figures.deliberate_5xx[re.sub(r'"[^"]*"', '"…"', str(errors[0]))[:60]] += 1


def run(target: Target, examples: int, seed: int | None = None) -> Figures:
    """Fuzz ``examples`` requests; raises on the first failure (shrunk by hypothesis)."""
    logs = LogCapture()
    strategy = request_strategy(target)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=seed is not None,
        suppress_health_check=list(HealthCheck),
    )
    @given(req=strategy)
    def check(req: dict[str, Any]) -> None:
        send(target, logs, req)

    with logs:
        check()
    return target.figures
