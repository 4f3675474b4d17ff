"""The cryptography between storage and everything above it.

``aes_gcm`` is the security barrier (keyring with terms, AES-256-GCM, read cache); ``keyed_hash``
is the fixed-key HMAC that salts token IDs. They sit just above framework (the barrier raises its
SealedError and counts its metrics), so tokens/ and leases/ may use them without importing core/.
"""
