"""What the pipeline records through: the audit broker and one request's trail, as the core sees them.

Audit devices sit above the core, beside the other backends; the core builds the broker by name
(``registry.audit_broker``) as it builds backends, and records through these two Protocols only.
"""

from __future__ import annotations

from typing import Protocol

from ..framework import Request, Response
from ..policy.acl import ACLResult
from ..tokens.entry import TokenEntry


class RequestTrail(Protocol):
    """One request's audit record, filled in as the pipeline goes (audit/trail.py ``Trail``)."""

    def token(self, entry: TokenEntry | None) -> None: ...

    def log_request(self, granted: ACLResult | None = None) -> None: ...

    def respond(self, resp: Response | None) -> Response | None: ...

    def failed(self, exc: BaseException) -> None: ...


class AuditRecorder(Protocol):
    """The audit broker (audit/broker.py ``AuditBroker``) as the core uses it."""

    def setup(self) -> None: ...

    def teardown(self) -> None: ...

    def trail(self, req: Request) -> RequestTrail | None: ...

    @property
    def active(self) -> bool:
        """Whether any device is enabled (``trail`` answers None exactly when none is)."""
        ...

    def log_privileged(self, entry: TokenEntry, token_id: str, path: str, operation: str) -> bool: ...

    def storage_views(self) -> list[tuple[str, str, bool]]:
        """Each device's storage prefix, type and whether it is local (for replication)."""
        ...
