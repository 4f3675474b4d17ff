"""setup.py's opt-in mypyc build: the guard against stale in-place extensions, and how a build tells
whether it is compiled (docs/performance.md, round seven)."""

from __future__ import annotations

import ast
import glob
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import tessera

ROOT = Path(__file__).resolve().parents[2]
SRC = Path(tessera.__file__).resolve().parents[1]


def _manifest(tmp_path: Path, digest: str, inplace: bool = True) -> str:
    path = tmp_path / "_compiled.json"
    modules = {"tessera.version": digest}
    path.write_text(json.dumps({"compiler": "mypyc", "inplace": inplace, "modules": modules}))
    return str(path)


def test_an_inplace_build_of_the_current_sources_runs(tmp_path: Path) -> None:
    digest = hashlib.sha256((SRC / "tessera" / "version.py").read_bytes()).hexdigest()
    tessera.check_inplace_build(_manifest(tmp_path, digest))
    tessera.check_inplace_build(str(tmp_path / "absent.json"))  # a pure build has no manifest


def test_an_inplace_build_of_other_sources_refuses_to_run(tmp_path: Path) -> None:
    with pytest.raises(ImportError, match=r"tessera\.version was built from another version"):
        tessera.check_inplace_build(_manifest(tmp_path, "0" * 64))
    tessera.check_inplace_build(_manifest(tmp_path, "0" * 64, inplace=False))  # a wheel: not checked


def test_the_version_module_says_how_the_build_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tessera.version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith(f"tessera {tessera.__version__} (")
    assert "(pure Python)" in out or "(compiled with mypyc: " in out


def test_every_compiled_pattern_names_sources() -> None:
    tree = ast.parse((ROOT / "setup.py").read_text())
    [listed] = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "COMPILED"
    ]
    assert isinstance(listed, ast.List)
    for pattern in listed.elts:
        assert isinstance(pattern, ast.Constant)
        assert glob.glob(pattern.value, root_dir=ROOT / "src"), pattern.value
