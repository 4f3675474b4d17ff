"""``TokenEntry.blank``: what every minted token starts from, the same as ``TokenEntry()``."""

from __future__ import annotations

import dataclasses

from tessera.tokens import entry as entry_module
from tessera.tokens.entry import TokenEntry


def test_blank_is_the_dataclass_default() -> None:
    blank = TokenEntry.blank()
    assert type(blank) is TokenEntry
    assert blank == TokenEntry()
    assert list(blank.__dict__) == list(TokenEntry().__dict__)  # same fields, same order
    assert blank.to_storage() == TokenEntry().to_storage()


def test_blank_entries_share_no_list_or_dict() -> None:
    factories = {
        f.name for f in dataclasses.fields(TokenEntry) if f.default_factory is not dataclasses.MISSING
    }
    assert factories == {"policies", "bound_cidrs", "internal_meta", "auth_internal_data"}
    one, two = TokenEntry.blank(), TokenEntry.blank()
    for name in factories:
        assert getattr(one, name) is not getattr(two, name)
        assert getattr(one, name) is not entry_module._DEFAULTS[name]
    one.policies.append("x")
    one.internal_meta["k"] = "v"
    one.path = "auth/token/create"
    assert TokenEntry.blank() == TokenEntry()
    assert two == TokenEntry()


def test_a_blank_entry_behaves_as_a_constructed_one() -> None:
    blank = TokenEntry.blank()
    blank.policies = ["default"]
    blank.ttl = 60
    made = TokenEntry(policies=["default"], ttl=60)
    assert blank == made
    twin = blank.clone()
    assert twin == made and twin.policies is not blank.policies
    assert TokenEntry.from_storage(blank.to_storage()) == made
