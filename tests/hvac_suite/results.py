"""What one pytest run of several hvac modules said about each module, read from its JUnit XML.

Several modules share one subprocess (one pytest and hvac start-up instead of one per module), so a
failure is traced back to the module it came from here rather than by the exit code alone.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ModuleOutcome:
    """Counts for one module: passed tests, and the node names that failed or errored."""

    passed: int = 0
    failed: list[str] = field(default_factory=list)


def module_prefix(module: str) -> str:
    """JUnit classname prefix of a module path: ``a/b/test_x.py`` -> ``a.b.test_x``."""
    return module.removesuffix(".py").replace("/", ".")


def _owner(classname: str, prefixes: dict[str, str]) -> str | None:
    for prefix, module in prefixes.items():
        if classname == prefix or classname.startswith(prefix + "."):
            return module
    return None


def outcomes(junit_xml: Path, modules: Sequence[str]) -> dict[str, ModuleOutcome]:
    """Per module: passes and failures; tests outside the modules (collection errors) go under ``""``."""
    prefixes = {module_prefix(m): m for m in modules}
    result = {m: ModuleOutcome() for m in modules}
    for case in ET.parse(junit_xml).iter("testcase"):
        # A collection error has no classname; its name is then the module's.
        module = _owner(case.get("classname") or case.get("name", ""), prefixes)
        outcome = result.setdefault(module or "", ModuleOutcome())
        name = "::".join(part for part in (case.get("classname"), case.get("name")) if part)
        if case.find("failure") is not None or case.find("error") is not None:
            outcome.failed.append(name)
        elif case.find("skipped") is None:
            outcome.passed += 1
    return result


def problems(by_module: dict[str, ModuleOutcome]) -> list[str]:
    """One line per module that failed a test or passed none; empty when all is well."""
    lines = []
    for module, outcome in by_module.items():
        if outcome.failed:
            lines.append(f"{module or '(outside the modules)'}: failed {', '.join(outcome.failed)}")
        elif module and outcome.passed == 0:
            lines.append(f"{module}: no test passed")
    return lines
