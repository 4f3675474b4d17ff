"""sys/internal/ui/mounts[/<path>], sys/internal/specs/openapi and sys/host-info.

The CLI's ``kv`` commands call ``sys/internal/ui/mounts/<path>`` before anything else to learn the
KV version of the mount, so its answer (and its 403 text) must match Vault's exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import __version__
from ..framework import (
    CodedError,
    ErrorResponse,
    Field,
    FieldData,
    FieldType,
    Operation,
    Path,
    PermissionDenied,
    Request,
    Response,
)
from .hostinfo import host_info
from .mount_acl import has_mount_access
from .mounts import sanitize_path

if TYPE_CHECKING:
    from ..core.core import Core
    from ..routing.mounts import MountEntry


def _tag(prefix: str) -> str:
    return {"cubbyhole/": "secrets", "secret/": "secrets", "sys/": "system", "auth/token/": "auth",
            "identity/": "identity"}.get(prefix, "")  # fmt: skip


class InternalHandlers:
    """The handlers of sys/internal/* and sys/host-info, over one Core."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def visible_mounts(self, req: Request) -> tuple[dict[str, MountEntry], dict[str, MountEntry]]:
        """The mounts this caller may see: everything reachable with its token, or unauth-listed ones."""
        if req.client_token and req.token_entry is None:
            raise PermissionDenied()
        acl = self.core.acl_for(req.token_entry) if req.token_entry is not None else None

        def visible(entry: MountEntry) -> bool:
            if entry.config.listing_visibility == "unauth":
                return True
            return acl is not None and has_mount_access(acl, entry.route_prefix)

        return (
            {e.path: e for e in self.core.mounts if visible(e)},
            {e.path: e for e in self.core.auth_mounts if visible(e)},
        )

    def ui_mounts(self, req: Request, data: FieldData) -> Response:
        secret, auth = self.visible_mounts(req)

        def show(entry: MountEntry) -> dict[str, Any]:
            if req.token_entry is not None:
                return entry.to_api()
            return {"type": entry.type, "description": entry.description, "options": entry.options}

        return Response(
            data={
                "secret": {p: show(e) for p, e in secret.items()},
                "auth": {p: show(e) for p, e in auth.items()},
            }
        )

    def ui_mount(self, req: Request, data: FieldData) -> Response:
        raw = data.get("path")
        if not raw:
            raise ErrorResponse("path not set")
        if req.token_entry is None:
            raise PermissionDenied()
        path = sanitize_path(raw)
        denied = CodedError(
            403,
            "preflight capability check returned 403, please ensure client's policies grant access "
            f'to path "{path}"',
        )
        route = self.core.router.match(path)
        # No mount is answered like no access, so the endpoint cannot be used to probe for mounts.
        if route is None:
            raise denied
        entry = route.entry
        if not has_mount_access(self.core.acl_for(req.token_entry), entry.route_prefix):
            raise denied
        out = entry.to_api()
        out["path"] = entry.path
        return Response(data=out)

    def openapi(self, req: Request, data: FieldData) -> Response:
        secret, auth = self.visible_mounts(req)
        paths: dict[str, Any] = {}
        for entry in list(secret.values()) + list(auth.values()):
            route = self.core.router.get(entry.route_prefix)
            if route is None:
                continue
            tag = _tag(entry.route_prefix)
            for api_path, item in route.backend.openapi(prefix=entry.route_prefix).items():
                if tag:
                    for method in ("get", "post", "delete", "patch"):
                        if isinstance(item.get(method), dict):
                            item[method].setdefault("tags", [tag])
                paths[api_path] = item
        doc = {
            "openapi": "3.0.2",
            "info": {
                "title": "Tessera API",
                "description": "HTTP API that gives you full access to Tessera. All API routes are prefixed with `/v1/`.",
                "version": __version__,
                "license": {
                    "name": "Mozilla Public License 2.0",
                    "url": "https://www.mozilla.org/en-US/MPL/2.0",
                },
            },
            "paths": dict(sorted(paths.items())),
            "components": {"schemas": {}},
        }
        return Response(raw_body=doc)

    def host(self, req: Request, data: FieldData) -> Response:
        return Response(data=host_info())


def internal_paths(core: Core) -> list[Path]:
    h = InternalHandlers(core)
    return [
        Path(
            r"internal/ui/mounts$",
            unauthenticated=True,
            operations={Operation.READ: h.ui_mounts},
            synopsis="Information about mounts returned according to their tuned visibility.",
        ),
        Path(
            r"internal/ui/mounts/(?P<path>.+)",
            unauthenticated=True,
            fields={"path": Field(FieldType.STRING, "The path of the mount.")},
            operations={Operation.READ: h.ui_mount},
            synopsis="Information about a single mount, for the UI and the CLI's KV version detection.",
        ),
        Path(
            r"internal/specs/openapi$",
            unauthenticated=True,
            fields={"generic_mount_paths": Field(FieldType.BOOL, "Use generic mount paths.", query=True)},
            operations={Operation.READ: h.openapi},
            synopsis="Generate an OpenAPI 3 document of all mounted paths.",
        ),
        Path(
            r"host-info/?$",
            operations={Operation.READ: h.host},
            synopsis="Information about the host instance.",
        ),
    ]
