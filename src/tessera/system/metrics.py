"""sys/metrics: the server's metrics, as JSON (Vault's in-memory sink) or Prometheus text.

A token with read on sys/metrics is needed, unless the listener's ``telemetry`` block sets
``unauthenticated_metrics_access``: then the path's raw handler answers before the token check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.telemetry import telemetry_of
from ..framework import Field, FieldData, FieldType, Operation, Path, Request, Response
from ..framework.backend import ANY_METHOD
from ..framework.logical import RawRequest, RawResponse
from .rawhttp import RawHost

if TYPE_CHECKING:
    from ..core.core import Core


def metrics_response(core: Core, fmt: str) -> Response:
    """A raw response (bytes and their content type), as Vault's metricsutil.ResponseForFormat."""
    status, content_type, body = telemetry_of(core).render(core, fmt)
    return Response(raw_body=body, status=status, headers={"Content-Type": content_type})


async def unauthenticated_metrics(host: RawHost, req: RawRequest) -> RawResponse | None:
    """sys/metrics without a token, when the listener allows it; otherwise the logical path's."""
    if not host.unauthenticated_metrics_access:
        return None
    if req.method not in ("GET", "HEAD"):
        return RawResponse.method_not_allowed()
    core = host.core
    status, content_type, body = await host.run(telemetry_of(core).render, core, req.first("format"))
    return RawResponse(status, body, [(b"content-type", content_type.encode())])


def metrics_paths(core: Core) -> list[Path]:
    def read_metrics(req: Request, data: FieldData) -> Response:
        return metrics_response(core, data.get("format"))

    return [
        Path(
            r"metrics$",
            fields={
                "format": Field(
                    FieldType.STRING,
                    'Format to export metrics into. Currently accepts only "prometheus".',
                    query=True,
                ),
            },
            operations={Operation.READ: read_metrics},
            raw={ANY_METHOD: unauthenticated_metrics},
            sealed_ok=True,
            synopsis="Export the metrics aggregated for telemetry purpose.",
        )
    ]
