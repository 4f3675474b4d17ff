"""``tessera agent``: Vault Agent's auto-auth, token sinks, renewal, templates and caching proxy.

A long-running service should not hold credentials that expire under it. The agent logs in for
it (AppRole or a token file), keeps the token alive the way Vault's LifetimeWatcher does, hands it
over through files (sinks) or rendered templates, and can proxy the service's own requests to the
server, adding the token and caching leased answers.
"""
