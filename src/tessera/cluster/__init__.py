"""Several processes (and, later, nodes) serving one Tessera: who serves what, and staying exact.

Today this is worker-process mode (``workers = N`` with SQLite storage): the active process
writes, N-1 workers read the same file, serve what needs no write and hand the rest over. HA on
PostgreSQL (several nodes, one active) and replication extend the same small interface
(``interfaces.py``): a node's role decides whether a request is served here or forwarded, a
change feed tells standbys which keys changed, a forwarder hands requests to the active node.

The layer sits above the core and the backends and below ``server/``: it never imports the
server, which starts processes and listeners and hands this package what it needs.
"""
