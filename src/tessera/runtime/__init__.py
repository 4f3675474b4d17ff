"""Process-level runtime helpers below storage: the run gate, the threads' scheduling, and mutual
TLS under a CA of our own.

The gate and the scheduling decide how request threads share the interpreter and the CPU; storage
steps aside through them while it waits for a commit, so they must sit beneath storage and import
nothing of tessera. ``mtls.py`` is the certificate work that the HA cluster port and replication
share, placed here so that both can use it.
"""
