"""framework/logical.py: the operation texts the ACL check is given."""

from __future__ import annotations

from tessera.framework import OPERATION_TEXT, Operation


def test_every_operation_has_its_value_as_text() -> None:
    assert set(OPERATION_TEXT) == set(Operation)
    for op in Operation:
        text = OPERATION_TEXT[op]
        assert text == op.value and type(text) is str  # a plain str, as .value gave
    assert OPERATION_TEXT["update"] == "update"  # type: ignore[index]  # a str operation too
