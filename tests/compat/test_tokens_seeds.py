"""The seeds' token walkthroughs, run with the real ``bao`` CLI and with hvac against both servers.

Each step runs once per server (with that server's own tokens) and the outputs must match once
token IDs, accessors, times and ticking TTLs are normalised. Fresh servers keep listings exact.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.compat.token_pairs import Duo, Pair, strip
from tests.helpers.compat import normalize
from tests.helpers.servers import ReferenceServer, TesseraServer, find_bao

TOKEN_IN_TEXT = re.compile(r"\b(?:hvs|hvb|s|b)\.[A-Za-z0-9_\-]{20,}")
ACCESSOR_IN_TEXT = re.compile(r"\b[A-Za-z0-9]{24}\b")
TIME_IN_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z| \+0000 UTC|[+-]\d{2}:\d{2})"
)
ACCESSOR = re.compile(r"^[A-Za-z0-9]{24}$")


def _accessors(obj: Any) -> Any:
    """Accessors also appear as bare list items (LIST auth/token/accessors)."""
    if isinstance(obj, dict):
        return {k: _accessors(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_accessors(v) for v in obj]
    if isinstance(obj, str) and ACCESSOR.match(obj):
        return "<accessor>"
    return obj


TICKING = re.compile(r"^(ttl|creation_time|token_duration|last_renewal_time)(\s+)\S+$", re.MULTILINE)
BASE_POLICY = 'path "secret/data/base/*" { capabilities = ["read"] }\n'


def _normalise_text(text: str) -> str:
    text = TOKEN_IN_TEXT.sub("<token>", text)
    text = TIME_IN_TEXT.sub("<time>", text)
    text = ACCESSOR_IN_TEXT.sub("<accessor>", text)
    text = TICKING.sub(lambda m: f"{m.group(1)}  <n>", text)
    return "\n".join(re.sub(r"\s{2,}", "  ", line.rstrip()) for line in text.splitlines())


def bao(
    server: ReferenceServer | TesseraServer, args: list[str], token: str = "root"
) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(BAO_ADDR=server.addr, BAO_TOKEN=token, HOME=str(server.workdir), NO_COLOR="1", TZ="UTC")
    done = subprocess.run(
        [find_bao(), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    return (
        done.returncode,
        done.stdout.replace(server.addr, "<addr>"),
        done.stderr.replace(server.addr, "<addr>"),
    )


Args = list[str] | Callable[[int], list[str]]


def cli(duo: Duo, args: Args, token: Pair = ("root", "root")) -> tuple[str, str]:
    """Run on both; same exit code and same normalised output. Returns the raw stdouts."""
    raw = []
    for i, server in enumerate(duo.servers):
        argv = args(i) if callable(args) else args
        raw.append(bao(server, argv, token[i]))
    (rc_r, out_r, err_r), (rc_t, out_t, err_t) = raw
    shown = " ".join(args(0) if callable(args) else args)
    norm = [(_normalise_text(o), _normalise_text(e)) for _, o, e in raw]
    assert rc_r == rc_t, f"bao {shown}: exit {rc_r} vs {rc_t}\n  ref: {out_r}{err_r}\n  tes: {out_t}{err_t}"
    if out_r.lstrip().startswith("{"):
        assert normalize(strip(json.loads(out_r))) == normalize(strip(json.loads(out_t))), f"bao {shown}"
    else:
        assert norm[0] == norm[1], f"bao {shown}\n  ref: {norm[0]!r}\n  tes: {norm[1]!r}"
    return out_r, out_t


def _json_token(outs: tuple[str, str]) -> Pair:
    return json.loads(outs[0])["auth"]["client_token"], json.loads(outs[1])["auth"]["client_token"]


@pytest.fixture
def duo(fresh_reference: ReferenceServer, fresh_tessera: TesseraServer) -> Duo:
    return Duo(fresh_reference, fresh_tessera)


def test_seed_batch_token_tutorial(duo: Duo, tmp_path: Any) -> None:
    """Seed 000: root cannot mint batch tokens; a batch token for a policy, then its lookup."""
    policy_file = tmp_path / "base.hcl"
    policy_file.write_text(BASE_POLICY)
    cli(duo, ["login", "root"])
    cli(duo, ["token", "create", "-type=batch"])
    cli(duo, ["policy", "write", "base", str(policy_file)])
    batch = _json_token(cli(duo, ["token", "create", "-type=batch", "-policy=base", "-format=json"]))
    assert batch[0].startswith("b.") and batch[1].startswith("hvb.")
    cli(duo, lambda i: ["token", "lookup", batch[i]])
    cli(duo, lambda i: ["token", "lookup", "-format=json", batch[i]])


def test_seed_service_and_batch_walkthrough(duo: Duo) -> None:
    """Seeds 001/002: accessors, revoke by accessor, batch with TTL, orphan batch, refusals."""
    cli(duo, ["token", "lookup"])
    cli(duo, ["list", "auth/token/accessors"])
    cli(duo, ["token", "create", "-policy=cloud-policy"])
    created = cli(duo, ["token", "create", "-policy=cloud-policy", "-format=json"])
    svc = _json_token(created)
    acc = json.loads(created[0])["auth"]["accessor"], json.loads(created[1])["auth"]["accessor"]
    cli(duo, ["list", "auth/token/accessors"])
    cli(duo, lambda i: ["token", "revoke", "-accessor", acc[i]])
    cli(duo, lambda i: ["login", svc[i]])
    cli(duo, ["token", "create", "-policy=cloud-policy", "-type=batch", "-ttl=24h"])
    batch = _json_token(
        cli(duo, ["token", "create", "-policy=cloud-policy", "-type=batch", "-ttl=24h", "-format=json"])
    )
    cli(duo, lambda i: ["token", "lookup", batch[i]])
    orphan = _json_token(
        cli(
            duo,
            [
                "token",
                "create",
                "-policy=cloud-policy",
                "-type=batch",
                "-ttl=24h",
                "-orphan=true",
                "-format=json",
            ],
        )
    )
    cli(duo, lambda i: ["token", "lookup", orphan[i]])
    cli(duo, lambda i: ["token", "revoke", orphan[i]])
    cli(duo, lambda i: ["token", "renew", orphan[i]])
    cli(duo, ["secrets", "list"], token=orphan)
    cli(duo, ["token", "lookup"], token=orphan)


def test_seed_service_token_lifecycle(duo: Duo) -> None:
    """Seed 003: create, renew by 30m, revoke, accessors, periodic and orphan tokens, batch lookup."""
    svc = _json_token(cli(duo, ["token", "create", "-policy=default", "-ttl=1h", "-format=json"]))
    cli(duo, lambda i: ["token", "lookup", svc[i]])
    cli(duo, lambda i: ["token", "renew", svc[i], "30m"])
    cli(duo, lambda i: ["token", "renew", "-increment=2h", svc[i]])
    cli(duo, ["token", "renew"], token=svc)
    cli(duo, lambda i: ["token", "revoke", svc[i]])
    cli(duo, lambda i: ["token", "lookup", svc[i]])
    cli(duo, ["token", "create", "-policy=agent", "-period=24h"])
    cli(duo, ["token", "create", "-policy=ops", "-orphan"])
    cli(duo, ["token", "create", "-policy=ops", "-explicit-max-ttl=2h", "-ttl=3h", "-display-name=My App!"])
    cli(duo, ["token", "create", "-policy=ops", "-use-limit=2", "-metadata=team=a"])
    batch = _json_token(
        cli(duo, ["token", "create", "-type=batch", "-policy=build", "-ttl=15m", "-format=json"])
    )
    cli(duo, lambda i: ["token", "lookup", batch[i]])
    cli(duo, ["write", "auth/token/roles/app", "allowed_policies=app", "orphan=true", "token_period=1h"])
    cli(duo, ["read", "auth/token/roles/app"])
    cli(duo, ["list", "auth/token/roles"])
    cli(duo, ["token", "create", "-role=app"])
    cli(duo, ["write", "-wrap-ttl=5m", "auth/token/create", "policies=app"])


# -- hvac --------------------------------------------------------------------------------------------


def hvac_pair(duo: Duo, action: Callable[[Any, int], Any], token: Pair = ("root", "root")) -> tuple[Any, Any]:
    """Run one hvac call per server; same (normalised) answer or the same exception class."""
    raw: list[Any] = []
    outcome: list[Any] = []
    for i, server in enumerate(duo.servers):
        client = server.hvac_client(token=token[i])
        try:
            answer = action(client, i)
            if isinstance(answer, requests.Response):
                answer = {"status": answer.status_code, "body": answer.json() if answer.content else None}
            raw.append(answer)
            outcome.append(("ok", normalize(_accessors(strip(answer)))))
        except Exception as exc:
            raw.append(exc)
            outcome.append(("error", type(exc).__name__, str(exc).split(", on ")[0]))
    assert outcome[0] == outcome[1], f"hvac\n  reference: {outcome[0]!r}\n  tessera:   {outcome[1]!r}"
    return raw[0], raw[1]


def _tok(answers: tuple[Any, Any]) -> Pair:
    return answers[0]["auth"]["client_token"], answers[1]["auth"]["client_token"]


def test_hvac_token_api(duo: Duo) -> None:
    t = lambda c: c.auth.token  # noqa: E731
    duo.policy("creator", 'path "auth/token/create" { capabilities = ["update"] }')
    svc = _tok(
        hvac_pair(duo, lambda c, i: t(c).create(policies=["creator", "p1"], ttl="1h", meta={"a": "b"}))
    )
    hvac_pair(duo, lambda c, i: t(c).lookup(svc[i]))
    hvac_pair(duo, lambda c, i: t(c).lookup_self(), token=svc)
    hvac_pair(duo, lambda c, i: t(c).renew(svc[i], increment="30m"))
    hvac_pair(duo, lambda c, i: t(c).renew_self(increment=60), token=svc)
    acc = tuple(a["data"]["accessor"] for a in hvac_pair(duo, lambda c, i: t(c).lookup(svc[i])))
    hvac_pair(duo, lambda c, i: t(c).lookup_accessor(acc[i]))
    hvac_pair(duo, lambda c, i: t(c).renew_accessor(acc[i], increment="5m"))
    child = _tok(hvac_pair(duo, lambda c, i: t(c).create(policies=["p1"]), token=svc))
    orphan = _tok(hvac_pair(duo, lambda c, i: t(c).create_orphan(policies=["p1"])))
    hvac_pair(duo, lambda c, i: t(c).revoke_and_orphan_children(svc[i]))
    hvac_pair(duo, lambda c, i: t(c).lookup(child[i]))
    hvac_pair(duo, lambda c, i: t(c).revoke_accessor(acc[i]))
    hvac_pair(duo, lambda c, i: t(c).revoke(orphan[i]))
    hvac_pair(duo, lambda c, i: t(c).lookup(orphan[i]))
    hvac_pair(duo, lambda c, i: t(c).revoke_self(), token=child)
    batch = _tok(hvac_pair(duo, lambda c, i: t(c).create(policies=["p1"], ttl="10m", type="batch")))
    hvac_pair(duo, lambda c, i: t(c).lookup(batch[i]))
    hvac_pair(duo, lambda c, i: t(c).renew(batch[i]))
    hvac_pair(duo, lambda c, i: t(c).revoke(batch[i]))
    hvac_pair(duo, lambda c, i: c.is_authenticated(), token=batch)
    hvac_pair(duo, lambda c, i: t(c).create(policies=["root"], type="batch"))
    hvac_pair(duo, lambda c, i: t(c).list_accessors())


def test_hvac_roles_and_wrapping(duo: Duo) -> None:
    t = lambda c: c.auth.token  # noqa: E731
    hvac_pair(
        duo,
        lambda c, i: t(c).create_or_update_role(
            "app", allowed_policies=["p1", "p2"], orphan=True, token_period="1h", path_suffix="v-2"
        ),
    )
    hvac_pair(duo, lambda c, i: t(c).read_role("app"))
    hvac_pair(duo, lambda c, i: t(c).list_roles())
    role_token = _tok(hvac_pair(duo, lambda c, i: t(c).create(role_name="app", policies=["p2"])))
    hvac_pair(duo, lambda c, i: t(c).lookup(role_token[i]))
    hvac_pair(duo, lambda c, i: t(c).create(role_name="app", policies=["p3"]))
    hvac_pair(duo, lambda c, i: t(c).delete_role("app"))
    hvac_pair(duo, lambda c, i: t(c).read_role("app"))
    wrapped = hvac_pair(duo, lambda c, i: t(c).create(policies=["p1"], wrap_ttl="2m"))
    wrap = wrapped[0]["wrap_info"]["token"], wrapped[1]["wrap_info"]["token"]
    hvac_pair(duo, lambda c, i: c.sys.unwrap(wrap[i]))
    hvac_pair(duo, lambda c, i: c.sys.unwrap(wrap[i]))
    hvac_pair(duo, lambda c, i: t(c).tidy())
