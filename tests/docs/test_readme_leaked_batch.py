"""README's "A leaked batch token" block runs as written, after the tour whose variables it uses."""

from __future__ import annotations

import re
from pathlib import Path

from tests.docs.test_readme_tour import README, run_in_bash, tour_script
from tests.helpers.servers import TesseraServer


def leaked_batch_script() -> str:
    text = README.read_text()
    section = text[text.index("### A leaked batch token") :]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, 'README\'s "A leaked batch token" has no ```bash block'
    return match.group(1)


def test_readme_leaked_batch_token_block_runs(fresh_tessera: TesseraServer, tmp_path: Path) -> None:
    result = run_in_bash(tour_script() + leaked_batch_script(), fresh_tessera, tmp_path)
    assert result.returncode == 0, f"the block stopped:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    out, err = result.stdout, result.stderr
    assert "Success! Revoked token" in out
    assert "permission denied" in err
    assert "bad token: batch token refused (revoked)" in err
    assert re.search(r"^auth/approle/role/ci\s+0$", out, re.M), "the issuers table before the cut"
    assert "Success! Cut auth/approle/role/ci" in out
    assert re.search(r"^Success! Cut auth/token/parent/\S+: ", out, re.M), "a parent cut by accessor"
    assert re.search(r"^hvb\.\S+$", out.strip().splitlines()[-1]), "a fresh login after the cut"
