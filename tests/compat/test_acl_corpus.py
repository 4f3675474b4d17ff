"""Tessera's ACL engine against the reference's recorded answers (offline, no server).

``data/acl_corpus.json`` is written by ``record_acl_corpus.py`` from a live OpenBao: capability
reports, real requests allowed or refused (403), and policy documents accepted or refused with
their exact error text. Every recorded answer must come out the same here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tessera.policy.acl import ACL
from tessera.policy.parser import Policy, PolicyParseError, parse_policy
from tessera.policy.store import decode_policy_text

CORPUS: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "acl_corpus.json").read_text())


def build_acl(scenario: dict[str, Any]) -> ACL:
    if scenario["token_policies"] == ["root"]:
        return ACL([Policy(name="root")])
    policies = [parse_policy(text, name) for name, text in scenario["policies"].items() if text is not None]
    return ACL(policies)


def mismatches(scenario: dict[str, Any]) -> list[str]:
    acl = build_acl(scenario)
    out = []
    for check in scenario["checks"]:
        if check["kind"] == "caps":
            got = acl.capabilities(check["path"])
            if got != check["expect"]:
                out.append(f"capabilities {check['path']!r}: reference {check['expect']}, tessera {got}")
            continue
        result = acl.allow_operation(
            check["op"], check["path"], dict(check["data"]), check["wrap_ttl"], check["sudo"]
        )
        if result.allowed != check["expect"]:
            out.append(
                f"{check['method']} {check['path']} ({check['op']}, data={check['data']}, "
                f"wrap={check['wrap_ttl']}): reference {'allowed' if check['expect'] else 'denied'} "
                f"(HTTP {check['status']}), tessera {'allowed' if result.allowed else 'denied'}"
            )
    return out


def test_corpus_is_big_enough() -> None:
    checks = sum(len(s["checks"]) for s in CORPUS["scenarios"])
    assert checks >= 200
    assert len(CORPUS["parse"]) >= 100


@pytest.mark.parametrize("scenario", CORPUS["scenarios"], ids=[s["id"] for s in CORPUS["scenarios"]])
def test_scenario(scenario: dict[str, Any]) -> None:
    assert mismatches(scenario) == []


def parse_answer(text: str) -> tuple[int, str]:
    """What PUT sys/policies/acl/<name> answers for ``text`` (the parts owned by the parser)."""
    if text == "":
        return 400, "'policy' parameter not supplied or empty"
    try:
        parse_policy(decode_policy_text(text))
    except PolicyParseError as exc:
        return 400, str(exc)
    return 204, ""


@pytest.mark.parametrize("case", CORPUS["parse"], ids=[f"parse-{i}" for i in range(len(CORPUS["parse"]))])
def test_parse(case: dict[str, Any]) -> None:
    assert parse_answer(case["policy"]) == (case["status"], case["error"])
