"""``map/teams`` and ``map/users``: names mapped to policies (Vault's framework.PolicyMap).

Keys are stored lower-cased under ``struct/map/<name>/<key>``; a write stores the request's data
as it came (``key`` and ``value``), a read gives it back, and ``value`` is a comma-separated
policy list.
"""

from __future__ import annotations

from typing import Any

from ...framework import Field, FieldData, FieldType, Operation, Path, Request, Response
from ...storage.base import Storage


class PolicyMap:
    def __init__(self, name: str) -> None:
        self.name = name
        self.prefix = f"struct/map/{name}/"

    def get(self, storage: Storage, key: str) -> dict[str, Any] | None:
        return storage.get_json(self.prefix + key.lower())

    def policies(self, storage: Storage, names: list[str]) -> list[str]:
        """The sorted union of the policies mapped to ``names``."""
        found: set[str] = set()
        for name in names:
            doc = self.get(storage, name) or {}
            value = doc.get("value")
            if isinstance(value, str):
                found.update(p.strip() for p in value.split(",") if p.strip())
        return sorted(found)

    # -- handlers -----------------------------------------------------------------------------
    def list_keys(self, req: Request, data: FieldData) -> Response:
        return Response(data={"keys": sorted(_storage(req).list(self.prefix))})

    def read(self, req: Request, data: FieldData) -> Response:
        """A missing key reads as ``data: null`` with 200, as Vault's PathMap answers."""
        return Response(data=self.get(_storage(req), data.get("key")), status=200)

    def write(self, req: Request, data: FieldData) -> None:
        raw = {k: v for k, v in req.data.items() if k in ("key", "value")}
        raw["key"] = data.get("key")
        _storage(req).put_json(self.prefix + str(data.get("key")).lower(), raw)

    def delete(self, req: Request, data: FieldData) -> None:
        _storage(req).delete(self.prefix + str(data.get("key")).lower())

    def exists(self, req: Request, data: FieldData) -> bool:
        return self.get(_storage(req), data.get("key")) is not None

    def paths(self) -> list[Path]:
        return [
            Path(
                f"map/{self.name}/?$",
                fields={},
                operations={Operation.LIST: self.list_keys, Operation.READ: self.list_keys},
                synopsis=f"Read mappings for {self.name}",
            ),
            Path(
                f"map/{self.name}/(?P<key>[-\\w]+)$",
                fields={
                    "key": Field(FieldType.STRING, f"Key for the {self.name} mapping"),
                    "value": Field(FieldType.STRING, f"Value for {self.name} mapping"),
                },
                operations={
                    Operation.CREATE: self.write,
                    Operation.UPDATE: self.write,
                    Operation.READ: self.read,
                    Operation.DELETE: self.delete,
                },
                existence_check=self.exists,
                synopsis=f"Read/write/delete a single {self.name} mapping",
            ),
        ]


def _storage(req: Request) -> Storage:
    assert req.storage is not None
    return req.storage
