"""Record the reference server's ACL answers into ``tests/compat/data/acl_corpus.json``.

Run from the repository root (it starts its own OpenBao dev server unless ``--addr`` is given)::

    python -m tests.compat.record_acl_corpus [--addr http://127.0.0.1:8200] [--seed 7]

Each scenario writes its policies, creates a token with exactly those policies, asks
``sys/capabilities`` about paths and sends real requests with the token to a KV v1 mount
(``kvc/``): 403 means the ACL denied, anything else that it allowed. The operation each request
became (``create`` or ``update`` for a write) is decided from whether the key existed.
``test_acl_corpus.py`` replays everything offline against Tessera's ACL engine.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from tessera.gocompat.durations import parse_duration_second  # noqa: E402
from tessera.policy.store import DEFAULT_POLICY  # noqa: E402
from tests.compat.acl_corpus_cases import HAND_SCENARIOS  # noqa: E402
from tests.compat.acl_parse_cases import PARSE_CASES  # noqa: E402
from tests.helpers.http import call  # noqa: E402

OUT = Path(__file__).parent / "data" / "acl_corpus.json"
MOUNT = "kvc"
_METHOD_OPS = {"GET": "read", "LIST": "list", "DELETE": "delete", "PATCH": "patch"}

# -- generated scenarios ----------------------------------------------------------------------

SEGMENTS = ["a", "b", "ab", "abc", "x"]
CAPS = ["create", "read", "update", "patch", "delete", "list", "sudo", "scan"]
VALUES: list[Any] = ["x", "y", "yes", "bad", "good", "", 1, 2.5, True, False, ["x"], ["x", "y"], {"k": "v"}]
POLICY_VALUES: list[Any] = ["x", "y*", "*es", "*", "*o*", "bad", "", 1, True, ["x"]]
PARAM_KEYS = ["a", "b", "c", "A", "z"]


def hcl_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(hcl_value(v) for v in value) + "]"
    return json.dumps(value)


def hcl_map(mapping: dict[str, list[Any]]) -> str:
    return "{ " + ", ".join(f"{json.dumps(k)} = {hcl_value(v)}" for k, v in mapping.items()) + " }"


def block(pattern: str, caps: list[str], extra: str = "") -> str:
    body = "capabilities = [" + ", ".join(json.dumps(c) for c in caps) + "]"
    return f'path "{pattern}" {{\n  {body}\n{extra}}}\n'


def random_pattern(rng: random.Random) -> str:
    depth = rng.randint(1, 3)
    parts = ["+" if rng.random() < 0.25 else rng.choice(SEGMENTS) for _ in range(depth)]
    pattern = MOUNT + "/" + "/".join(parts)
    roll = rng.random()
    if roll < 0.3:
        pattern += "/*" if parts[-1] == "+" else "*"
    elif roll < 0.45:
        pattern += "/*"
    elif roll < 0.55 and parts[-1] != "+":
        pattern = pattern[:-1] + "*" if len(parts[-1]) > 1 else pattern + "*"
    elif roll < 0.6:
        pattern += "/"
    if rng.random() < 0.05:
        pattern = rng.choice(["*", "+/*", "+/+", "kv*", "+"])
    return pattern


def random_caps(rng: random.Random) -> list[str]:
    if rng.random() < 0.12:
        return ["deny"]
    return rng.sample(CAPS, rng.randint(1, 3))


def random_path(rng: random.Random, *, trailing: bool) -> str:
    path = MOUNT + "/" + "/".join(rng.choice(SEGMENTS) for _ in range(rng.randint(1, 4)))
    return path + "/" if trailing else path


def matching_scenario(rng: random.Random, idx: int) -> dict[str, Any]:
    """Random exact/prefix/+ patterns over a small alphabet so that they overlap a lot."""
    patterns = [random_pattern(rng) for _ in range(rng.randint(3, 8))]
    policies: dict[str, str] = {}
    for p in range(rng.randint(1, 3)):
        chosen = rng.sample(patterns, rng.randint(1, len(patterns)))
        policies[f"g{idx}p{p}"] = "".join(block(pat, random_caps(rng)) for pat in chosen)
    caps = [random_path(rng, trailing=rng.random() < 0.3) for _ in range(10)]
    caps += [pat.replace("+", rng.choice(SEGMENTS)).rstrip("*") for pat in patterns[:3]]
    caps = [c for c in caps if c]
    requests = [{"method": "GET", "path": random_path(rng, trailing=False)} for _ in range(3)]
    requests += [{"method": "LIST", "path": random_path(rng, trailing=True)} for _ in range(2)]
    return {"id": f"gen-match-{idx}", "policies": policies, "caps": caps, "requests": requests}


def random_params(rng: random.Random, values: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for key in rng.sample([*PARAM_KEYS, "*"], rng.randint(1, 3)):
        out[key] = [] if rng.random() < 0.3 else rng.sample(values, rng.randint(1, 2))
    return out


def random_body(rng: random.Random) -> dict[str, Any]:
    return {k: rng.choice(VALUES) for k in rng.sample(PARAM_KEYS, rng.randint(0, 3))}


def parameter_scenario(rng: random.Random, idx: int) -> dict[str, Any]:
    """allowed/denied/required parameters on one pattern; writes (creates) and reads."""
    extra = ""
    if rng.random() < 0.7:
        extra += f"  allowed_parameters = {hcl_map(random_params(rng, POLICY_VALUES))}\n"
    if rng.random() < 0.5:
        extra += f"  denied_parameters = {hcl_map(random_params(rng, POLICY_VALUES))}\n"
    if rng.random() < 0.4:
        extra += f"  required_parameters = {hcl_value(rng.sample(PARAM_KEYS, rng.randint(1, 2)))}\n"
    base = f"{MOUNT}/p{idx}"
    policy = block(base + "/*", ["create", "read", "update"], extra)
    requests: list[dict[str, Any]] = [
        {"method": "POST", "path": f"{base}/w{n}", "json": random_body(rng)} for n in range(6)
    ]
    for n in range(3):
        query = {
            k: str(rng.choice(["x", "yes", "bad", "1"])) for k in rng.sample(PARAM_KEYS, rng.randint(0, 2))
        }
        requests.append({"method": "GET", "path": f"{base}/r{n}", "params": query})
    return {"id": f"gen-params-{idx}", "policies": {f"q{idx}": policy}, "requests": requests}


def merge_scenario(rng: random.Random, idx: int) -> dict[str, Any]:
    """Several policies on the same pattern: capabilities, deny, parameters and wrapping TTLs."""
    pattern = f"{MOUNT}/m{idx}/*"
    policies: dict[str, str] = {}
    for p in range(rng.randint(2, 3)):
        extra = ""
        if rng.random() < 0.5:
            extra += f"  allowed_parameters = {hcl_map(random_params(rng, POLICY_VALUES))}\n"
        if rng.random() < 0.3:
            extra += f"  denied_parameters = {hcl_map(random_params(rng, POLICY_VALUES))}\n"
        if rng.random() < 0.3:
            extra += f'  max_wrapping_ttl = "{rng.choice(["4m", "5m", "10m"])}"\n'
        if rng.random() < 0.3:
            extra += f'  min_wrapping_ttl = "{rng.choice(["30s", "1m", "3m"])}"\n'
        caps = ["deny"] if rng.random() < 0.15 else rng.sample(["create", "read", "update", "list"], 2)
        policies[f"m{idx}p{p}"] = block(pattern, caps, extra)
    requests: list[dict[str, Any]] = []
    for n in range(5):
        req: dict[str, Any] = {"method": "POST", "path": f"{MOUNT}/m{idx}/w{n}", "json": random_body(rng)}
        if rng.random() < 0.6:
            req["wrap"] = rng.choice(["20s", "45s", "90s", "4m", "8m", "12m"])
        requests.append(req)
    requests.append({"method": "GET", "path": f"{MOUNT}/m{idx}/r", "wrap": rng.choice(["45s", "4m"])})
    requests.append({"method": "LIST", "path": f"{MOUNT}/m{idx}/"})
    return {
        "id": f"gen-merge-{idx}",
        "policies": policies,
        "caps": [f"{MOUNT}/m{idx}/x"],
        "requests": requests,
    }


def all_scenarios(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = list(HAND_SCENARIOS)
    out += [matching_scenario(rng, i) for i in range(70)]
    out += [parameter_scenario(rng, i) for i in range(40)]
    out += [merge_scenario(rng, i) for i in range(25)]
    return out


# -- recording --------------------------------------------------------------------------------


class Recorder:
    def __init__(self, addr: str, token: str = "root") -> None:
        self.addr = addr
        self.root = token

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> tuple[int, Any]:
        status, body, _ = call(self.addr, method, path, token=token or self.root, **kwargs)
        return status, body

    def setup(self) -> None:
        status, body = self.call(
            "POST", f"sys/mounts/{MOUNT}", json={"type": "kv", "options": {"version": "1"}}
        )
        if status not in (204, 400):
            raise SystemExit(f"cannot mount {MOUNT}/: {status} {body}")
        _, body = self.call("GET", "sys/policies/acl/default")
        if body["data"]["policy"] != DEFAULT_POLICY:
            raise SystemExit(
                "the reference's default policy differs from tessera.policy.store.DEFAULT_POLICY"
            )

    def scenario(self, index: int, sc: dict[str, Any]) -> dict[str, Any]:
        names = {}
        for name, text in sc["policies"].items():
            real = f"s{index}-{name}"
            status, body = self.call("PUT", f"sys/policies/acl/{real}", json={"policy": text})
            if status != 204:
                raise SystemExit(f"{sc['id']}: policy {name} refused: {status} {body}")
            names[name] = real
        token_names = sc.get("token", list(sc["policies"]))
        real_names = [names.get(n, n) for n in token_names]
        no_default = "default" not in token_names
        _, body = self.call(
            "POST", "auth/token/create", json={"policies": real_names, "no_default_policy": no_default}
        )
        token = body["auth"]["client_token"]
        for path, data in sc.get("setup", []):
            self.call("POST", path, json=data)
        checks: list[dict[str, Any]] = []
        if sc.get("caps"):
            status, body = self.call("POST", "sys/capabilities", json={"token": token, "paths": sc["caps"]})
            for path in sc["caps"]:
                if status == 200:
                    checks.append({"kind": "caps", "path": path, "expect": body["data"][path]})
                else:
                    checks.append({"kind": "caps", "path": path, "error": body["errors"]})
        for req in sc.get("requests", []):
            checks.append(self.request(token, req))
        policies = {n: DEFAULT_POLICY if n == "default" else sc["policies"].get(n) for n in token_names}
        return {"id": sc["id"], "token_policies": token_names, "policies": policies, "checks": checks}

    def request(self, token: str, req: dict[str, Any]) -> dict[str, Any]:
        method, path = req["method"], req["path"]
        headers = {}
        wrap_ttl = 0
        if "wrap" in req:
            headers["X-Vault-Wrap-TTL"] = req["wrap"]
            wrap_ttl = parse_duration_second(req["wrap"])
        op = _METHOD_OPS.get(method)
        if op is None:
            # KV has an existence check: a write to a missing key is a create. sys/ paths have none.
            op = "update"
            if path.startswith(MOUNT + "/"):
                status, _ = self.call("GET", path)
                op = "update" if status == 200 else "create"
        params = req.get("params")
        data: dict[str, Any] = {}
        if method in ("GET", "LIST"):
            data = dict(params or {})
        elif method in ("POST", "PUT", "PATCH"):
            data = dict(req.get("json") or {})
        if method == "PATCH":
            headers["Content-Type"] = "application/merge-patch+json"
        status, _ = self.call(method, path, token, json=req.get("json"), params=params, headers=headers)
        return {
            "kind": "request",
            "method": method,
            "op": op,
            # The server adds the trailing slash of a LIST before the ACL sees the path.
            "path": path if method != "LIST" or path.endswith("/") else path + "/",
            "data": data,
            "wrap_ttl": wrap_ttl,
            "sudo": bool(req.get("sudo")),
            "status": status,
            "expect": status != 403,
        }

    def parse_case(self, index: int, text: str) -> dict[str, Any]:
        status, body = self.call("PUT", f"sys/policies/acl/parse{index}", json={"policy": text})
        self.call("DELETE", f"sys/policies/acl/parse{index}")
        return {
            "policy": text,
            "status": status,
            "error": (body or {}).get("errors", [""])[0] if body else "",
        }


def record(addr: str, seed: int) -> dict[str, Any]:
    rec = Recorder(addr)
    rec.setup()
    scenarios = [rec.scenario(i, sc) for i, sc in enumerate(all_scenarios(seed))]
    parse = [rec.parse_case(i, text) for i, text in enumerate(PARSE_CASES)]
    _, health = rec.call("GET", "sys/health")
    return {
        "reference": f"OpenBao {health.get('version', '?')}",
        "seed": seed,
        "mount": MOUNT,
        "scenarios": scenarios,
        "parse": parse,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--addr", help="a running reference dev server (root token 'root')")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.addr:
        corpus = record(args.addr, args.seed)
    else:
        from tests.helpers.servers import ReferenceServer

        with ReferenceServer() as server:
            corpus = record(server.addr, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(corpus, indent=1, ensure_ascii=False) + "\n")
    checks = sum(len(s["checks"]) for s in corpus["scenarios"])
    print(
        f"{len(corpus['scenarios'])} scenarios, {checks} checks, {len(corpus['parse'])} parse cases → {args.out}"
    )


if __name__ == "__main__":
    main()
