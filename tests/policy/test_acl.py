"""Matching, priority, merging and the checks after a rule is chosen (spec §2.2–2.5)."""

from __future__ import annotations

import time

import pytest

from tessera.policy.acl import ACL, glob_match, value_in_list
from tessera.policy.parser import Policy, parse_policy


def acl(*texts: str) -> ACL:
    return ACL([parse_policy(t, f"p{i}") for i, t in enumerate(texts)])


def caps(pattern: str, *names: str, extra: str = "") -> str:
    listed = ", ".join(f'"{n}"' for n in names)
    return f'path "{pattern}" {{\n capabilities = [{listed}]\n{extra}}}\n'


def test_exact_beats_glob_and_rules_are_not_unioned() -> None:
    a = acl(
        caps("secret/data/glob*", "read", "list") + caps("secret/data/glob*", "create"),
        caps("secret/data/glob/x", "update"),
    )
    assert a.capabilities("secret/data/glob/x") == ["update"]
    assert a.capabilities("secret/data/glob/y") == ["create", "list", "read"]
    assert not a.allow_operation("read", "secret/data/glob/x").allowed
    assert a.allow_operation("update", "/secret/data/glob/x").allowed


def test_segment_wildcards_and_priority() -> None:
    a = acl(caps("secret/data/+/seg", "create", "update") + caps("secret/data/+/se*", "delete"))
    assert a.capabilities("secret/data/a/seg") == ["create", "update"]
    assert a.capabilities("secret/data/a/seg2") == ["delete"]
    assert a.capabilities("secret/data/a/b/seg") == ["deny"]
    b = acl(
        caps("k/+/b/c", "read")
        + caps("k/a/+/c", "update")
        + caps("k/a/b/*", "delete")
        + caps("k/+/+/c", "create")
    )
    assert b.capabilities("k/a/b/c") == ["delete"]  # the glob starts latest
    assert b.capabilities("k/a/x/c") == ["update"]
    assert b.capabilities("k/x/b/c") == ["read"]
    assert b.capabilities("k/x/y/c") == ["create"]
    c = acl(caps("k/+/b", "read") + caps("k/+/b*", "update"))
    assert c.capabilities("k/a/b") == ["read"]  # non-prefix beats prefix
    assert c.capabilities("k/a/bc") == ["update"]


def test_list_uses_the_exact_rule_without_slash() -> None:
    a = acl(caps("sys/leases/lookup", "update"), caps("sys/leases/lookup/*", "list", "sudo"))
    assert a.capabilities("sys/leases/lookup/") == ["update"]
    assert not a.allow_operation("list", "sys/leases/lookup/", {}, 0, True).allowed
    assert a.allow_operation("list", "sys/leases/lookup/pki/", {}, 0, True).allowed
    b = acl(caps("secret/metadata/*", "list") + caps("kv/+/dir", "list"))
    assert b.capabilities("secret/metadata/") == ["list"]
    assert b.capabilities("secret/metadata") == ["deny"]
    assert b.allow_operation("list", "kv/a/dir/").allowed  # retried without the slash
    assert not b.allow_operation("read", "kv/a/dir/").allowed


def test_deny_wipes_same_pattern_in_any_order() -> None:
    assert acl(caps("x", "read"), caps("x", "deny")).capabilities("x") == ["deny"]
    assert acl(caps("x", "deny"), caps("x", "read")).capabilities("x") == ["deny"]
    assert acl(caps("x*", "read"), caps("x*", "deny"), caps("xy", "list")).capabilities("xy") == ["list"]


def test_parameters() -> None:
    extra = ' allowed_parameters = { "a" = ["x", "y*"], "*" = [] }\n denied_parameters = { "b" = ["bad"] }\n required_parameters = ["a"]\n'
    a = acl(caps("kv/params", "create", "read", "update", extra=extra))
    allowed = [{"a": "x", "z": 1}, {"a": "yes", "z": 1}, {"a": "x", "b": "good"}]
    denied = [{"a": "nope"}, {"z": 1}, {"a": "x", "b": "bad"}, {"A": "x"}, {}]
    for data in allowed:
        assert a.allow_operation("create", "kv/params", data).allowed, data
    for data in denied:
        assert not a.allow_operation("create", "kv/params", data).allowed, data
    assert not a.allow_operation("read", "kv/params", {}).allowed
    assert a.allow_operation("read", "kv/params", {"a": "x"}).allowed


def test_parameter_value_semantics() -> None:
    assert glob_match("*", "*") and not glob_match("*", "anything")
    assert glob_match("*es*", "yes!") and glob_match("pre*", "prefix") and glob_match("*fix", "prefix")
    assert value_in_list(["x"], [["x"]]) and value_in_list(True, [True]) and not value_in_list(1, [1])
    assert not value_in_list("1", [1]) and not value_in_list(2.5, [2.5]) and value_in_list(7, [])
    assert not value_in_list(None, ["x"]) and value_in_list({"k": "v"}, [{"k": "v"}])


def test_parameter_merge_across_policies() -> None:
    a = acl(
        caps("kv/*", "create", extra=' allowed_parameters = { "a" = ["x"], "c" = [] }\n'),
        caps(
            "kv/*",
            "update",
            extra=' allowed_parameters = { "a" = ["y"], "c" = ["only"] }\n denied_parameters = { "d" = [] }\n',
        ),
    )
    assert a.allow_operation("create", "kv/1", {"a": "x"}).allowed
    assert a.allow_operation("update", "kv/1", {"a": "y"}).allowed
    assert a.allow_operation("create", "kv/1", {"c": "anything"}).allowed
    assert not a.allow_operation("create", "kv/1", {"d": "1"}).allowed


def test_wrapping_ttls_and_their_merge() -> None:
    a = acl(caps("w/*", "read", extra=' min_wrapping_ttl = "1m"\n max_wrapping_ttl = "10m"\n'))
    assert [a.allow_operation("read", "w/k", None, ttl).allowed for ttl in (0, 30, 60, 300, 600, 601)] == [
        False,
        False,
        True,
        True,
        True,
        False,
    ]
    b = acl(
        caps("w/*", "read", extra=' min_wrapping_ttl = "2m"\n max_wrapping_ttl = "10m"\n'),
        caps("w/*", "list", extra=" min_wrapping_ttl = 60\n max_wrapping_ttl = 300\n"),
    )
    assert [b.allow_operation("read", "w/k", None, ttl).allowed for ttl in (30, 90, 360)] == [
        False,
        True,
        False,
    ]


def test_sudo_help_internal_operations_and_root() -> None:
    a = acl(caps("sys/auth/*", "create", "update"), caps("sys/seal", "update", "sudo"))
    assert a.allow_operation("update", "sys/auth/x").allowed
    assert not a.allow_operation("update", "sys/auth/x", None, 0, True).allowed
    result = a.allow_operation("update", "sys/seal", None, 0, True)
    assert (
        result.allowed
        and result.root_privs
        and not result.is_root
        and result.capabilities == {"update", "sudo"}
    )
    assert (
        a.allow_operation("renew", "sys/seal").allowed and a.allow_operation("revoke", "sys/auth/y").allowed
    )
    assert a.allow_operation("help", "nowhere").allowed and not a.allow_operation("read", "nowhere").allowed
    root = ACL([Policy(name="root")])
    assert root.is_root and root.capabilities("x") == ["root"]
    assert root.allow_operation("delete", "sys/seal", None, 0, True).is_root
    with pytest.raises(ValueError, match="other policies present along with root"):
        ACL([Policy(name="root"), Policy(name="x")])


def test_pagination_limit_rewrites_limit() -> None:
    a = acl(caps("l/*", "list", extra=" pagination_limit = 10\n"), caps("n/*", "list"))
    for given, allowed, after in [
        (None, True, "10"),
        ("5", True, "5"),
        ("20", False, "20"),
        ("0", True, "10"),
        ("max", True, "10"),
        ("abc", False, "abc"),
        ("-1", False, "-1"),
    ]:
        data = {} if given is None else {"limit": given}
        assert a.allow_operation("list", "l/", data).allowed is allowed
        assert data.get("limit") == after
    data = {"limit": "max"}
    assert a.allow_operation("list", "n/", data).allowed and data == {"limit": "0"}


def test_path_expiration_and_valid_until() -> None:
    soon = time.time() + 60
    policy = parse_policy(caps("a", "read", extra=f" expiration = {int(soon)}\n") + caps("b", "read"))
    a = ACL([policy])
    assert a.capabilities("a") == ["read"] and a.valid_until == int(soon)
    assert ACL([policy], now=soon + 1).capabilities("a") == ["deny"]


def test_rule_capabilities_for_mount_access() -> None:
    exact, prefix, segment = acl(
        caps("a/b", "read") + caps("c/*", "deny") + caps("d/+/e*", "list")
    ).rule_capabilities()
    assert exact == {"a/b": {"read"}} and prefix == {"c/": {"deny"}} and segment == {"d/+/e*": {"list"}}


def test_the_result_names_the_policies_that_granted_it() -> None:
    a = acl(
        caps("kv/data/*", "read"),
        caps("kv/data/*", "update") + caps("kv/data/*", "read"),
        caps("kv/data/x", "read"),
        caps("kv/*", "read", "update"),
    )
    wide = a.allow_operation("read", "kv/data/y")
    assert wide.allowed and wide.granting_policies("read") == ["p0", "p1"]
    assert a.allow_operation("update", "kv/data/y").granting_policies("update") == ["p1"]
    assert a.allow_operation("read", "kv/data/x").granting_policies("read") == ["p2"]
    assert a.allow_operation("delete", "kv/data/y").granting_policies("delete") == []
    root = ACL([Policy(name="root")])
    assert root.allow_operation("read", "anything").granting_policies("read") == ["root"]
