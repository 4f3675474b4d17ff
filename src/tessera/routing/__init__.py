"""Mount entries and the router that maps a request path to its mount's backend and storage view.

They sit just above framework so tokens/, leases/ and audit/ can name mounts and routes without
importing core/, which builds the mount tables at unseal.
"""
