"""Field coercion follows Vault's weak decoding, with Vault's error texts."""

from __future__ import annotations

import pytest

from tessera.framework import Backend, ErrorResponse, Field, FieldType, Operation, Path, Request, Response
from tessera.framework.errors import UnsupportedOperation, UnsupportedPath
from tessera.framework.fields import FieldData, FieldError, coerce


@pytest.mark.parametrize(
    ("ftype", "raw", "value"),
    [
        (FieldType.BOOL, "true", True),
        (FieldType.BOOL, "1", True),
        (FieldType.BOOL, "false", False),
        (FieldType.BOOL, 0, False),
        (FieldType.INT, "3", 3),
        (FieldType.INT, 3.0, 3),
        (FieldType.STRING, 1, "1"),
        (FieldType.STRING, True, "1"),
        (FieldType.COMMA_STRING_SLICE, "a, b,,c", ["a", "b", "c"]),
        (FieldType.COMMA_STRING_SLICE, ["a,b", "c"], ["a,b", "c"]),
        (FieldType.COMMA_STRING_SLICE, '["x","y"]', ["x", "y"]),
        (FieldType.STRING_SLICE, "p1,p2", ["p1,p2"]),
        (FieldType.KV_PAIRS, ["a=1", "b=2=3"], {"a": "1", "b": "2=3"}),
        (FieldType.KV_PAIRS, {"a": 1, "b": True}, {"a": "1", "b": "1"}),
        (FieldType.DURATION, "1h", 3600),
        (FieldType.SIGNED_DURATION, "-5", -5),
        (FieldType.MAP, {"a": 1}, {"a": 1}),
        (FieldType.LOWERCASE_STRING, "AbC", "abc"),
    ],
)
def test_coerce(ftype: FieldType, raw: object, value: object) -> None:
    assert coerce(ftype, raw) == value


def test_field_types_hash_by_identity() -> None:
    """Every converted field looks its type up in a dict: members hash in C, by identity (Enum's
    own ``__hash__`` is Python code), and still find what they were stored under."""
    assert all(hash(t) == object.__hash__(t) for t in FieldType)
    by_type = {t: t.value for t in FieldType}
    assert [by_type[FieldType(t.value)] for t in FieldType] == [t.value for t in FieldType]
    assert FieldType.INT != "int" and FieldType("int") is FieldType.INT


def test_coerce_errors() -> None:
    with pytest.raises(FieldError, match=r"strconv\.ParseBool"):
        coerce(FieldType.BOOL, "maybe")
    with pytest.raises(FieldError, match=r"strconv\.ParseInt"):
        coerce(FieldType.INT, "x")
    with pytest.raises(FieldError, match="cannot provide negative value '-5'"):
        coerce(FieldType.DURATION, "-5")
    with pytest.raises(
        FieldError, match=r"expected type 'map\[string\]interface \{\}', got unconvertible type 'string'"
    ):
        coerce(FieldType.MAP, "nope")


def test_field_data_defaults_and_presence() -> None:
    data = FieldData(
        {"ttl": "1m"}, {"ttl": Field(FieldType.DURATION), "renewable": Field(FieldType.BOOL, default=True)}
    )
    assert data.get_ok("ttl") == (60, True)
    assert data.get_ok("renewable") == (True, False)


def _backend() -> Backend:
    def read(req: Request, data: FieldData) -> Response:
        return Response(data={"name": data.get("name"), "n": data.get("n")})

    def exists(req: Request, data: FieldData) -> bool:
        return data.get("name") == "there"

    return Backend(
        paths=[
            Path(
                r"item/(?P<name>\w+)",
                fields={"name": Field(FieldType.STRING), "n": Field(FieldType.INT)},
                operations={Operation.READ: read, Operation.UPDATE: read},
                existence_check=exists,
            )
        ]
    )


def test_backend_dispatch_and_errors() -> None:
    backend = _backend()
    resp = backend.handle_request(Request(Operation.READ, "item/abc", data={"n": "7"}))
    assert resp is not None and resp.data == {"name": "abc", "n": 7}
    with pytest.raises(UnsupportedPath):
        backend.handle_request(Request(Operation.READ, "nope"))
    with pytest.raises(UnsupportedOperation):
        backend.handle_request(Request(Operation.DELETE, "item/abc"))
    with pytest.raises(ErrorResponse) as exc:
        backend.handle_request(Request(Operation.READ, "item/abc", data={"n": "x"}))
    assert str(exc.value).startswith('Field validation failed: error converting input for field "n": ')
    warned = backend.handle_request(Request(Operation.UPDATE, "item/abc", data={"prefix": 1}))
    assert warned is not None and warned.warnings == [
        "Endpoint ignored these unrecognized parameters: [prefix]"
    ]
    assert backend.existence(Request(Operation.UPDATE, "item/there")) == (True, True)
    assert backend.existence(Request(Operation.UPDATE, "item/gone")) == (True, False)


def test_openapi_from_declarations() -> None:
    doc = _backend().openapi(prefix="kv/")
    assert "/kv/item/{name}" in doc
    item = doc["/kv/item/{name}"]
    assert item["parameters"][0]["name"] == "name"
    assert "get" in item and "post" in item
    assert (
        item["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]["n"]["type"]
        == "integer"
    )


def test_optional_capture_overrides_body_with_warning() -> None:
    def read(req: Request, data: FieldData) -> Response:
        return Response(data={"alg": data.get("alg")})

    backend = Backend(
        paths=[
            Path(
                r"hash(/(?P<alg>[\w-]+))?",
                fields={"alg": Field(FieldType.STRING)},
                operations={Operation.UPDATE: read},
            )
        ]
    )
    resp = backend.handle_request(Request(Operation.UPDATE, "hash", data={"alg": "sha2-512"}))
    assert resp is not None and resp.data == {"alg": ""}, (
        "an unmatched optional group is an empty capture, as Go"
    )
    assert resp.warnings == [
        "Endpoint replaced the value of these parameters with the values captured from the endpoint's path: [alg]"
    ]
    resp = backend.handle_request(Request(Operation.UPDATE, "hash/sha2-256"))
    assert resp is not None and resp.data == {"alg": "sha2-256"} and not resp.warnings


def test_openapi_balances_nested_groups() -> None:
    from tessera.framework.backend import _pattern_to_openapi

    assert _pattern_to_openapi(r"keys/(?P<name>\w(([\w\-.]+)?\w)?)/rotate") == (
        "keys/{name}/rotate",
        ["name"],
    )
    assert _pattern_to_openapi(r"leases/renew(/(?P<id>.+))?") == ("leases/renew/{id}", ["id"])


def test_replaced_parameters_are_named_in_sorted_order() -> None:
    def write(req: Request, data: FieldData) -> Response:
        return Response(data={"zeta": data.get("zeta"), "alpha": data.get("alpha")})

    backend = Backend(
        paths=[
            Path(
                r"(?P<zeta>\w+)/(?P<alpha>\w+)",
                fields={"zeta": Field(FieldType.STRING), "alpha": Field(FieldType.STRING)},
                operations={Operation.UPDATE: write},
            )
        ]
    )
    resp = backend.handle_request(Request(Operation.UPDATE, "z/a", data={"zeta": "1", "alpha": "2"}))
    assert resp is not None and resp.data == {"zeta": "z", "alpha": "a"}
    assert resp.warnings == [
        "Endpoint replaced the value of these parameters with the values captured from the "
        "endpoint's path: [alpha zeta]"
    ]
