"""Small helpers the token handlers share: sudo checks, identity look-ups, the auth block.

The identity engine is optional at this layer: it is reached through two duck-typed methods on
its backend, ``create_or_fetch_entity(alias_name=, mount_accessor=, mount_type=, metadata=)`` →
entity id, and ``entity_policies(entity_id)`` → the entity's and its groups' policy names.
Without an identity engine tokens simply carry no entity.
"""

from __future__ import annotations

from typing import Any

from ..framework import OPERATION_TEXT, Auth, Request
from ..routing.mounts import MountEntry
from ..routing.router import Router
from ..storage.tap import ForwardToPrimary
from .entry import BATCH, TokenEntry
from .host import TokenHost
from .policies import remove_duplicates


def token_mount(core: TokenHost) -> MountEntry | None:
    return core.find_mount("auth", "token/")


def is_sudo(core: TokenHost, req: Request) -> bool:
    """Vault's SudoPrivilege on the request path: root, or a policy granting ``sudo`` there."""
    if req.is_root or req.has_sudo:
        return True
    entry = req.token_entry
    if entry is None or core.policy_store is None:
        return False
    if entry.is_root():
        return True
    try:
        acl = core.acl_for(entry)
        result = acl.allow_operation(
            OPERATION_TEXT[req.operation], req.full_path, req.data, req.wrap_ttl, True
        )
    except Exception:
        return False
    return bool(getattr(result, "allowed", False) and (result.root_privs or result.is_root))


def _identity_backend(router: Router) -> Any:
    route = router.get("identity/")
    return None if route is None else route.backend


def identity_policies(core: TokenHost, entity_id: str) -> list[str]:
    """Policies the entity (and its groups) add at request time; not stored in the token."""
    return entity_policy_names(core.router, entity_id)


def entity_policy_names(router: Router, entity_id: str) -> list[str]:
    """``identity_policies`` given only the router the identity engine is mounted on."""
    if not entity_id:
        return []
    backend = _identity_backend(router)
    getter = getattr(backend, "entity_policies", None)
    if getter is None:
        return []
    try:
        names = getter(entity_id)
        return remove_duplicates(names) if names else []
    except Exception:
        return []


def entity_for_alias(
    core: TokenHost, mount: MountEntry, alias_name: str, metadata: dict[str, str] | None = None
) -> str:
    """The entity ID for an alias on ``mount``, created on first sight (Vault's CreateOrFetchEntity)."""
    backend = _identity_backend(core.router)
    maker = getattr(backend, "create_or_fetch_entity", None)
    if maker is None or not alias_name:
        return ""
    try:
        made = maker(
            alias_name=alias_name,
            mount_accessor=mount.accessor,
            mount_type=mount.type,
            metadata=metadata or {},
        )
    except ForwardToPrimary:  # a performance secondary: identity is replicated, its primary makes it
        return core.entity_on_primary(mount.accessor, alias_name, metadata or {})
    return str(made or "")


def policy_warnings(core: TokenHost, policies: list[str], warnings: list[str]) -> None:
    """``Policy "x" does not exist`` for every named policy the policy store does not know,
    added to ``warnings``."""
    store = core.policy_store
    known = getattr(store, "exists", None)
    if known is None:
        return
    for name in policies:
        if name == "root":
            continue  # built in; Vault never warns about it
        try:
            exists = known(name)
        except Exception:
            exists = True
        if not exists:
            warnings.append(f'Policy "{name}" does not exist')


def auth_block(core: TokenHost, entry: TokenEntry, *, ttl: int, renewable: bool, num_uses: int) -> Auth:
    """The ``auth`` object of create/renew/login responses for ``entry``."""
    ident = identity_policies(core, entry.entity_id)
    token_policies = list(entry.policies)
    return Auth(
        client_token=entry.id,
        accessor=entry.accessor,
        policies=remove_duplicates(token_policies + ident),
        token_policies=token_policies,
        identity_policies=ident,
        metadata=entry.meta,
        display_name=entry.display_name,
        lease_duration=ttl,
        ttl=ttl,
        renewable=renewable and entry.type != BATCH,
        entity_id=entry.entity_id,
        token_type=entry.type,
        orphan=entry.parent == "",
        num_uses=num_uses,
        creation_path=entry.path,
    )
