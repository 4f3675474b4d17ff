"""The prepared login lane (core/prepared.py ``PreparedRoutes.login``, AppRole's declared
``Backend.prepared_login``) answers exactly as the generic pipeline does.

Two dev servers are set up alike (custom role and secret IDs, so that both take the same bodies);
every login goes through the App as the event-loop front hands it over (``App._route``), to one
server with the prepared routes on and to the other with them off. Each answer's status, headers
and body must be the same bytes once the random IDs are named alike; the minted tokens must carry
the same entry, and the storage effects (secret IDs' remaining uses, lockout counters and locks,
identity aliases) must be the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tessera.framework import ErrorResponse
from tessera.telemetry import metrics
from tests.reliability.asgi import ROOT

from .test_prepared_routes import Server, _entry

ROLES: dict[str, dict[str, Any]] = {
    "bat": {"token_type": "batch", "token_policies": ["p1", "p2"], "token_ttl": "15m"},
    "svc": {"token_type": "service", "token_policies": ["p1"], "token_ttl": "1h", "token_max_ttl": "2h"},
    "per": {"token_period": "1h", "token_policies": ["default", "p3"]},
    "plain": {},
    "cidr": {"token_type": "batch", "secret_id_bound_cidrs": ["10.0.0.0/8"]},
    "cidrok": {
        "token_type": "batch",
        "secret_id_bound_cidrs": ["127.0.0.0/8"],
        "token_bound_cidrs": ["127.0.0.1/32"],
    },
    "nobind": {"bind_secret_id": False, "secret_id_bound_cidrs": ["127.0.0.0/8"], "token_type": "batch"},
    "lock": {"token_type": "batch"},
    "rootpol": {"token_type": "batch", "token_policies": ["root"]},
}
# (role, custom secret ID, its options)
SECRETS: list[tuple[str, str, dict[str, Any]]] = [
    ("bat", "sid-bat", {}),
    ("bat", "sid-bat-meta", {"metadata": '{"team": "ci", "b": "2"}'}),
    ("bat", "sid-bat-two", {"num_uses": 2}),
    ("bat", "sid-bat-one", {"num_uses": 1, "token_bound_cidrs": ["127.0.0.1/32"]}),
    ("svc", "sid-svc", {}),
    ("svc", "sid-svc-three", {"num_uses": 3}),
    ("per", "sid-per", {}),
    ("plain", "sid-plain", {}),
    ("cidr", "sid-cidr", {}),
    ("cidrok", "sid-cidrok", {"cidr_list": ["127.0.0.0/8"]}),
    ("cidrok", "sid-cidrok-out", {"cidr_list": ["127.0.0.0/16"], "num_uses": 2}),
    ("lock", "sid-lock", {}),
    ("rootpol", "sid-rootpol", {}),
]

# The logins, in order (the ones that repeat count uses and lockout failures).
LOGINS: list[dict[str, Any]] = [
    {"role_id": "rid-bat", "secret_id": "sid-bat"},
    {"role_id": "rid-bat", "secret_id": "sid-bat"},
    {"role_id": " rid-bat ", "secret_id": " sid-bat "},
    {"role_id": "rid-bat", "secret_id": "sid-bat-meta"},
    {"role_id": "rid-svc", "secret_id": "sid-svc"},
    {"role_id": "rid-per", "secret_id": "sid-per"},
    {"role_id": "rid-plain", "secret_id": "sid-plain"},
    {"role_id": "nope", "secret_id": "sid-bat"},
    {"role_id": "rid-bat", "secret_id": "wrong"},
    {"role_id": "rid-bat", "secret_id": ""},
    {"role_id": "rid-bat"},
    {"role_id": ""},
    {"role_id": "   ", "secret_id": "x"},
    {"secret_id": "sid-bat"},
    {},
    {"role_id": "rid-bat", "secret_id": "sid-bat-two"},
    {"role_id": "rid-bat", "secret_id": "sid-bat-two"},
    {"role_id": "rid-bat", "secret_id": "sid-bat-two"},
    {"role_id": "rid-bat", "secret_id": "sid-bat-one"},
    {"role_id": "rid-bat", "secret_id": "sid-bat-one"},
    {"role_id": "rid-svc", "secret_id": "sid-svc-three"},
    {"role_id": "rid-svc", "secret_id": "sid-svc-three"},
    {"role_id": "rid-cidr", "secret_id": "sid-cidr"},
    {"role_id": "rid-cidrok", "secret_id": "sid-cidrok"},
    {"role_id": "rid-cidrok", "secret_id": "sid-cidrok-out"},
    {"role_id": "rid-nobind"},
    {"role_id": "rid-nobind", "secret_id": "ignored"},
    {"role_id": "rid-rootpol", "secret_id": "sid-rootpol"},
    # Shapes the lane leaves to the generic path: an unknown field, values that are no strings.
    {"role_id": "rid-bat", "secret_id": "sid-bat", "extra": "x"},
    {"role_id": 5, "secret_id": "sid-bat"},
    {"role_id": "rid-bat", "secret_id": None},
    # User lockout: five wrong secret IDs lock the role ID out, then even the right one is refused.
    *[{"role_id": "rid-lock", "secret_id": f"wrong-{i}"} for i in range(5)],
    {"role_id": "rid-lock", "secret_id": "sid-lock"},
    {"role_id": "rid-lock", "secret_id": "wrong-again"},
]


def masking(fields: tuple[str, ...], method: str) -> Callable[[bytes], bytes]:
    """A body with the values of ``fields`` (random IDs, times) and the ``method`` mount's accessor
    replaced by placeholders, so two servers' answers compare."""
    values = re.compile(rb'"(' + "|".join(fields).encode() + rb')":"[^"]*"')
    accessor = re.compile(rb"auth_" + method.encode() + rb"_[0-9a-f]+")

    def normal(body: bytes) -> bytes:
        body = values.sub(lambda m: b'"' + m.group(1) + b'":"<' + m.group(1) + b'>"', body)
        return accessor.sub(b"<accessor>", body)

    return normal


# request_id ... creation_time: every login's; the rest AppRole's.
RANDOM_FIELDS = (
    "request_id",
    "client_token",
    "token",
    "accessor",
    "entity_id",
    "mount_accessor",
    "creation_time",
)
_normal = masking((*RANDOM_FIELDS, "expiration_time", "last_updated_time", "secret_id_accessor"), "approle")


class LoginServer(Server):
    """A dev server with an AppRole mount, its roles and custom IDs, always served ``fast`` or
    never by a prepared route."""

    def __init__(self, fast: bool) -> None:
        super().__init__()
        self.fast = fast
        self.setup("POST", "sys/auth/approle", {"type": "approle"})
        for name, role in ROLES.items():
            self.setup("POST", f"auth/approle/role/{name}", role)
            self.setup("POST", f"auth/approle/role/{name}/role-id", {"role_id": f"rid-{name}"})
        for name, secret, options in SECRETS:
            self.setup("POST", f"auth/approle/role/{name}/custom-secret-id", {"secret_id": secret, **options})

    def login(
        self, body: Any, headers: dict[str, str] | None = None, token: str = ""
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        return self.call("POST", "auth/approle/login", token, body, fast=self.fast, headers=headers)

    def effects(self) -> dict[str, Any]:
        """What the logins left in storage, as both servers name it."""
        out: dict[str, Any] = {}
        for name, secret, _ in SECRETS:
            status, _, answer = self.call(
                "POST", f"auth/approle/role/{name}/secret-id/lookup", ROOT, {"secret_id": secret}, fast=False
            )
            out[secret] = (status, _normal(answer))
        accessor = self.core.router.match("auth/approle/login").entry.accessor  # type: ignore[union-attr]
        for role in ROLES:
            for prefix in ("core/login/failedLogins/", "core/login/lockedUsers/"):
                value = self.core.barrier.get_json(f"{prefix}{accessor}/rid-{role}")
                out[prefix + role] = value["count"] if isinstance(value, dict) else value is not None
        status, _, answer = self.call("GET", "sys/locked-users", ROOT, None, fast=False)
        out["locked-users"] = (status, _normal(answer))
        out["aliases"] = self.aliases()
        return out


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[LoginServer, LoginServer]]:
    fast, slow = LoginServer(True), LoginServer(False)
    yield fast, slow
    fast.core.shutdown()
    slow.core.shutdown()


def _same(fast: LoginServer, slow: LoginServer, got: tuple[Any, ...], want: tuple[Any, ...]) -> None:
    same_as_generic(fast, slow, got, want, _normal)


def same_as_generic(
    fast: Server, slow: Server, got: tuple[Any, ...], want: tuple[Any, ...], normal: Callable[[bytes], bytes]
) -> None:
    """The lane's answer (``got``) and the generic path's (``want``): the same status, headers and
    body (random IDs made alike by ``normal``), and the same token entry behind them."""
    assert got[0] == want[0]
    assert got[1] == want[1]
    assert normal(got[2]) == normal(want[2])
    left, right = _entry(fast.core, got[2]), _entry(slow.core, want[2])
    if left is not None and right is not None:
        assert bool(left.pop("entity_id")) == bool(right.pop("entity_id"))
    assert left == right


def test_logins_answer_and_write_as_the_generic_path(pair: tuple[LoginServer, LoginServer]) -> None:
    fast, slow = pair
    assert fast.effects() == slow.effects()
    for body in LOGINS:
        _same(fast, slow, fast.login(body), slow.login(body))
    assert fast.effects() == slow.effects()


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ({"x-vault-wrap-ttl": "60s"}, ""),
        ({"x-vault-namespace": "ns1"}, ""),
        ({}, ROOT),
        ({}, "hvs.AAAAAAAAAAAAAAAAAAAAAAAA"),
    ],
)
def test_unusual_requests_answer_as_the_generic_path(
    pair: tuple[LoginServer, LoginServer], headers: dict[str, str], token: str
) -> None:
    fast, slow = pair
    body = {"role_id": "rid-bat", "secret_id": "sid-bat"}
    _same(fast, slow, fast.login(body, headers, token), slow.login(body, headers, token))


@pytest.mark.parametrize(
    "raw",
    [b'{"role_id": "rid-bat", "secret_id": "sid-bat"', b"role_id=rid-bat&secret_id=sid-bat", b"[1]", b""],
)
def test_bodies_are_read_as_the_generic_path(pair: tuple[LoginServer, LoginServer], raw: bytes) -> None:
    fast, slow = pair
    answers = [s.call("POST", "auth/approle/login", "", None, fast=s.fast, raw=raw) for s in (fast, slow)]
    _same(fast, slow, answers[0], answers[1])


def test_the_common_shape_is_answered_by_the_lane(pair: tuple[LoginServer, LoginServer]) -> None:
    """Without the lane this test fails: the common login must not fall back."""
    core = pair[0].core
    path = "auth/approle/login"
    for body in (
        {"role_id": "rid-bat", "secret_id": "sid-bat"},
        {"role_id": "rid-svc", "secret_id": "sid-svc"},
    ):
        answered = core.serve_prepared_update(path, "", body, "127.0.0.1", "r")
        assert answered is not None and answered[0] == 200
    with pytest.raises(ErrorResponse, match="invalid role or secret ID"):  # the App renders it
        core.serve_prepared_update(path, "", {"role_id": "nope", "secret_id": "x"}, "127.0.0.1", "r")
    for body in ({"role_id": "rid-bat", "x": "y"}, {"role_id": 1}, {"role_id": "rid-bat", "secret_id": None}):
        assert core.serve_prepared_update(path, "", body, "127.0.0.1", "r") is None
    good = {"role_id": "rid-bat", "secret_id": "sid-bat"}
    assert core.serve_prepared_update(path, ROOT, good, "127.0.0.1", "r") is None
    assert core.serve_prepared_update("auth/approle/login/x", "", good, "127.0.0.1", "r") is None
    assert core.serve_prepared_update("auth/token/login", "", good, "127.0.0.1", "r") is None


def test_the_lane_records_the_generic_metrics(pair: tuple[LoginServer, LoginServer]) -> None:
    body = {"role_id": "rid-bat", "secret_id": "sid-bat"}

    def readings() -> tuple[int, int, int]:
        route = metrics.route_timer("update", "auth/approle/")
        handled = metrics.HANDLE_REQUEST._pending
        return len(metrics.HANDLE_LOGIN_REQUEST._pending), len(route._pending), len(handled)

    for server in pair:
        before = readings()
        status, _, _ = server.login(body)
        after = readings()
        assert status == 200
        assert tuple(a - b for a, b in zip(after, before, strict=True)) == (1, 1, 0), server.fast


def test_an_audit_device_sends_logins_to_the_generic_path(pair: tuple[LoginServer, LoginServer]) -> None:
    core = pair[0].core
    body = {"role_id": "rid-bat", "secret_id": "sid-bat"}
    audit = core.audit
    assert audit is not None
    devices = audit.devices  # type: ignore[attr-defined]
    devices["test/"] = object()
    try:
        assert core.serve_prepared_update("auth/approle/login", "", body, "127.0.0.1", "r") is None
    finally:
        del devices["test/"]
    assert core.serve_prepared_update("auth/approle/login", "", body, "127.0.0.1", "r") is not None


def test_lane_off_is_the_generic_path(pair: tuple[LoginServer, LoginServer]) -> None:
    """The slow server's switch really turns the lane off (the comparison above means something)."""
    fast, slow = pair[0].app, pair[1].app
    before = len(fast.prepared_paths), len(slow.prepared_paths)
    pair[0].login({"role_id": "rid-bat", "secret_id": "sid-bat"})
    pair[1].login({"role_id": "rid-bat", "secret_id": "sid-bat"})
    assert fast.prepared_paths[before[0] :] == ["auth/approle/login"]
    assert slow.prepared_paths[before[1] :] == []
