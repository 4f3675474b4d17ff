"""The transit secrets engine: encryption as a service, compatible with OpenBao's keys and ciphertexts.

Keys are stored in the reference's format (``policy/<name>`` and ``archive/<name>`` in the mount's
barrier-encrypted storage) so backups move between the two in both directions, and ciphertexts use
its ``vault:v<N>:<base64>`` framing. Each mount keeps its keys cached in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...framework import Backend
from . import paths_crypt, paths_keys, paths_misc, paths_sign
from .manager import KeyManager

if TYPE_CHECKING:
    from ...core.core import Core
    from ...routing.mounts import MountEntry

HELP = """
The transit backend provides key management, encryption, decryption, signing,
verification, hashing, HMAC and random bytes ("encryption as a service").
"""


def factory(core: Core | None, entry: MountEntry | None) -> Backend:
    """One backend per mount, with its own key cache."""
    manager = KeyManager()
    # The data paths first: they are the hot ones.
    paths = (
        paths_crypt.build(manager)
        + paths_keys.build(manager)
        + paths_sign.build(manager)
        + paths_misc.build(manager)
    )
    backend = Backend(paths=paths, help=HELP, backend_type="transit", kind="logical")
    backend.cleanup = manager.cache.clear
    backend.invalidate = manager.invalidate_key
    return backend
