"""README's tour runs as written: its bash block, taken from README.md itself, against a dev server.

Only the address is changed (the test's server listens on a free port); HOME is a scratch folder so
that ``tessera login`` keeps its token there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers.servers import TesseraServer

README = Path(__file__).resolve().parents[2] / "README.md"
DEFAULT_ADDR = "http://127.0.0.1:8200"


def tour_script() -> str:
    """The first ``bash`` block under README's "A tour of the CLI" heading."""
    text = README.read_text()
    section = text[text.index("## A tour of the CLI") :]
    section = section[: section.index("\n## ", 1)]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "README's tour has no ```bash block"
    return match.group(1)


def test_tour_names_the_default_address() -> None:
    assert f"export VAULT_ADDR={DEFAULT_ADDR}\n" in tour_script()


def run_in_bash(script: str, server: TesseraServer, home: Path) -> subprocess.CompletedProcess[str]:
    """README's commands as a user pastes them, against ``server``, with ``home`` as HOME and cwd."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(HOME=str(home), TMPDIR=str(home))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace(DEFAULT_ADDR, server.addr)],
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
        timeout=120,
    )


def test_readme_tour_runs_top_to_bottom(fresh_tessera: TesseraServer, tmp_path: Path) -> None:
    result = run_in_bash(tour_script(), fresh_tessera, tmp_path)
    assert result.returncode == 0, f"the tour stopped:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    out = result.stdout
    assert re.search(r"^type\s+batch$", out, re.M), "the batch token's lookup"
    assert re.search(r"^password\s+s3cret$", out, re.M), "the KV v1 read with the batch token"
    assert re.search(r"^token_meta_role_name\s+ci$", out, re.M), "the AppRole login"
    assert "\nhello\n" in out, "the transit round trip"
    assert (tmp_path / ".vault-token").read_text().strip() == "root"
