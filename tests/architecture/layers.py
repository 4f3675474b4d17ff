"""Tessera's layers, bottom first: the one list that the import-graph test holds the code to.

A module may import modules of its own layer or of any layer below it, never above, and no import
may close a loop. docs/architecture.md draws the same list.
"""

from __future__ import annotations

LAYERS: tuple[tuple[str, ...], ...] = (
    # Go compatibility, the HCL reader, runtime helpers, the web UI's files, and the small pieces the
    # server and its clients share (ASGI plumbing, command-line and HTTP-client helpers).
    (
        "tessera",
        "tessera.version",
        "tessera.gocompat",
        "tessera.hcl",
        "tessera.runtime",
        "tessera.ui",
        "tessera.asgiutil",
        "tessera.clientutil",
        "tessera.cmdutil",
    ),
    ("tessera.storage",),  # physical backends: opaque bytes by key
    ("tessera.framework", "tessera.telemetry"),  # declared paths, fields, envelope; metrics
    ("tessera.barrier", "tessera.routing"),  # the barrier and keyed hash; mount entries and the router
    ("tessera.policy", "tessera.tokens", "tessera.leases"),  # ACLs, the token store, the expiration manager
    (
        "tessera.core",
        "tessera.replication",
    ),  # seal, mount tables, gauges, the request pipeline; replication state
    ("tessera.audit", "tessera.system", "tessera.auth", "tessera.secrets"),  # backends and audit devices
    ("tessera.cluster",),  # several processes and nodes: forwarding, change feeds, invalidation
    ("tessera.server", "tessera.testing"),  # listeners, config, the app, process lifecycle
    ("tessera.cli", "tessera.agent", "tessera.__main__"),  # the command line and the agent
)

# Third-party packages that a function may import where it needs them: each serves one optional
# feature, and importing it at start-up would cost every server that does not use the feature.
# hvac serves testing.server's hvac_client(): a test-only package that servers never import.
LAZY_THIRD_PARTY = frozenset(
    {"psycopg", "pysequoia", "OpenSSL", "prometheus_client", "jwt", "yaml", "h11", "hvac"}
)

# Single modules allowed one lazy import more, each with its reason: (importer, imported) -> why.
LAZY_IN_MODULE: dict[tuple[str, str], str] = {
    # granian's private API (its WSGI worker) is isolated in listen._threaded_spawner: an ImportError
    # there means "serve over ASGI instead", an optional feature that must not fail the import.
    ("tessera.server.listen", "granian"): "granian's private WSGI worker, with ASGI as the fallback",
}

# Modules loaded by name with importlib, outside the import graph, each with its reason:
#   tessera.server.command, tessera.agent.command (cli/processes.py): the server costs ~1.5 s to import
#     and ``tessera kv get`` must not pay for it.
#   tessera.storage.postgresql (storage/opening.py): psycopg costs ~180 ms; only a server configured
#     for PostgreSQL loads it.
#   tessera.cluster.ha (server/command.py): it needs psycopg too; only a server configured with
#     storage "postgresql" and ha_enabled loads it.


def layer_of(module: str) -> int:
    """The index of the layer holding ``module`` (by its longest listed prefix)."""
    best, found = -1, -1
    for index, names in enumerate(LAYERS):
        for name in names:
            inside = module == name or (name != "tessera" and module.startswith(name + "."))
            if inside and len(name) > best:
                best, found = len(name), index
    if found < 0:
        raise LookupError(f"{module} is in no layer: add its package to tests/architecture/layers.py")
    return found
