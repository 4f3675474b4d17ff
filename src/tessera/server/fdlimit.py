"""Open-file limit: raised to the hard limit at start, as Go's runtime does for Vault.

Every client connection is a file descriptor. With the usual soft limit of 1,024, a thousand idle
sockets would be enough to stop the server accepting anyone; the hard limit is what the operator
allowed, so the server takes all of it.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger("tessera.server")

# Descriptors kept back from client connections: storage files, logs, audit devices, pipes.
RESERVED = 128
MIN_CONNECTIONS = 1024


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft if soft != resource.RLIM_INFINITY else target
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
        return soft
    return target


def connection_cap(configured: int) -> int:
    """Connections a listener serves at once: the setting, or what the open-file limit leaves."""
    if configured > 0:
        return configured
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 16
    return max(MIN_CONNECTIONS, soft - RESERVED)
