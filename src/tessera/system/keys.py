"""sys/rotate, sys/rotate/keyring, their /config, and sys/key-status: the barrier keyring's terms.

Rotation adds a new term to the keyring; older terms stay so existing ciphertext still decrypts.
The automatic-rotation config is stored and reported like Vault's (Tessera does not rotate by itself).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..framework import ErrorResponse, Field, FieldData, FieldType, Operation, Path, Request, Response
from ..gocompat.durations import format_go_duration
from ..gocompat.times import rfc3339_nano

if TYPE_CHECKING:
    from ..core.core import Core

# barrier/keyring.go limits.
MAX_OPERATIONS = 3_865_470_566
MIN_OPERATIONS = 1_000_000
MIN_INTERVAL = 24 * 3600
ROTATION_CONFIG_KEY = "keyring/rotation-config"


def _encryptions(core: Core) -> int:
    """Encryptions under the active term: the barrier counts all of them since unseal."""
    term = core.barrier.keyring().active_term
    # The term and the barrier's count when the active term was installed (core.key_baseline).
    base_term, base_count = core.key_baseline or (term, 0)
    if base_term != term:
        return int(core.barrier.encryptions)
    return max(0, int(core.barrier.encryptions) - base_count)


def _load_config(req: Request) -> dict[str, Any]:
    stored = req.storage.get_json(ROTATION_CONFIG_KEY) if req.storage is not None else None
    config = {"disabled": False, "max_operations": MAX_OPERATIONS, "interval": 0}
    if stored:
        config.update(stored)
    return config


def key_paths(core: Core) -> list[Path]:
    def rotate(req: Request, data: FieldData) -> Response | None:
        with core.state_lock:
            core.barrier.rotate()
            core.key_baseline = (core.barrier.keyring().active_term, int(core.barrier.encryptions))
        return None

    def key_status(req: Request, data: FieldData) -> Response:
        active = core.barrier.keyring().active()
        return Response(
            data={
                "term": active.term,
                "install_time": rfc3339_nano(active.install_time),
                "encryptions": _encryptions(core),
            }
        )

    def read_config(req: Request, data: FieldData) -> Response:
        config = _load_config(req)
        interval = int(config["interval"])
        return Response(
            data={
                "max_operations": int(config["max_operations"]),
                "enabled": not config["disabled"],
                "interval": format_go_duration(interval) if interval > 0 else 0,
            }
        )

    def write_config(req: Request, data: FieldData) -> Response | None:
        config = _load_config(req)
        if data.has("max_operations"):
            config["max_operations"] = data.get("max_operations")
        if data.has("interval"):
            config["interval"] = data.get("interval")
        if data.has("enabled"):
            config["disabled"] = not data.get("enabled")
        if config["interval"] and config["interval"] < MIN_INTERVAL:
            raise ErrorResponse(f"interval must be greater or equal to {format_go_duration(MIN_INTERVAL)}")
        if not MIN_OPERATIONS <= config["max_operations"] <= MAX_OPERATIONS:
            raise ErrorResponse(f"max_operations must be in the range [{MIN_OPERATIONS},{MAX_OPERATIONS}]")
        assert req.storage is not None
        req.storage.put_json(ROTATION_CONFIG_KEY, config)
        return None

    config_fields = {
        "enabled": Field(FieldType.BOOL, "Whether automatic rotation is enabled."),
        "max_operations": Field(
            FieldType.INT,
            "The number of encryption operations performed before the barrier key is automatically rotated.",
        ),
        "interval": Field(
            FieldType.DURATION,
            "How long after installation of an active key term that the key will be automatically rotated.",
        ),
    }
    # One Path per concrete URL (not ``rotate(/keyring)?``) so each appears in the OpenAPI document.
    paths = []
    for prefix in ("rotate", "rotate/keyring"):
        paths.append(
            Path(
                prefix + "$",
                sudo=True,
                operations={Operation.UPDATE: rotate},
                synopsis="Rotates the backend encryption key used to persist data.",
            )
        )
        paths.append(
            Path(
                prefix + "/config$",
                fields=config_fields,
                operations={Operation.READ: read_config, Operation.UPDATE: write_config},
                synopsis="Configures settings related to the backend encryption key management.",
            )
        )
    paths.append(
        Path(
            r"key-status$",
            operations={Operation.READ: key_status},
            synopsis="Provides information about the backend encryption key.",
        )
    )
    return paths
