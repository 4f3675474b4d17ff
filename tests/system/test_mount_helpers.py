"""The pure parts of the sys mount endpoints: who can reach a mount, config parsing, versions, bodies.

Expectations come from the reference (recorded in tests/compat/test_sys_compat.py runs) and from
OpenBao's hasMountAccess / handleMount / validateVersion.
"""

from __future__ import annotations

import pytest

from tessera.core.core import Core, CoreConfig
from tessera.framework import ErrorResponse
from tessera.policy.acl import ACL
from tessera.policy.parser import parse_policy
from tessera.server.app import _clean_path
from tessera.storage.inmem import InmemPhysical
from tessera.system.hostinfo import host_info
from tessera.system.lifecycle import validate_seal_config
from tessera.system.mount_acl import has_mount_access
from tessera.system.mount_tune import BUILTIN_VERSION, canonical_version
from tessera.system.mounts import parse_mount_config, sanitize_path
from tessera.system.rawhttp import decode_struct, decode_unseal_key


def acl(*texts: str) -> ACL:
    return ACL([parse_policy(text, f"p{i}") for i, text in enumerate(texts)])


DEFAULT_LIKE = """
path "auth/token/lookup-self" { capabilities = ["read"] }
path "sys/capabilities-self" { capabilities = ["update"] }
path "cubbyhole/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "identity/oidc/provider/+/authorize" { capabilities = ["read", "update"] }
"""


@pytest.mark.parametrize(
    ("texts", "mount", "visible"),
    [
        # The default policy reaches cubbyhole/, identity/ (through a + rule), sys/ and auth/token/.
        ((DEFAULT_LIKE,), "cubbyhole/", True),
        ((DEFAULT_LIKE,), "identity/", True),
        ((DEFAULT_LIKE,), "sys/", True),
        ((DEFAULT_LIKE,), "auth/token/", True),
        ((DEFAULT_LIKE,), "secret/", False),
        # A rule deep under the mount is enough.
        (('path "kv/data/team/*" { capabilities = ["read"] }',), "kv/", True),
        (('path "kv/config" { capabilities = ["read"] }',), "kv/", True),
        (('path "kvx/config" { capabilities = ["read"] }',), "kv/", False),
        # A + first segment reaches every secrets mount but not auth/<name>/.
        (('path "+/metadata/shared" { capabilities = ["list"] }',), "anything/", True),
        (('path "+/metadata/shared" { capabilities = ["list"] }',), "auth/approle/", False),
        (('path "auth/+/login" { capabilities = ["update"] }',), "auth/approle/", True),
        # Deny under the mount gives nothing; Vault's quirk: a deny glob alone still "reaches" it.
        (('path "kv/*" { capabilities = ["deny"] }', 'path "+/x" { capabilities = ["deny"] }'), "kv/", False),
        (('path "kv/*" { capabilities = ["deny"] }',), "kv/", True),
        (('path "kv/a" { capabilities = ["deny"] }',), "kv/", False),
    ],
)
def test_has_mount_access(texts: tuple[str, ...], mount: str, visible: bool) -> None:
    assert has_mount_access(acl(*texts), mount) is visible


def test_root_reaches_everything() -> None:
    assert has_mount_access(ACL([parse_policy("", "root")]), "anything/") is True


@pytest.fixture
def core() -> Core:
    return Core(InmemPhysical(), CoreConfig(max_lease_ttl=768 * 3600))


def test_parse_mount_config(core: Core) -> None:
    config, extra = parse_mount_config(
        core,
        {
            "default_lease_ttl": "1h",
            "max_lease_ttl": 7200,
            "passthrough_request_headers": "X-A, X-B",
            "allowed_response_headers": ["X-C", 5],
            "force_no_cache": True,
            "listing_visibility": "unauth",
            "token_type": "batch",
            "plugin_name": "kv",
            "unknown": {"ignored": True},
        },
        auth=True,
    )
    assert (config.default_lease_ttl, config.max_lease_ttl) == (3600, 7200)
    assert config.passthrough_request_headers == ["X-A", "X-B"]
    assert config.allowed_response_headers == ["X-C", "5"]
    assert (config.force_no_cache, config.listing_visibility, config.token_type) == (True, "unauth", "batch")
    assert extra == {"plugin_name": "kv", "plugin_version": ""}
    # Secrets mounts ignore token_type entirely, even a bad one.
    config, _ = parse_mount_config(core, {"token_type": "nonsense"}, auth=False)
    assert config.token_type == ""
    assert parse_mount_config(core, None, auth=True)[0].token_type == "default-service"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"default_lease_ttl": "2h", "max_lease_ttl": "1h"},
            "given default lease TTL greater than given max lease TTL",
        ),
        (
            {"default_lease_ttl": "2000h"},
            "given default lease TTL greater than system max lease TTL of 2764800",
        ),
        ({"default_lease_ttl": "abc"}, 'unable to parse default TTL of abc: time: invalid duration "abc"'),
        # An auth method's config: the reference names it so (sys/mounts says "mount config").
        ({"force_no_cache": "true"}, "unable to convert given auth config information"),
        ({"passthrough_request_headers": 5}, "unable to convert given auth config information"),
        ({"default_lease_ttl": True}, "unable to convert given auth config information"),
        (
            {"user_lockout_config": {"lockout_threshold": "3"}},
            "unable to convert given auth config information",
        ),
        ({"token_type": "nope"}, "invalid value for 'token_type'"),
    ],
)
def test_parse_mount_config_errors(core: Core, raw: dict[str, object], message: str) -> None:
    with pytest.raises(ErrorResponse) as exc:
        parse_mount_config(core, raw, auth=True)
    assert exc.value.message == message


def test_versions_and_paths() -> None:
    assert canonical_version("1.2") == "v1.2.0"
    assert canonical_version("v2.7.2+builtin.bao") == "v2.7.2+builtin.bao"
    assert canonical_version("5") == "v5.0.0"
    assert BUILTIN_VERSION.endswith("+builtin.tessera")
    for bad in ("", "abc", "v1.2.3.4"):
        with pytest.raises(ErrorResponse) as exc:
            canonical_version(bad)
        assert (
            exc.value.message == f'version "{bad}" is not a valid semantic version: malformed version: {bad}'
        )
    assert sanitize_path("/kv") == "kv/"
    assert sanitize_path("kv/") == "kv/"
    assert _clean_path("/v1/sys//health") == "/v1/sys/health"
    assert _clean_path("/v1/sys/./x/../health/") == "/v1/sys/health/"
    assert _clean_path("//x") == "/x"


def test_strict_bodies() -> None:
    fields = {"key": str, "reset": bool}
    assert decode_struct(b"", "UnsealRequest", fields) == {"key": "", "reset": False}
    assert decode_struct(b'{"KEY": "ab", "reset": null, "x": 1}', "UnsealRequest", fields)["key"] == "ab"
    cases = {
        b"[1]": "json: cannot unmarshal array into Go value of type http.UnsealRequest",
        b'{"key": 5}': "json: cannot unmarshal number into Go struct field UnsealRequest.key of type string",
        b'{"reset": "yes"}': "json: cannot unmarshal string into Go struct field UnsealRequest.reset of type bool",
        b'{"key":': "unexpected EOF",
    }
    for raw, text in cases.items():
        with pytest.raises(ErrorResponse) as exc:
            decode_struct(raw, "UnsealRequest", fields)
        assert exc.value.message == "failed to decode JSON input: " + text
    with pytest.raises(ErrorResponse) as exc:
        decode_struct(b'{"secret_shares": 1.5}', "InitRequest", {"secret_shares": int})
    assert exc.value.message.endswith(
        "cannot unmarshal number 1.5 into Go struct field InitRequest.secret_shares of type int"
    )


def test_seal_config_and_keys() -> None:
    for shares, threshold, problem in (
        (0, 0, "shares must be at least one"),
        (1, 0, "threshold must be at least one"),
        (3, 1, "threshold must be greater than one for multiple shares"),
        (300, 2, "shares must be less than 256"),
        (2, 3, "threshold cannot be larger than shares"),
    ):
        with pytest.raises(ErrorResponse) as exc:
            validate_seal_config(shares, threshold)
        assert exc.value.message == f"invalid seal configuration: {problem}"
    validate_seal_config(5, 3)
    assert decode_unseal_key("ab" * 32) == bytes([0xAB]) * 32
    # Valid hex of an implausible length is read as base64 instead, as Vault does.
    assert decode_unseal_key("abcd") == bytes.fromhex("69b71d")
    with pytest.raises(ErrorResponse):
        decode_unseal_key("bad")


def test_host_info_shape() -> None:
    info = host_info()
    assert set(info) == {"cpu", "cpu_times", "disk", "host", "memory", "timestamp"}
    assert info["memory"]["total"] > 0 and info["host"]["hostname"]
    assert all(not isinstance(v, float) or not v.is_integer() for v in info["cpu_times"][0].values())
