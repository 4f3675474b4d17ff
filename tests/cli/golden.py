"""Running ``bao`` and ``tessera`` side by side and normalising what differs by nature.

IDs, tokens (and their prefixes: OpenBao's ``s.``/``b.``, Tessera's ``hvs.``/``hvb.``), accessors,
times, ports, product names and server versions differ between two runs (and between OpenBao and
Tessera servers); everything else — layout, alignment, messages, exit codes — must not. Tables are
checked to be aligned as Go's columnize aligns them, then re-aligned after the placeholders went in,
so that a version string of another length does not shift a column.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera import __version__ as TESSERA_VERSION
from tessera.gocompat.durations import human_duration
from tessera.version import VAULT_VERSION

BAO = shutil.which("bao", path=str(Path(sys.executable).parent)) or shutil.which("bao") or "bao"
TESSERA = (
    shutil.which("tessera", path=str(Path(sys.executable).parent)) or shutil.which("tessera") or "tessera"
)

REFERENCE_VERSION = "2.7.2"
_VERSIONS = "|".join(
    # The server answers as VAULT_VERSION; Tessera's own CLI shows TESSERA_VERSION.
    re.escape(v)
    for v in sorted({REFERENCE_VERSION, TESSERA_VERSION, VAULT_VERSION}, key=len, reverse=True)
)


def _to_minute(m: re.Match[str]) -> str:
    """A duration rounded to the minute: a TTL that ticked a few seconds (``767h59m46s``) reads ``768h``.

    Only remaining TTLs tick; every other duration is a whole minute already and stays itself, so a
    wrong TTL (``24h`` for ``768h``, ``15m`` for ``20m``) still fails the comparison.
    """
    text = m.group(0)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not text or parts is None or not any(parts.groups()):
        return text
    h, mi, sec = (int(g or 0) for g in parts.groups())
    return human_duration((h * 3600 + mi * 60 + sec + 30) // 60 * 60)


def _secs_to_minute(m: re.Match[str]) -> str:
    """A JSON ``ttl`` in seconds rounded to the minute, as ``_to_minute`` does for table durations."""
    return m.group(1) + str((int(m.group(2)) + 30) // 60 * 60)


_RULES: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(rf"\bv(?:{_VERSIONS})\+builtin\.(?:bao|vault|tessera)\b"), "<BUILTIN>"),
    (re.compile(r"\b(?:hv)?[sbr]\.[A-Za-z0-9_-]{20,}"), "<TOKEN>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<UUID>"),
    (
        re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d| [+-]\d{4} UTC)?"),
        "<TIME>",
    ),
    (re.compile(r"\b\d{2} [A-Z][a-z]{2} \d\d \d\d:\d\d UTC\b"), "<TIME>"),
    (re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{24}(?![A-Za-z0-9])"), "<ACCESSOR>"),
    (re.compile(r"\b((?:auth_)?[a-z]+)_[0-9a-f]{8}\b"), r"\1_<HEX>"),
    (re.compile(r"vault-cluster-[0-9a-f]{8}"), "vault-cluster-<HEX>"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<PORT>"),
    (re.compile(r"\b1[6-9]\d{8}\b"), "<UNIX>"),
    (re.compile(r"\b(?=\d)(?:\d+h)?(?:\d+m)?(?:\d+s)?\b"), _to_minute),
    (re.compile(r'("?ttl"?:\s*)(\d+)'), _secs_to_minute),
    (re.compile(r"\bOpenBao\b"), "Vault"),
    (re.compile(r"\bBAO_"), "VAULT_"),
    (re.compile(r"\bbao\b"), "tessera"),
    (re.compile(r"\b(?:Tessera v\S+|Vault v\S+ \(\S+\), committed \S+)"), "<VERSION>"),
    (re.compile(rf"(?<![\w.])(?:{_VERSIONS})(?![\w.])"), "<VERSION>"),
]


_GAP = re.compile(r"(?<=\S) {4,}(?=\S)")


def _cells(line: str) -> list[str] | None:
    """The cells of a table row (columnize joins them with 4+ spaces), or None for any other line."""
    if not line or line[0].isspace() or not _GAP.search(line):
        return None
    return _GAP.split(line.rstrip())


def _columnize(rows: list[list[str]]) -> list[str]:
    """Go's columnize: each column padded to its widest cell, glue of 4 spaces, trailing spaces trimmed."""
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(len(r) for r in rows))]
    return ["    ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]


def _substitute(text: str, extra: dict[str, str] | None) -> str:
    for old, new in (extra or {}).items():
        text = text.replace(old, new)
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return text


def normalize(text: str, extra: dict[str, str] | None = None) -> str:
    """Replace the naturally varying parts of CLI output by placeholders, tables re-aligned after.

    A run of table rows (same number of cells) that columnize would not have produced as it stands
    is marked ``<MISALIGNED>`` instead, so that a layout bug still fails the comparison.
    """
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        cells = _cells(lines[i])
        if cells is None:
            out.append(_substitute(lines[i], extra))
            i += 1
            continue
        block = [cells]
        j = i + 1
        while j < len(lines) and (nxt := _cells(lines[j])) is not None and len(nxt) == len(cells):
            block.append(nxt)
            j += 1
        raw = [line.rstrip() for line in lines[i:j]]
        if _columnize(block) != raw:
            out.extend("<MISALIGNED>" + _substitute(line, extra) for line in raw)
        else:
            out.extend(_columnize([[_substitute(c, extra) for c in row] for row in block]))
        i = j
    return "\n".join(out)


@dataclass
class Result:
    """One CLI run: exit code and both streams."""

    rc: int
    out: str
    err: str

    def norm(self, extra: dict[str, str] | None = None) -> tuple[int, str, str]:
        return self.rc, normalize(self.out, extra), normalize(self.err, extra)


def cli_env(addr: str, home: str, token: str | None = "root", **extra: str) -> dict[str, str]:
    """A clean environment for one CLI run (no VAULT_/BAO_ variables leak in from outside)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "TESSERA_"))}
    env.update({"VAULT_ADDR": addr, "HOME": home, "NO_COLOR": "1"})
    if token is not None:
        env["VAULT_TOKEN"] = token
    env.update(extra)
    return env


def run_cli(
    binary: str, args: list[str], env: dict[str, str], stdin: str = "", cwd: str | None = None
) -> Result:
    proc = subprocess.run(
        [binary, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def reflow(text: str) -> str:
    """Join wrapped prose lines, so that a product name of another length does not break a comparison.

    Table rows (cells separated by 4+ spaces) and blank lines keep their place; everything else that
    wraps onto a following prose line is joined with single spaces.
    """
    out: list[str] = []
    prose = False
    for line in text.split("\n"):
        stripped = line.strip()
        is_prose = bool(stripped) and "    " not in stripped and "\t" not in line
        if is_prose and prose and out:
            out[-1] = out[-1] + " " + stripped
        else:
            out.append(line.rstrip() if is_prose else line)
        prose = is_prose
    return "\n".join(out)


def assert_same(a: Result, b: Result, extra: dict[str, str] | None = None) -> None:
    """The two runs agree: exit code, stdout and stderr after normalisation."""
    ra, oa, ea = a.norm(extra)
    rb, ob, eb = b.norm(extra)
    assert (rb, reflow(ob), reflow(eb)) == (ra, reflow(oa), reflow(ea)), (
        f"\n--- bao (rc={a.rc})\n{a.out}{a.err}\n--- tessera (rc={b.rc})\n{b.out}{b.err}"
    )
