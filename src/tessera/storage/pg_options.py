"""The options of ``storage "postgresql"``, with the names and defaults of Vault's backend.

``connection_url``, ``table``, ``max_parallel`` (statements in flight, Vault's permit pool),
``max_idle_connections`` and ``ha_enabled`` (with ``ha_table``, where the HA epoch lives).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
DEFAULT_TABLE = "tessera_kv"
DEFAULT_MAX_PARALLEL = 128  # Vault's physical.DefaultParallelOperations
_TRUE = ("1", "t", "true", "yes")
_FALSE = ("0", "f", "false", "no", "")


@dataclass(frozen=True)
class PostgreSQLOptions:
    connection_url: str
    table: str = DEFAULT_TABLE
    ha_enabled: bool = False
    ha_table: str = DEFAULT_TABLE + "_ha"
    max_parallel: int = DEFAULT_MAX_PARALLEL
    max_idle_connections: int = 0  # 0: no limit of Tessera's (one connection per serving thread)

    @classmethod
    def parse(cls, options: dict[str, str]) -> PostgreSQLOptions:
        """The options as the config file gives them (strings); ValueError names a bad one."""
        url = options.get("connection_url") or options.get("connection_string") or ""
        if not url:
            raise ValueError('storage "postgresql" needs a "connection_url"')
        table = _table(options.get("table", DEFAULT_TABLE))
        return cls(
            connection_url=url,
            table=table,
            ha_enabled=_boolean(options.get("ha_enabled", "false")),
            ha_table=_table(options.get("ha_table", table + "_ha")),
            max_parallel=_count(options, "max_parallel", DEFAULT_MAX_PARALLEL, minimum=1),
            max_idle_connections=_count(options, "max_idle_connections", 0, minimum=0),
        )


def _table(name: str) -> str:
    if not _TABLE_NAME.match(name):
        raise ValueError(f"invalid table name {name!r}")
    return name


def _boolean(text: str) -> bool:
    value = str(text).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f'storage "postgresql": "ha_enabled" must be true or false, not {text!r}')


def _count(options: dict[str, str], name: str, default: int, *, minimum: int) -> int:
    """Vault's texts: ``failed parsing max_parallel parameter: ...``."""
    text = options.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(str(text))
    except ValueError:
        raise ValueError(f"failed parsing {name} parameter: {text!r} is not a whole number") from None
    if value < minimum:
        raise ValueError(f"failed parsing {name} parameter: must be at least {minimum}")
    return value
