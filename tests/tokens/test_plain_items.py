"""``issue._plain_items``: the look inside a creation body's list, map or int (the prepared
route's ``plain_create_args``), the same answer as a check of each item's exact type."""

from __future__ import annotations

from typing import Any

import pytest

from tessera.tokens import issue


class Text(str):
    pass


def _each_item_is_str(kind: type, value: Any) -> bool:
    items = value if kind is list else value.values()
    return all(type(item) is str for item in items)


@pytest.mark.parametrize(
    "value",
    [[], ["a"], ["a", "b", ""], ["a", 1], [None], [["a"]], [Text("a")], ["a", Text("b")], [b"a"]],
)
def test_list_items(value: list[Any]) -> None:
    assert issue._plain_items(list, value) == _each_item_is_str(list, value)


@pytest.mark.parametrize(
    "value", [{}, {"k": "v"}, {"k": 1}, {"k": None}, {"k": "v", "l": Text("w")}, {"k": {"x": "y"}}]
)
def test_map_values(value: dict[str, Any]) -> None:
    assert issue._plain_items(dict, value) == _each_item_is_str(dict, value)


def test_ints_and_others() -> None:
    assert issue._plain_items(int, 2**63 - 1) and not issue._plain_items(int, 2**63)
    assert issue._plain_items(int, -(2**63)) and not issue._plain_items(int, -(2**63) - 1)
    assert issue._plain_items(str, "anything")
