"""Root token generation side by side with the reference OpenBao: HTTP and CLI, step by step.

Both servers run from a config file (in-memory storage, 3 key shares, threshold 2). Both listeners turn
the unauthenticated ``sys/generate-root/*`` and ``sys/rekey/*`` back on (OpenBao 2.5+ and Tessera hide
them by default; Vault serves them). What differs by nature is masked: nonces, OTPs, encoded tokens, and the OTP length
(OpenBao's root tokens are ``s.`` + 24 characters, so 26; Tessera's ``hvs.`` + 24, so 28).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.golden import BAO, TESSERA, Result, assert_same, cli_env, run_cli
from tests.helpers.servers import ReferenceServer, ServerProcess, TesseraServer, free_port, hcl_config

pytestmark = pytest.mark.reference

UNAUTHED = (
    "  disable_unauthed_rekey_endpoints         = false\n  disable_unauthed_generate_root_endpoints = false\n"
)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MASKED = ("nonce", "otp", "encoded_token", "encoded_root_token", "request_id")


def start_pair(tmp: Path) -> tuple[ServerProcess, ServerProcess]:
    """Reference and Tessera from config files, initialised (3/2) and unsealed."""
    ref_cfg, tes_cfg = tmp / "bao.hcl", tmp / "tessera.hcl"
    ref_text = hcl_config(free_port(span=2))
    ref_cfg.write_text(ref_text.replace("  tls_disable = true\n", "  tls_disable = true\n" + UNAUTHED))
    tes_cfg.write_text(
        hcl_config(free_port()).replace("  tls_disable = true\n", "  tls_disable = true\n" + UNAUTHED)
    )
    servers: list[ServerProcess] = [ReferenceServer(config=ref_cfg), TesseraServer(config=tes_cfg)]
    try:
        for server in servers:
            server.start()
            server.init(3, 2)
            server.unseal(server.keys[:2])
    except BaseException:
        for server in servers:
            server.cleanup()
        raise
    return servers[0], servers[1]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    ref, tes = start_pair(tmp_path)
    try:
        yield ref, tes
    finally:
        ref.cleanup()
        tes.cleanup()


def mask(body: Any) -> Any:
    """Replace what differs by nature; ``mount_type`` (Tessera's envelope has it) is dropped."""
    if isinstance(body, dict):
        return {
            k: ("<set>" if k in MASKED and v else "<len>" if k == "otp_length" and v else mask(v))
            for k, v in body.items()
            if k != "mount_type"
        }
    if isinstance(body, list):
        return [mask(v) for v in body]
    if isinstance(body, str):
        return UUID.sub("<UUID>", body)
    return body


def otp_for(server: ServerProcess) -> str:
    return "0123456789abcdefghijklmnopqrstuvwxyz"[: 26 if isinstance(server, ReferenceServer) else 28]


def decode(encoded: str, otp: str) -> str:
    raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    return bytes(a ^ b for a, b in zip(raw, otp.encode(), strict=True)).decode()


class Steps:
    """One request on both servers (each with its own keys, OTP and nonce), answers compared masked."""

    def __init__(self, ref: ServerProcess, tes: ServerProcess, base: str, *, token: bool = False) -> None:
        self.servers = (ref, tes)
        self.base = base
        self.token = token
        self.nonces = ["", ""]

    def __call__(self, method: str, path: str, body: Any = None, key: int | None = None) -> list[Any]:
        answers = []
        for i, server in enumerate(self.servers):
            data = dict(body) if isinstance(body, dict) else body
            if isinstance(data, dict):
                data = {k: self._fill(v, i, server) for k, v in data.items()}
            if key is not None:
                data = {**(data or {}), "key": server.keys[key]}
            token = server.root_token if self.token else None
            status, answer, _ = server.call(
                method, f"{self.base}/{path}", json=data, token=token, auth=self.token
            )
            answers.append((status, answer))
            if isinstance(answer, dict):
                doc = answer.get("data") if isinstance(answer.get("data"), dict) else answer
                if doc.get("nonce"):
                    self.nonces[i] = doc["nonce"]
        assert (answers[1][0], mask(answers[1][1])) == (answers[0][0], mask(answers[0][1])), (
            f"{method} {path}: reference {answers[0]} / tessera {answers[1]}"
        )
        return answers

    def _fill(self, value: Any, i: int, server: ServerProcess) -> Any:
        if value == "<NONCE>":
            return self.nonces[i]
        if value == "<OTP>":
            return otp_for(server)
        return value


def _run_generation(steps: Steps, data_key: str | None) -> list[str]:
    """attempt/update/cancel and every refusal on the way; the two decoded root tokens."""

    def doc(answer: tuple[int, Any]) -> dict[str, Any]:
        return answer[1][data_key] if data_key else answer[1]

    steps("GET", "attempt")
    steps("PUT", "update", {})
    steps("PUT", "update", {"nonce": "x"}, key=0)
    steps("PUT", "attempt", {"otp": "short"})
    steps("PUT", "attempt", {"otp": "<OTP>"})
    steps("PUT", "attempt", {"otp": "<OTP>"})
    steps("GET", "attempt")
    steps("DELETE", "attempt")
    started = steps("PUT", "attempt")  # the server makes the OTP
    assert [len(doc(a)["otp"]) for a in started] == [26, 28]
    steps("DELETE", "attempt")
    steps("PUT", "attempt", {"otp": "<OTP>"})
    steps("PUT", "update", {"nonce": "wrong"}, key=0)
    steps("PUT", "update", {"nonce": "<NONCE>", "key": "AAAA"})
    steps("PUT", "update", {"nonce": "<NONCE>"}, key=0)
    steps("PUT", "update", {"nonce": "<NONCE>"}, key=0)
    steps("GET", "attempt")
    done = steps("PUT", "update", {"nonce": "<NONCE>"}, key=2)
    steps("GET", "attempt")
    tokens = [decode(doc(a)["encoded_token"], otp_for(s)) for a, s in zip(done, steps.servers, strict=True)]
    assert tokens[0].startswith("s.") and tokens[1].startswith("hvs.")
    return tokens


def works_as_root(server: ServerProcess, token: str) -> None:
    status, body, _ = server.call("GET", "auth/token/lookup-self", token=token)
    assert status == 200
    data = body["data"]
    assert (data["policies"], data["path"], data["display_name"], data["orphan"]) == (
        ["root"],
        "auth/token/root",
        "root",
        True,
    )


def test_unauthenticated_generate_root_matches(pair: tuple[ServerProcess, ServerProcess]) -> None:
    ref, tes = pair
    tokens = _run_generation(Steps(ref, tes, "sys/generate-root"), None)
    for server, token in zip(pair, tokens, strict=True):
        works_as_root(server, token)


def test_generate_root_token_endpoint_matches(pair: tuple[ServerProcess, ServerProcess]) -> None:
    """OpenBao's ACL-checked twin (what ``bao operator generate-root`` calls)."""
    ref, tes = pair
    steps = Steps(ref, tes, "sys/generate-root-token", token=True)
    tokens = _run_generation(steps, "data")
    for server, token in zip(pair, tokens, strict=True):
        works_as_root(server, token)
    # Without a token: the ACL check's 403.
    for server in pair:
        assert server.call("GET", "sys/generate-root-token/attempt", auth=False)[:2] == (
            403,
            {"errors": ["permission denied"]},
        )


def test_decode_token_matches(pair: tuple[ServerProcess, ServerProcess]) -> None:
    ref, tes = pair
    vector = {"encoded_token": "EkwCCB8EDgFZGFsNJxk5HjNAJUISBA1BLDM", "otp": "abcdefghijklmnopqrstuvwxyz"}
    for body in (vector, {}, {**vector, "otp": "abc"}, {"encoded_token": "!!!", "otp": "abc"}):
        a = ref.call("PUT", "sys/decode-token", json=body, auth=False)[:2]
        b = tes.call("PUT", "sys/decode-token", json=body, auth=False)[:2]
        assert (b[0], mask(b[1])) == (a[0], mask(a[1])), body
    a, b = (s.call("PUT", "sys/decode-token", json=vector, auth=False)[1] for s in pair)
    assert a["data"] == b["data"] == {"token": "s.alzbii0r0aJwVnB2V6grz9UI"}


def test_sealed_servers_refuse_alike(pair: tuple[ServerProcess, ServerProcess]) -> None:
    for server in pair:
        assert server.call("PUT", "sys/seal")[0] == 204
    steps = Steps(*pair, "sys/generate-root")
    steps("GET", "attempt")
    steps("PUT", "attempt", {"otp": "<OTP>"})
    steps("PUT", "update", {"nonce": "x"}, key=0)
    steps("PUT", "attempt", "not an object")


# -- the CLI ------------------------------------------------------------------------------------
class Cli:
    """``bao`` against the reference and ``tessera`` against Tessera, each with its root token."""

    def __init__(self, ref: ServerProcess, tes: ServerProcess, home: Path) -> None:
        self.ref, self.tes = ref, tes
        self.homes = (home / "bao", home / "tessera")
        for h in self.homes:
            h.mkdir()

    def run(
        self, args: list[str], *, per_side: tuple[list[str], list[str]] = ([], [])
    ) -> tuple[Result, Result]:
        a = run_cli(BAO, args + per_side[0], cli_env(self.ref.addr, str(self.homes[0]), self.ref.root_token))
        b = run_cli(
            TESSERA, args + per_side[1], cli_env(self.tes.addr, str(self.homes[1]), self.tes.root_token)
        )
        return a, b


def fold_result(result: Result, values: dict[str, str]) -> Result:
    """Mask this side's OTP and encoded token, and the OTP length (26 vs 28) by nature."""
    out, err = result.out, result.err
    # bao calls OpenBao's ACL-checked sys/generate-root-token/*; tessera, as Vault's CLI, sys/generate-root/*.
    err = err.replace("/v1/sys/generate-root-token/", "/v1/sys/generate-root/")
    for old, new in values.items():
        if old:
            out, err = out.replace(old, new), err.replace(old, new)
    out = re.sub(r"(OTP Length\s+|\"otp_length\": )2[68]\b", r"\g<1>NN", out)
    err = re.sub(r"needs to be 2[68] characters", "needs to be NN characters", err)
    return Result(result.rc, out, err)


def field_of(result: Result, name: str) -> str:
    match = re.search(rf"^{name}\s+(\S+)$", result.out, re.M)
    assert match, result.out
    return match.group(1)


def test_operator_generate_root_cli_step_by_step(
    pair: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    ref, tes = pair
    cli = Cli(ref, tes, tmp_path)

    def same(a: Result, b: Result, extra: tuple[dict[str, str], dict[str, str]] = ({}, {})) -> None:
        assert_same(fold_result(a, extra[0]), fold_result(b, extra[1]))

    same(*cli.run(["operator", "generate-root", "-status"]))
    same(*cli.run(["operator", "generate-root", "-status", "-format=json"]))
    otps = cli.run(["operator", "generate-root", "-generate-otp"])
    assert [r.rc for r in otps] == [0, 0] and [len(r.out) for r in otps] == [26, 28]
    same(*cli.run(["operator", "generate-root", "unused-key"]))  # nothing in progress
    same(*cli.run(["operator", "generate-root", "-init", "-otp=x", "-pgp-key=y"]))
    same(*cli.run(["operator", "generate-root", "-init", "-otp=short"]))
    inits = cli.run(["operator", "generate-root", "-init"])
    otp = (field_of(inits[0], "OTP"), field_of(inits[1], "OTP"))
    masks = ({otp[0]: "<OTP>"}, {otp[1]: "<OTP>"})
    same(*inits, masks)
    same(*cli.run(["operator", "generate-root", "-init"]), masks)
    same(*cli.run(["operator", "generate-root", "-status"]))

    def same_error(a: Result, b: Result) -> None:
        """Refusals of an update: sys/generate-root-token (bao) wraps them in a 500 multierror where the
        unauthenticated endpoint (tessera, Vault's CLI) answers 400; the message itself must match."""
        assert (a.rc, b.rc) == (2, 2)
        messages = [UUID.sub("<UUID>", re.findall(r"\* (.+)", r.err)[-1]) for r in (a, b)]
        assert messages[0] == messages[1], (a.err, b.err)

    same_error(
        *cli.run(["operator", "generate-root", "-nonce=wrong"], per_side=([ref.keys[0]], [tes.keys[0]]))
    )
    nonces = (field_of(inits[0], "Nonce"), field_of(inits[1], "Nonce"))
    keys = [([f"-nonce={nonces[0]}", ref.keys[i]], [f"-nonce={nonces[1]}", tes.keys[i]]) for i in range(3)]
    same(*cli.run(["operator", "generate-root"], per_side=([], [])))  # no key, no tty
    same(*cli.run(["operator", "generate-root", "-non-interactive"]))
    same(*cli.run(["operator", "generate-root"], per_side=keys[1]))
    same_error(*cli.run(["operator", "generate-root"], per_side=keys[1]))  # the same share again
    done = cli.run(["operator", "generate-root"], per_side=keys[2])
    encoded = (field_of(done[0], "Encoded Token"), field_of(done[1], "Encoded Token"))
    same(*done, ({encoded[0]: "<ENC>"}, {encoded[1]: "<ENC>"}))
    decoded = cli.run(
        ["operator", "generate-root"],
        per_side=([f"-decode={encoded[0]}", f"-otp={otp[0]}"], [f"-decode={encoded[1]}", f"-otp={otp[1]}"]),
    )
    same(*decoded)
    works_as_root(ref, decoded[0].out.strip())
    works_as_root(tes, decoded[1].out.strip())
    same(
        *cli.run(
            ["operator", "generate-root", "-format=json"],
            per_side=(
                [f"-decode={encoded[0]}", f"-otp={otp[0]}"],
                [f"-decode={encoded[1]}", f"-otp={otp[1]}"],
            ),
        )
    )
    same(*cli.run(["operator", "generate-root", "-decode=!!!", f"-otp={'a' * 4}"]))
    same(*cli.run(["operator", "generate-root", "-decode=abc"]))
    same(*cli.run(["operator", "generate-root", "-cancel"]))
    same(*cli.run(["operator", "generate-root", "a", "b"]))


def test_bao_cli_generates_a_root_token_on_tessera(tmp_path: Path) -> None:
    """``bao operator generate-root`` (sys/generate-root-token) against Tessera, -decode included."""
    config = tmp_path / "tessera.hcl"
    config.write_text(hcl_config(free_port()))
    with TesseraServer(config=config) as tes:
        tes.init(3, 2)
        tes.unseal(tes.keys[:2])
        env = cli_env(tes.addr, str(tmp_path), tes.root_token)
        init = run_cli(BAO, ["operator", "generate-root", "-init"], env)
        assert init.rc == 0, init.err
        otp, nonce = field_of(init, "OTP"), field_of(init, "Nonce")
        assert len(otp) == 28
        for key in tes.keys[1:3]:
            step = run_cli(BAO, ["operator", "generate-root", f"-nonce={nonce}", key], env)
            assert step.rc == 0, step.err
        encoded = field_of(step, "Encoded Token")
        token = run_cli(BAO, ["operator", "generate-root", f"-decode={encoded}", f"-otp={otp}"], env)
        assert token.rc == 0 and token.out.startswith("hvs."), token.err
        works_as_root(tes, token.out.strip())
