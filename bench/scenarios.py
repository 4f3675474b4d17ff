"""The load scenarios: one fixed HTTP request each, repeated by wrk on every connection.

A scenario is a function of the server's :class:`State` so that both servers receive the same
request shape with their own tokens. Every scenario counts non-2xx answers (see ``wrk.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .state import PLAINTEXT, State


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # below /v1/
    token: str = ""
    body: Any = None  # JSON-encoded by the runner


@dataclass(frozen=True)
class Scenario:
    name: str
    build: Callable[[State], Request]


def _login(role: str) -> Callable[[State], Request]:
    def build(s: State) -> Request:
        role_id, secret_id = s.approle[role]
        return Request("POST", "auth/approle/login", body={"role_id": role_id, "secret_id": secret_id})

    return build


SCENARIOS: list[Scenario] = [
    Scenario(
        "token create service",
        lambda s: Request("POST", "auth/token/create", s.root, {"policies": ["bench"], "ttl": "1h"}),
    ),
    Scenario(
        "token create batch",
        lambda s: Request(
            "POST", "auth/token/create", s.root, {"policies": ["bench"], "ttl": "1h", "type": "batch"}
        ),
    ),
    Scenario(
        "token create orphan batch",
        lambda s: Request(
            "POST", "auth/token/create-orphan", s.root, {"policies": ["bench"], "ttl": "1h", "type": "batch"}
        ),
    ),
    Scenario("lookup-self service", lambda s: Request("GET", "auth/token/lookup-self", s.service_token)),
    Scenario("lookup-self batch", lambda s: Request("GET", "auth/token/lookup-self", s.batch_token)),
    Scenario("kv1 read service", lambda s: Request("GET", "kv1/bench", s.service_token)),
    Scenario("kv1 read batch", lambda s: Request("GET", "kv1/bench", s.batch_token)),
    Scenario(
        "kv1 write",
        lambda s: Request("POST", "kv1/bench-write", s.service_token, {"value": "v" * 64, "n": "1"}),
    ),
    Scenario("kv2 read", lambda s: Request("GET", "secret/data/bench", s.service_token)),
    Scenario(
        "transit encrypt batch",
        lambda s: Request("POST", "transit/encrypt/bench", s.batch_token, {"plaintext": PLAINTEXT}),
    ),
    Scenario("approle login service", _login("svc")),
    Scenario("approle login batch", _login("bat")),
]

BY_NAME = {s.name: s for s in SCENARIOS}
