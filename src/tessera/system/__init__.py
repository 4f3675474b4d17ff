"""The sys/ backend: mounts, policies, capabilities, keys, leases, wrapping and internals."""
