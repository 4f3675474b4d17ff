"""The shape of src/tessera: no block of six lines written twice, and few functions too long to read at once."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.architecture.graph import SRC

WINDOW = 6  # lines that make a repeated block
LONG = 100  # lines that make a function long
MOST_LONG = 5  # long functions allowed in all of src/


def _sources() -> list[Path]:
    return sorted((SRC / "tessera").rglob("*.py"))


def significant_lines(text: str) -> list[tuple[int, str]]:
    """(line number, stripped text) of each line that carries code: not blank, not a comment, not an import."""
    skip: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            skip.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and number not in skip:
            found.append((number, stripped))
    return found


def repeated_blocks(files: dict[str, str]) -> list[list[str]]:
    """Places where the same WINDOW significant lines stand more than once, each as 'file:line'."""
    seen: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for name, text in files.items():
        lines = significant_lines(text)
        for start in range(len(lines) - WINDOW + 1):
            block = tuple(text for _, text in lines[start : start + WINDOW])
            seen[block].append(f"{name}:{lines[start][0]}")
    return [places for places in seen.values() if len(places) > 1]


def long_functions(files: dict[str, str]) -> list[str]:
    found = []
    for name, text in files.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > LONG:
                    found.append(f"{name}:{node.lineno} {node.name} ({length} lines)")
    return found


def _tree() -> dict[str, str]:
    return {str(path.relative_to(SRC)): path.read_text() for path in _sources()}


def test_no_block_of_six_lines_is_repeated() -> None:
    assert repeated_blocks(_tree()) == []


def test_at_most_five_long_functions() -> None:
    found = long_functions(_tree())
    assert len(found) <= MOST_LONG, "\n".join(found)


def test_the_checks_see_what_they_look_for() -> None:
    block = "".join(f"x{n} = compute({n})\n" for n in range(6))
    files = {"a.py": "import os\n" + block, "b.py": "# other\n\n" + block + "y = 1\n"}
    assert repeated_blocks(files) == [["a.py:2", "b.py:3"]]
    assert repeated_blocks({"a.py": "import os\nimport sys\n", "b.py": "import os\nimport sys\n"}) == []
    body = "".join(f"    v{n} = {n}\n" for n in range(LONG))
    assert long_functions({"f.py": f"def f():\n{body}"}) == ["f.py:1 f (101 lines)"]
