"""The chains a TLS front remembers for resumed sessions (``server/peer.py``)."""

from __future__ import annotations

from tessera.server.peer import ResumedChains


def test_a_resumed_session_gets_the_chain_last_presented_with_its_leaf() -> None:
    chains = ResumedChains()
    assert chains.resumed(b"leaf") == (b"leaf",)  # never seen: the leaf alone
    chains.presented((b"leaf", b"intermediate"))
    assert chains.resumed(b"leaf") == (b"leaf", b"intermediate")
    chains.presented((b"leaf",))  # a full handshake without intermediates since
    assert chains.resumed(b"leaf") == (b"leaf",)


def test_the_least_recently_used_leaf_is_dropped_past_the_limit() -> None:
    chains = ResumedChains(limit=2)
    chains.presented((b"a", b"ca"))
    chains.presented((b"b", b"cb"))
    assert chains.resumed(b"a") == (b"a", b"ca")  # used: b is now the oldest
    chains.presented((b"c", b"cc"))
    assert chains.resumed(b"b") == (b"b",)
    assert chains.resumed(b"a") == (b"a", b"ca") and chains.resumed(b"c") == (b"c", b"cc")
