"""ACL policies: parsing (HCL/JSON, Vault's exact errors), the compiled ACL and the policy store.

Typical use: ``core.policy_store.acl(token_policy_names, entity).allow_operation(op, path, data,
wrap_ttl, needs_sudo)`` for every request, ``acl.capabilities(path)`` for sys/capabilities*.
"""

from .acl import ACL, ACLResult
from .parser import PathRules, Policy, PolicyParseError, TemplateInput, parse_policy
from .store import DEFAULT_POLICY, RESPONSE_WRAPPING_POLICY, PolicyStore, PolicyStoreError, StoredPolicy

__all__ = [
    "ACL",
    "DEFAULT_POLICY",
    "RESPONSE_WRAPPING_POLICY",
    "ACLResult",
    "PathRules",
    "Policy",
    "PolicyParseError",
    "PolicyStore",
    "PolicyStoreError",
    "StoredPolicy",
    "TemplateInput",
    "parse_policy",
]
