"""Inputs of the ACL corpus: hand-written ACL scenarios (policy texts for the parser are in
``acl_parse_cases.py``).

``record_acl_corpus.py`` sends these (plus generated ones) to the reference server and stores the
answers in ``data/acl_corpus.json``; ``test_acl_corpus.py`` replays them offline.
"""

from __future__ import annotations

from typing import Any


def _block(pattern: str, body: str) -> str:
    return f'path "{pattern}" {{\n  {body}\n}}\n'


def _caps(pattern: str, *caps: str) -> str:
    listed = ", ".join(f'"{c}"' for c in caps)
    return _block(pattern, f"capabilities = [{listed}]")


# Hand-written scenarios. ``policies`` are written with these names; the token gets ``token``
# (default: the policy names) and no default policy unless listed. ``caps`` are asked through
# sys/capabilities; ``requests`` are really sent with the token (KV v1 mounted at ``kvc/``):
# ``setup`` keys are written first by root so that a write to them is an update, not a create.
HAND_SCENARIOS: list[dict[str, Any]] = [
    {
        "id": "glob-vs-exact",
        "policies": {
            "pa": _caps("secret/data/glob*", "read", "list") + _caps("kvc/glob*", "read", "list"),
            "pb": _caps("secret/data/glob*", "create")
            + _caps("secret/data/glob/x", "update")
            + _caps("kvc/glob*", "create")
            + _caps("kvc/glob/x", "update"),
        },
        "caps": [
            "secret/data/glob/x",
            "secret/data/glob/y",
            "secret/data/glob",
            "secret/data/globby/z",
            "secret/data/glo",
            "secret/data/glob/x/",
            "/secret/data/glob/x",
        ],
        "requests": [
            {"method": "GET", "path": "kvc/glob/x"},
            {"method": "GET", "path": "kvc/glob/y"},
            {"method": "LIST", "path": "kvc/glob/"},
            {"method": "LIST", "path": "kvc/glob/x/"},
            {"method": "POST", "path": "kvc/glob/new1", "json": {"a": "b"}},
        ],
    },
    {
        "id": "segment-wildcards",
        "policies": {
            "pa": _caps("kvc/+/seg", "create", "update") + _caps("kvc/+/se*", "delete"),
        },
        "caps": [
            "kvc/a/seg",
            "kvc/a/seg2",
            "kvc/a/b/seg",
            "kvc/a/se",
            "kvc/a/s",
            "kvc//seg",
            "kvc/a/seg/",
            "kvc/a/seg/x",
            "kvc/seg",
        ],
        "requests": [
            {"method": "DELETE", "path": "kvc/a/seg2"},
            {"method": "DELETE", "path": "kvc/a/seg"},
            {"method": "GET", "path": "kvc/a/seg"},
            {"method": "POST", "path": "kvc/a/seg", "json": {"x": "y"}},
        ],
    },
    {
        "id": "metadata-list",
        "policies": {"pa": _caps("secret/metadata/*", "list") + _caps("kvc/md/*", "list")},
        "caps": ["secret/metadata/", "secret/metadata/foo/", "secret/metadata", "secret/metadata/foo"],
        "requests": [
            {"method": "LIST", "path": "kvc/md/"},
            {"method": "LIST", "path": "kvc/md/sub/"},
            {"method": "LIST", "path": "kvc/md"},
            {"method": "GET", "path": "kvc/md/x"},
        ],
    },
    {
        "id": "deny-merge",
        "policies": {
            "pa": _caps("secret/data/exact", "read")
            + _caps("kvc/dm/*", "read", "list")
            + _caps("kvc/dm2/x", "deny"),
            "pb": _caps("secret/data/exact", "deny")
            + _caps("kvc/dm/*", "deny")
            + _caps("kvc/dm2/x", "read", "update"),
            "pc": _caps("secret/data/exact", "update"),
        },
        "caps": ["secret/data/exact", "kvc/dm/a", "kvc/dm2/x", "kvc/dm2/y"],
        "requests": [{"method": "GET", "path": "kvc/dm/a"}, {"method": "GET", "path": "kvc/dm2/x"}],
    },
    {
        "id": "default-policy-and-lease-listing",
        "policies": {"leases": _caps("sys/leases/lookup/*", "list", "sudo")},
        "token": ["default", "leases"],
        "caps": [
            "sys/leases/lookup/",
            "sys/leases/lookup",
            "sys/leases/lookup/pki/",
            "cubbyhole/x",
            "cubbyhole/",
            "cubbyhole",
            "auth/token/lookup-self",
            "sys/tools/hash/sha2-256",
            "sys/tools/hash",
            "identity/oidc/provider/p1/authorize",
            "identity/oidc/provider/p1/p2/authorize",
            "identity/entity/id/abc",
            "sys/capabilities-self",
            "sys/wrapping/wrap",
            "secret/data/x",
        ],
        "requests": [
            {"method": "LIST", "path": "sys/leases/lookup/", "sudo": True},
            {"method": "LIST", "path": "sys/leases/lookup/pki/", "sudo": True},
        ],
    },
    {
        "id": "parameters-spec-example",
        "policies": {
            "pa": _block(
                "kvc/params*",
                'capabilities = ["create", "read", "update"]\n'
                '  allowed_parameters = { "a" = ["x", "y*"], "*" = [] }\n'
                '  denied_parameters = { "b" = ["bad"] }\n'
                '  required_parameters = ["a"]',
            )
        },
        "requests": [
            {"method": "POST", "path": "kvc/params1", "json": {"a": "x", "z": 1}},
            {"method": "POST", "path": "kvc/params2", "json": {"a": "yes", "z": 1}},
            {"method": "POST", "path": "kvc/params3", "json": {"a": "nope"}},
            {"method": "POST", "path": "kvc/params4", "json": {"z": 1}},
            {"method": "POST", "path": "kvc/params5", "json": {"a": "x", "b": "bad"}},
            {"method": "POST", "path": "kvc/params6", "json": {"a": "x", "b": "good"}},
            {"method": "POST", "path": "kvc/params7", "json": {"A": "x"}},
            {"method": "POST", "path": "kvc/params8", "json": {}},
            {"method": "GET", "path": "kvc/params1"},
            {"method": "GET", "path": "kvc/params1", "params": {"a": "x"}},
            {"method": "GET", "path": "kvc/params1", "params": {"a": "zz"}},
            {"method": "DELETE", "path": "kvc/params1"},
        ],
    },
    {
        "id": "wrapping-ttls",
        "policies": {
            "pa": _block(
                "kvc/wrapped/*",
                'capabilities = ["read", "create", "update"]\n'
                '  min_wrapping_ttl = "1m"\n  max_wrapping_ttl = "10m"',
            )
        },
        "setup": [["kvc/wrapped/k", {"v": "1"}]],
        "requests": [
            {"method": "GET", "path": "kvc/wrapped/k"},
            {"method": "GET", "path": "kvc/wrapped/k", "wrap": "30s"},
            {"method": "GET", "path": "kvc/wrapped/k", "wrap": "5m"},
            {"method": "GET", "path": "kvc/wrapped/k", "wrap": "60"},
            {"method": "GET", "path": "kvc/wrapped/k", "wrap": "10m"},
            {"method": "GET", "path": "kvc/wrapped/k", "wrap": "601"},
            {"method": "POST", "path": "kvc/wrapped/k", "json": {"v": "2"}, "wrap": "2m"},
        ],
    },
    {
        "id": "old-style-policies",
        "policies": {
            "pa": _block("kvc/os/r/*", 'policy = "read"')
            + _block("kvc/os/w/*", 'policy = "write"')
            + _block("kvc/os/s/*", 'policy = "sudo"')
            + _block("kvc/os/d/*", 'policy = "deny"')
            + _block("kvc/os/m/*", 'policy = "read"\n  capabilities = ["update"]')
            + _block("kvc/os/n/*", 'policy = "deny"\n  capabilities = ["update"]'),
        },
        "caps": ["kvc/os/r/x", "kvc/os/w/x", "kvc/os/s/x", "kvc/os/d/x", "kvc/os/m/x", "kvc/os/n/x"],
        "requests": [
            {"method": "GET", "path": "kvc/os/r/x"},
            {"method": "POST", "path": "kvc/os/r/x", "json": {"a": "b"}},
            {"method": "POST", "path": "kvc/os/w/x", "json": {"a": "b"}},
            {"method": "GET", "path": "kvc/os/d/x"},
        ],
    },
    {
        "id": "sudo-paths",
        "policies": {
            "nosudo": _caps("sys/leases/revoke-prefix/*", "update"),
            "withsudo": _caps("sys/leases/revoke-prefix/sudo*", "update", "sudo"),
        },
        "caps": ["sys/leases/revoke-prefix/none", "sys/leases/revoke-prefix/sudo1"],
        "requests": [
            {"method": "PUT", "path": "sys/leases/revoke-prefix/none", "json": {"sync": True}, "sudo": True},
            {"method": "PUT", "path": "sys/leases/revoke-prefix/sudo1", "json": {"sync": True}, "sudo": True},
        ],
    },
    {
        "id": "value-types",
        "policies": {
            "pa": _block(
                "kvc/vt/*",
                'capabilities = ["create", "update", "read"]\n'
                '  allowed_parameters = { "n" = [1], "t" = [true], "s" = ["*"], "g" = ["*es*"],'
                ' "l" = [["x"]], "f" = [2.5], "e" = [""], "p" = ["pre*"], "q" = ["*post"] }',
            )
        },
        "requests": [
            {"method": "POST", "path": "kvc/vt/1", "json": {"n": 1}},
            {"method": "POST", "path": "kvc/vt/2", "json": {"n": "1"}},
            {"method": "POST", "path": "kvc/vt/3", "json": {"t": True}},
            {"method": "POST", "path": "kvc/vt/4", "json": {"t": "true"}},
            {"method": "POST", "path": "kvc/vt/5", "json": {"s": "anything"}},
            {"method": "POST", "path": "kvc/vt/6", "json": {"s": "*"}},
            {"method": "POST", "path": "kvc/vt/7", "json": {"g": "yes"}},
            {"method": "POST", "path": "kvc/vt/8", "json": {"g": "no"}},
            {"method": "POST", "path": "kvc/vt/9", "json": {"l": ["x"]}},
            {"method": "POST", "path": "kvc/vt/10", "json": {"l": "x"}},
            {"method": "POST", "path": "kvc/vt/11", "json": {"f": 2.5}},
            {"method": "POST", "path": "kvc/vt/12", "json": {"e": ""}},
            {"method": "POST", "path": "kvc/vt/13", "json": {"e": "x"}},
            {"method": "POST", "path": "kvc/vt/14", "json": {"p": "prefix"}},
            {"method": "POST", "path": "kvc/vt/15", "json": {"p": "xpre"}},
            {"method": "POST", "path": "kvc/vt/16", "json": {"q": "thepost"}},
            {"method": "POST", "path": "kvc/vt/17", "json": {"q": "postx"}},
            {"method": "POST", "path": "kvc/vt/18", "json": {"n": None}},
            {"method": "POST", "path": "kvc/vt/19", "json": {"t": False}},
            {"method": "GET", "path": "kvc/vt/1", "params": {"n": "1"}},
        ],
    },
    {
        "id": "denied-everything",
        "policies": {
            "pa": _block(
                "kvc/dn/*",
                'capabilities = ["create", "update", "read"]\n  denied_parameters = { "*" = [] }',
            )
            + _block(
                "kvc/dv/*",
                'capabilities = ["create", "update"]\n  denied_parameters = { "Foo" = ["x*"], "bar" = [] }',
            ),
        },
        "requests": [
            {"method": "POST", "path": "kvc/dn/1", "json": {"a": "b"}},
            {"method": "POST", "path": "kvc/dn/2", "json": {}},
            {"method": "GET", "path": "kvc/dn/1"},
            {"method": "GET", "path": "kvc/dn/1", "params": {"a": "b"}},
            {"method": "POST", "path": "kvc/dv/1", "json": {"FOO": "xy"}},
            {"method": "POST", "path": "kvc/dv/2", "json": {"foo": "yx"}},
            {"method": "POST", "path": "kvc/dv/3", "json": {"Bar": 7}},
            {"method": "POST", "path": "kvc/dv/4", "json": {"baz": 7}},
        ],
    },
    {
        "id": "required-and-case",
        "policies": {
            "pa": _block(
                "kvc/rq/*",
                'capabilities = ["create", "update", "read", "list", "delete"]\n'
                '  required_parameters = ["A", "b"]\n  allowed_parameters = { "Foo" = [] , "a" = [], "b" = []}',
            )
        },
        "requests": [
            {"method": "POST", "path": "kvc/rq/1", "json": {"a": 1, "b": 2}},
            {"method": "POST", "path": "kvc/rq/2", "json": {"A": 1, "b": 2}},
            {"method": "POST", "path": "kvc/rq/3", "json": {"a": 1, "b": 2, "FOO": "x"}},
            {"method": "POST", "path": "kvc/rq/4", "json": {"a": 1, "b": 2, "other": "x"}},
            {"method": "GET", "path": "kvc/rq/1", "params": {"a": "1", "b": "2"}},
            {"method": "GET", "path": "kvc/rq/1", "params": {"a": "1"}},
            {"method": "LIST", "path": "kvc/rq/"},
            {"method": "DELETE", "path": "kvc/rq/1"},
        ],
    },
    {
        "id": "expiring-blocks",
        "policies": {
            "pa": _block("kvc/exp/old", 'capabilities = ["read"]\n  expiration = "2020-01-01T00:00:00Z"')
            + _block("kvc/exp/new", 'capabilities = ["read"]\n  expiration = "2999-01-01T00:00:00Z"')
            + _block("kvc/exp/epoch", 'capabilities = ["read"]\n  expiration = 32503680000')
            + _block("kvc/exp/*", 'capabilities = ["list"]'),
        },
        "caps": ["kvc/exp/old", "kvc/exp/new", "kvc/exp/epoch", "kvc/exp/other"],
    },
    {
        "id": "pattern-oddities",
        "policies": {
            "pa": _caps("/kvc/lead", "read")
            + _caps("kvc/tr/", "read", "list")
            + _caps("kvc/+x/y", "update")
            + _caps("kvc/a+/b", "delete")
            + _caps("kvc/star/*", "read")
            + _caps("kvc/star/*/deeper", "update"),
            "pb": _caps("+", "patch") + _caps("+/+", "scan") + _caps("zz*", "create"),
        },
        "caps": [
            "kvc/lead",
            "/kvc/lead",
            "kvc/tr/",
            "kvc/tr",
            "kvc/+x/y",
            "kvc/zx/y",
            "kvc/a+/b",
            "kvc/star/x",
            "kvc/star/*/deeper",
            "kvc/star/x/deeper",
            "anything",
            "any/thing",
            "any/thing/else",
            "zz",
            "zzz/y",
        ],
    },
    {
        "id": "list-slash-rules",
        "policies": {
            "pa": _caps("kvc/dir", "list")
            + _caps("kvc/dir2/", "list")
            + _caps("kvc/dir3*", "list")
            + _caps("kvc/+/dir4", "list")
            + _caps("kvc/dir5", "read")
            + _caps("kvc/dir5/*", "list"),
        },
        "caps": ["kvc/dir/", "kvc/dir", "kvc/dir2", "kvc/dir3/", "kvc/x/dir4/", "kvc/x/dir4", "kvc/dir5/"],
        "requests": [
            {"method": "LIST", "path": "kvc/dir/"},
            {"method": "LIST", "path": "kvc/dir2/"},
            {"method": "LIST", "path": "kvc/dir3/"},
            {"method": "LIST", "path": "kvc/x/dir4/"},
            {"method": "LIST", "path": "kvc/dir5/"},
            {"method": "GET", "path": "kvc/dir"},
        ],
    },
    {
        "id": "wildcard-priority",
        "policies": {
            "pa": _caps("kvc/+/b/c", "read")
            + _caps("kvc/a/+/c", "update")
            + _caps("kvc/a/b/*", "delete")
            + _caps("kvc/a/*", "list")
            + _caps("kvc/+/+/c", "create")
            + _caps("kvc/a/b/c*", "patch")
            + _caps("kvc/a/+/c*", "scan")
            + _caps("kvc/+/+/+/d", "sudo"),
        },
        "caps": [
            "kvc/a/b/c",
            "kvc/a/x/c",
            "kvc/x/b/c",
            "kvc/x/y/c",
            "kvc/a/b/cd",
            "kvc/a/x/cd",
            "kvc/a/b/x",
            "kvc/a/x/y",
            "kvc/a/b/c/d",
            "kvc/x/y/z/d",
            "kvc/a/b/",
        ],
        "requests": [
            {"method": "GET", "path": "kvc/x/b/c"},
            {"method": "GET", "path": "kvc/a/b/c"},
            {"method": "LIST", "path": "kvc/a/x/"},
        ],
    },
    {
        "id": "parameter-merge",
        "policies": {
            "pa": _block(
                "kvc/pm/*",
                'capabilities = ["create"]\n  allowed_parameters = { "a" = ["x"], "c" = [] , "d" = ["1"]}',
            ),
            "pb": _block(
                "kvc/pm/*",
                'capabilities = ["update"]\n  allowed_parameters = { "a" = ["y"], "c" = ["only"], "e" = [] }\n'
                '  denied_parameters = { "d" = ["1"] }',
            ),
        },
        "requests": [
            {"method": "POST", "path": "kvc/pm/1", "json": {"a": "x"}},
            {"method": "POST", "path": "kvc/pm/2", "json": {"a": "y"}},
            {"method": "POST", "path": "kvc/pm/3", "json": {"a": "z"}},
            {"method": "POST", "path": "kvc/pm/4", "json": {"c": "anything"}},
            {"method": "POST", "path": "kvc/pm/5", "json": {"d": "1"}},
            {"method": "POST", "path": "kvc/pm/6", "json": {"e": "q"}},
            {"method": "POST", "path": "kvc/pm/7", "json": {"f": "q"}},
        ],
    },
    {
        "id": "wrapping-merge",
        "policies": {
            "pa": _block(
                "kvc/wm/*", 'capabilities = ["read"]\n  max_wrapping_ttl = "10m"\n  min_wrapping_ttl = "2m"'
            ),
            "pb": _block(
                "kvc/wm/*", 'capabilities = ["list"]\n  max_wrapping_ttl = 300\n  min_wrapping_ttl = 60'
            ),
        },
        "setup": [["kvc/wm/k", {"v": "1"}]],
        "requests": [
            {"method": "GET", "path": "kvc/wm/k", "wrap": "90s"},
            {"method": "GET", "path": "kvc/wm/k", "wrap": "6m"},
            {"method": "GET", "path": "kvc/wm/k", "wrap": "30s"},
            {"method": "GET", "path": "kvc/wm/k"},
        ],
    },
    {
        "id": "create-versus-update",
        "policies": {"pa": _caps("kvc/cu/*", "create", "read"), "pb": _caps("kvc/uo/*", "update")},
        "setup": [["kvc/cu/existing", {"v": "1"}], ["kvc/uo/existing", {"v": "1"}]],
        "requests": [
            {"method": "POST", "path": "kvc/cu/new", "json": {"v": "1"}},
            {"method": "POST", "path": "kvc/cu/existing", "json": {"v": "2"}},
            {"method": "POST", "path": "kvc/uo/new", "json": {"v": "1"}},
            {"method": "POST", "path": "kvc/uo/existing", "json": {"v": "2"}},
        ],
    },
    {
        "id": "patch-and-scan",
        "policies": {"pa": _caps("kvc/ps/*", "patch", "scan", "read") + _caps("kvc/np/*", "read")},
        "caps": ["kvc/ps/x", "kvc/np/x"],
        "requests": [
            {"method": "PATCH", "path": "kvc/ps/x", "json": {"a": "b"}},
            {"method": "PATCH", "path": "kvc/np/x", "json": {"a": "b"}},
        ],
    },
    {
        "id": "root-token",
        "policies": {},
        "token": ["root"],
        "caps": ["kvc/x", "sys/seal", "anything/at/all/"],
        "requests": [{"method": "GET", "path": "kvc/anything"}],
    },
    {
        "id": "pagination-limit",
        "policies": {
            "pa": _block("kvc/pg/*", 'capabilities = ["list"]\n  pagination_limit = 10')
            + _block(
                "kvc/pr/*",
                'capabilities = ["list"]\n  pagination_limit = 10\n  required_parameters = ["limit"]',
            ),
        },
        "requests": [
            {"method": "LIST", "path": "kvc/pg/"},
            {"method": "LIST", "path": "kvc/pg/", "params": {"limit": "5"}},
            {"method": "LIST", "path": "kvc/pg/", "params": {"limit": "20"}},
            {"method": "LIST", "path": "kvc/pg/", "params": {"limit": "-1"}},
            {"method": "LIST", "path": "kvc/pg/", "params": {"limit": "max"}},
            {"method": "LIST", "path": "kvc/pg/", "params": {"limit": "abc"}},
            {"method": "LIST", "path": "kvc/pg/", "params": {"limit": "0"}},
            {"method": "LIST", "path": "kvc/pr/"},
            {"method": "LIST", "path": "kvc/pr/", "params": {"limit": "3"}},
        ],
    },
    {
        "id": "json-policy",
        "policies": {
            "pa": '{"path": {"kvc/js/*": {"capabilities": ["read", "list"]}, '
            '"kvc/js/secret": {"capabilities": ["deny"]}}}',
            "pb": '{"path": [{"kvc/js2/*": {"policy": "write"}}, {"kvc/js3/+": {"capabilities": ["update"],'
            ' "allowed_parameters": {"a": ["x", "y"]}}}]}',
        },
        "caps": ["kvc/js/a", "kvc/js/secret", "kvc/js2/a", "kvc/js3/a", "kvc/js3/a/b"],
        "requests": [
            {"method": "POST", "path": "kvc/js3/a", "json": {"a": "y"}},
            {"method": "POST", "path": "kvc/js3/b", "json": {"a": "z"}},
        ],
    },
    {
        "id": "deny-with-other-capabilities",
        "policies": {
            "pa": _caps("kvc/dw/a", "read", "deny", "list")
            + _caps("kvc/dw/b", "deny", "bogus")
            + _block("kvc/dw/c", 'capabilities = ["deny"]\n  max_wrapping_ttl = "abc"'),
            "pb": _caps("kvc/dw/a", "update") + _caps("kvc/dw/b", "read") + _caps("kvc/dw/c", "read"),
        },
        "caps": ["kvc/dw/a", "kvc/dw/b", "kvc/dw/c"],
    },
    {
        "id": "missing-policies-are-skipped",
        "policies": {"pa": _caps("kvc/ms/*", "read")},
        "token": ["pa", "does-not-exist"],
        "caps": ["kvc/ms/x", "kvc/other"],
    },
]
