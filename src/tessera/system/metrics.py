"""sys/metrics: the server's metrics, as JSON (Vault's in-memory sink) or Prometheus text.

A token with read on sys/metrics is needed, unless the listener's ``telemetry`` block sets
``unauthenticated_metrics_access`` (then ``server/syshttp.py`` answers before the token check).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..framework import Field, FieldData, FieldType, Operation, Path, Request, Response
from ..telemetry.service import telemetry_of

if TYPE_CHECKING:
    from ..core.core import Core


def metrics_response(core: Core, fmt: str) -> Response:
    """A raw response (bytes and their content type), as Vault's metricsutil.ResponseForFormat."""
    status, content_type, body = telemetry_of(core).render(core, fmt)
    return Response(raw_body=body, status=status, headers={"Content-Type": content_type})


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
            synopsis="Export the metrics aggregated for telemetry purpose.",
        )
    ]
