"""Performance and DR replication: which writes replicate, the primary's log and its state.

``keys`` classifies every storage key (replicated, local or ignored, as Vault does); ``log``
keeps the ordered record of the writes a secondary must apply; ``merkle`` hashes the replicated
keyspace; ``state`` and ``manager`` hold what ``sys/replication/*`` shows and changes.
"""
