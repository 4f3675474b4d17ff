"""How the TLS front derives each phase's deadline from the listener's settings, as Go's ``http.Server``
does (``server/front_connection.py``); the deadlines themselves are tested against a running server in
``tests/server/test_hostile_clients.py``."""

from __future__ import annotations

from tessera.server.config import ListenerConfig
from tessera.server.front_connection import Timeouts, _join_index_states


def test_defaults_are_vaults() -> None:
    assert Timeouts.of(ListenerConfig()) == Timeouts(
        handshake=10, header=10, request=30, idle=300, write=None
    )


def test_zero_header_and_idle_timeouts_fall_back_to_the_read_timeout() -> None:
    limits = ListenerConfig(http_read_header_timeout=0, http_idle_timeout=0, http_read_timeout=7)
    assert Timeouts.of(limits) == Timeouts(handshake=7, header=7, request=7, idle=7, write=None)


def test_the_handshake_gets_the_shortest_timeout_set() -> None:
    limits = ListenerConfig(http_read_header_timeout=0, http_read_timeout=30, http_write_timeout=4)
    assert Timeouts.of(limits).handshake == 4


def test_all_zero_means_no_limits() -> None:
    limits = ListenerConfig(
        http_read_header_timeout=0, http_read_timeout=0, http_idle_timeout=0, http_write_timeout=0
    )
    assert Timeouts.of(limits) == Timeouts(handshake=None, header=None, request=None, idle=None, write=None)


def test_every_x_vault_index_header_is_kept() -> None:
    """Vault's clients send each required state as a header of its own; the dict keeps one value
    per name, so the TLS front joins that header's values (``cluster/ha/index_state.py``)."""
    raw = [(b"x-vault-index", b"first"), (b"x-vault-token", b"t"), (b"x-vault-index", b"second")]
    headers = {name.decode(): value.decode() for name, value in raw}
    _join_index_states(headers, raw)
    assert headers == {"x-vault-index": "first, second", "x-vault-token": "t"}
    once = {"x-vault-index": "only", "accept": "b"}
    _join_index_states(once, [(b"x-vault-index", b"only"), (b"accept", b"a"), (b"accept", b"b")])
    assert once == {"x-vault-index": "only", "accept": "b"}  # other names as before


def test_phases_hash_by_identity_in_c() -> None:
    """The fronts test phases' membership in sets on every request: Enum's ``__hash__`` (the
    member's name, hashed in Python) is replaced by object's, and the sets still hold."""
    from tessera.server.front_connection import READING, WAITING, Phase

    assert Phase.__hash__ is object.__hash__
    assert {p for p in Phase if p in READING} == {Phase.HEADERS, Phase.BODY, Phase.IDLE}
    assert {p for p in Phase if p in WAITING} == {Phase.IDLE, Phase.HANDSHAKE, Phase.HEADERS}
