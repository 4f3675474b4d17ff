"""sys/locked-users and sys/locked-users/:mount_accessor/unlock/:alias_identifier (user lockout).

The state and its rules live in core/lockout.py; these are the operator's window on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lockout import locked_users_view
from ..framework import Field, FieldData, FieldType, Operation, Path, Request, Response, generic_name

if TYPE_CHECKING:
    from ..core.core import Core


def locked_users_paths(core: Core) -> list[Path]:
    def report(req: Request, data: FieldData) -> Response:
        return Response(data=locked_users_view(core.lockout, data.get("mount_accessor")))

    def unlock(req: Request, data: FieldData) -> None:
        """Lift the lock (idempotent: an unknown accessor or alias answers 204 too, as Vault's)."""
        core.lockout.unlock(data.get("mount_accessor"), data.get("alias_identifier"))

    accessor = Field(
        FieldType.STRING,
        "MountAccessor is the identifier of the mount entry to which the user belongs",
    )
    return [
        Path(
            r"locked-users$",
            fields={"mount_accessor": accessor},
            operations={Operation.READ: report},
            synopsis="Report the locked user count metrics",
        ),
        Path(
            "locked-users/"
            + generic_name("mount_accessor")
            + "/unlock/"
            + generic_name("alias_identifier")
            + "$",
            fields={
                "mount_accessor": accessor,
                "alias_identifier": Field(
                    FieldType.STRING,
                    "It is the name of the alias (user). For example, if the alias belongs to userpass "
                    "backend, the name should be a valid username within userpass auth method.",
                ),
            },
            operations={Operation.UPDATE: unlock},
            synopsis="Unlocks the user with given mount_accessor and alias_identifier",
        ),
    ]
