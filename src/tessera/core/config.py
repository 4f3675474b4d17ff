"""The settings a Core is built with (from the server's configuration file, or a test)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SYSTEM_DEFAULT_TTL = 768 * 3600
SYSTEM_MAX_TTL = 768 * 3600


@dataclass
class CoreConfig:
    default_lease_ttl: int = SYSTEM_DEFAULT_TTL
    max_lease_ttl: int = SYSTEM_MAX_TTL
    cluster_name: str = ""
    api_addr: str = ""
    storage_type: str = "inmem"
    dev: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
